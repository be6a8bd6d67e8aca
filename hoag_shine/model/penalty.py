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
    """``1/2 sum_j exp(log_alpha[g(j)]) ||W_j||^2`` over the penalised coefficients.

    Each feature ``j`` belongs to a group ``g(j)`` in ``0 .. n_groups - 1``,
    and each group has one log-scale strength. One group for all features is
    the scalar penalty; one group per feature is the per-feature penalty.
    With ``K`` outputs (multinomial), the ``K`` coefficients ``W_j`` of
    feature ``j`` share its strength (the layout of
    :mod:`hoag_shine.model.datafit`: they are contiguous in ``w``). Intercepts,
    when present, are stored last in ``w`` and left unpenalised.

    Parameters
    ----------
    groups : ndarray of int, shape (n_features,)
        Group index of each feature, values in ``0 .. n_groups - 1``.
    n_groups : int
        Number of strengths.
    fit_intercept : bool, default=False
        Whether ``w`` carries unpenalised intercepts as its last entries.
    n_outputs : int, default=1
        Number of outputs ``K`` (classes of a multinomial model, 1 for
        binary).

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine.model.penalty import L2Penalty
    >>> pen = L2Penalty.scalar(3)
    >>> float(pen.value(np.ones(3), np.log([2.0])))
    3.0
    """

    def __init__(self, groups, n_groups, fit_intercept=False, n_outputs=1):
        self.groups = np.asarray(groups, dtype=np.intp)
        self.n_groups = int(n_groups)
        self.fit_intercept = fit_intercept
        self.n_outputs = int(n_outputs)

    @classmethod
    def scalar(cls, n_features, fit_intercept=False, n_outputs=1):
        """One strength shared by all features.

        Parameters
        ----------
        n_features : int
            Number of features.
        fit_intercept : bool, default=False
            Whether ``w`` carries unpenalised intercepts as its last entries.
        n_outputs : int, default=1
            Number of outputs ``K``.

        Returns
        -------
        L2Penalty
            Penalty with a single group.
        """
        return cls(np.zeros(n_features, dtype=np.intp), 1, fit_intercept, n_outputs)

    @classmethod
    def per_feature(cls, n_features, fit_intercept=False, n_outputs=1):
        """One strength per feature.

        Parameters
        ----------
        n_features : int
            Number of features.
        fit_intercept : bool, default=False
            Whether ``w`` carries unpenalised intercepts as its last entries.
        n_outputs : int, default=1
            Number of outputs ``K``.

        Returns
        -------
        L2Penalty
            Penalty with ``n_features`` groups, feature ``j`` in group ``j``.
        """
        return cls(np.arange(n_features), n_features, fit_intercept, n_outputs)

    def strengths(self, log_alpha):
        """Per-coefficient strengths ``exp(log_alpha[g(j)])``, 0 for the intercept.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_groups,)
            Log-scale strengths, one per group.

        Returns
        -------
        ndarray of shape (n_coef,)
            Strength of each coefficient; ``n_coef`` is ``(n_features +
            fit_intercept) K``, the intercepts (strength 0) stored last.
        """
        alpha = _exp(log_alpha)[self.groups]
        K = self.n_outputs
        if K > 1:
            alpha = np.repeat(alpha, K)
        if self.fit_intercept:
            return np.concatenate([alpha, np.zeros(K)])
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
        to the coefficients of the group's features, so the product with
        ``q`` sums ``w_j q_j`` over them.

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
        n_penalised = self.groups.shape[0] * self.n_outputs
        wq = w[:n_penalised] * q[:n_penalised]
        if self.n_outputs > 1:
            wq = wq.reshape(-1, self.n_outputs).sum(axis=1)
        return _exp(log_alpha) * np.bincount(
            self.groups, weights=wq, minlength=self.n_groups)
