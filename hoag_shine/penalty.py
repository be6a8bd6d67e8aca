"""The l2 penalty with log-scale strengths: scalar, per-feature or grouped."""
import numpy as np

#: largest log-strength whose exponential is a float
MAX_LOG_ALPHA = float(np.log(np.finfo(float).max))


def _exp(log_alpha):
    """``exp(log_alpha)``, refusing strengths that overflow."""
    log_alpha = np.asarray(log_alpha, dtype=float)
    if not np.all(log_alpha <= MAX_LOG_ALPHA):
        raise ValueError(f"log_alpha must be at most {MAX_LOG_ALPHA:.2f} and not NaN "
                         f"(exp(log_alpha) overflows beyond), got {log_alpha}")
    return np.exp(log_alpha)


class L2Penalty:
    """``1/2 sum_j exp(log_alpha[g(j)]) w_j^2`` over the penalised coefficients.

    Each feature ``j`` belongs to a group ``g(j)`` in ``0 .. n_groups - 1``,
    and each group has one log-scale strength. One group for all features is
    the scalar penalty; one group per feature is the per-feature penalty. An
    intercept, when present, is stored last in ``w`` and left unpenalised.

    Parameters
    ----------
    groups : ndarray of int, shape (n_features,)
        Group index of each feature, values in ``0 .. n_groups - 1``.
    n_groups : int
        Number of strengths.
    fit_intercept : bool, default=False
        Whether ``w`` carries an unpenalised intercept as its last entry.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine.penalty import L2Penalty
    >>> pen = L2Penalty.scalar(3)
    >>> float(pen.value(np.ones(3), np.log([2.0])))
    3.0
    """

    def __init__(self, groups, n_groups, fit_intercept=False):
        self.groups = np.asarray(groups, dtype=np.intp)
        self.n_groups = int(n_groups)
        self.fit_intercept = fit_intercept

    @classmethod
    def scalar(cls, n_features, fit_intercept=False):
        """One strength shared by all features.

        Parameters
        ----------
        n_features : int
            Number of features.
        fit_intercept : bool, default=False
            Whether ``w`` carries an unpenalised intercept as its last entry.

        Returns
        -------
        L2Penalty
            Penalty with a single group.
        """
        return cls(np.zeros(n_features, dtype=np.intp), 1, fit_intercept)

    @classmethod
    def per_feature(cls, n_features, fit_intercept=False):
        """One strength per feature.

        Parameters
        ----------
        n_features : int
            Number of features.
        fit_intercept : bool, default=False
            Whether ``w`` carries an unpenalised intercept as its last entry.

        Returns
        -------
        L2Penalty
            Penalty with ``n_features`` groups, feature ``j`` in group ``j``.
        """
        return cls(np.arange(n_features), n_features, fit_intercept)

    def strengths(self, log_alpha):
        """Per-coefficient strengths ``exp(log_alpha[g(j)])``, 0 for the intercept.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_groups,)
            Log-scale strengths, one per group.

        Returns
        -------
        ndarray of shape (n_coef,)
            Strength of each coefficient; ``n_coef`` is ``n_features``, plus
            one for the intercept (strength 0, stored last) when
            ``fit_intercept`` is True.
        """
        alpha = _exp(log_alpha)[self.groups]
        if self.fit_intercept:
            return np.append(alpha, 0.0)
        return alpha

    def value(self, w, log_alpha):
        """Penalty value at ``w``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when ``fit_intercept`` is True.
        log_alpha : ndarray of shape (n_groups,)
            Log-scale strengths, one per group.

        Returns
        -------
        float
            ``1/2 sum_j exp(log_alpha[g(j)]) w_j^2`` (the intercept is not
            penalised).
        """
        return 0.5 * np.dot(self.strengths(log_alpha), w * w)

    def gradient(self, w, log_alpha):
        """Gradient of the penalty with respect to ``w``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when ``fit_intercept`` is True.
        log_alpha : ndarray of shape (n_groups,)
            Log-scale strengths, one per group.

        Returns
        -------
        ndarray of shape (n_coef,)
            ``strengths(log_alpha) * w`` (0 for the intercept).
        """
        return self.strengths(log_alpha) * w

    def cross_vjp(self, w, log_alpha, q):
        """Return ``(d/dlog_alpha grad_w penalty)^T q``, one entry per group.

        The cross derivative of group ``g`` is ``exp(log_alpha_g) w`` restricted
        to the features of the group, so the product with ``q`` sums
        ``w_j q_j`` inside each group.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when ``fit_intercept`` is True.
        log_alpha : ndarray of shape (n_groups,)
            Log-scale strengths, one per group.
        q : ndarray of shape (n_coef,)
            Vector to multiply; its intercept entry, if any, is ignored.

        Returns
        -------
        ndarray of shape (n_groups,)
            ``exp(log_alpha_g) sum_{j in g} w_j q_j`` for each group ``g``.
        """
        n_features = self.groups.shape[0]
        wq = w[:n_features] * q[:n_features]
        return _exp(log_alpha) * np.bincount(
            self.groups, weights=wq, minlength=self.n_groups)
