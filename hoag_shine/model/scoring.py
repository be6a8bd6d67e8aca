"""What the outer loop minimises: the held-out loss that ``scoring`` names.

A *scoring* is an object with a ``name`` (said in progress lines and plots)
and a method ``outer_loss(X, y, n_classes, fit_intercept, sample_weight)``
that builds the summed loss of one split's held-out samples as a
:class:`~hoag_shine.model.datafit.LinearLoss` (whose ``value_and_gradient``,
``gradient`` and ``total_weight`` the hypergradient and the estimator use).
:data:`SCORINGS` holds the built-in ones under scikit-learn's scorer names;
:class:`ProbabilityLoss` makes one from any smooth function of the predicted
probabilities. The score reported (``best_score_``) is minus the mean loss
per held-out sample, the sign and scale of scikit-learn's ``neg_*`` scorers.

Only a loss that is differentiable in the model's probabilities can be
tuned for: the hypergradient is its derivative in the strengths. Accuracy,
precision, F1 or AUC change only when a held-out prediction crosses a
threshold or two samples swap ranks, so their derivative is zero wherever
it exists; :func:`get_scoring` refuses them and says what to use instead.
"""
import numpy as np
from scipy.special import softmax
from sklearn.metrics import get_scorer_names

from .._validation import check_callable
from .datafit import LinearLoss, _drop_zero_weights, make_datafit
from .pointwise import ProbabilityPointwise

#: step of the central differences that check a ProbabilityLoss's gradient
PROBE_STEP = 1e-5
#: relative and absolute (on the scale of 1 + |loss|) agreement they require
PROBE_RTOL, PROBE_ATOL = 1e-4, 1e-6


def brier_loss(Y, P):
    """Brier score of each sample, as :func:`sklearn.metrics.brier_score_loss` scales it.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_classes)
        One-hot labels.
    P : ndarray of shape (n_samples, n_classes)
        Predicted probabilities.

    Returns
    -------
    ndarray of shape (n_samples,)
        ``sum_k (P_ik - Y_ik)^2``, halved for two classes, where it is
        ``(p_i - y_i)^2`` of the positive class alone.
    """
    return _brier_scale(Y) * np.square(P - Y).sum(axis=1)


def brier_gradient(Y, P):
    """Derivative of :func:`brier_loss` in ``P``.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_classes)
        One-hot labels.
    P : ndarray of shape (n_samples, n_classes)
        Predicted probabilities.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        ``2 (P - Y)``, halved for two classes.
    """
    return 2.0 * _brier_scale(Y) * (P - Y)


def _brier_scale(Y):
    return 0.5 if Y.shape[1] == 2 else 1.0


class ProbabilityLoss:
    """A smooth loss of the predicted probabilities, to pass as ``scoring``.

    The held-out loss of a split is ``sum_i s_i loss(Y, P)_i`` over its
    held-out samples, ``s_i`` their weights, ``Y`` the one-hot labels and
    ``P`` the model's probabilities (both with one column per class, in the
    order of ``classes_``, as ``predict_proba`` gives them); the estimator
    reports minus its weighted mean as ``best_score_``. The derivative of the
    loss in ``P`` is needed, since HOAG follows the loss's derivative in the
    strengths; :meth:`check` compares it with finite differences before a
    fit uses it. On process-based joblib backends the two functions are
    pickled: define them at module level.

    Parameters
    ----------
    loss : callable
        ``loss(Y, P)``: an array of shape ``(n_samples,)``, each sample's
        loss (lower is better), from two arrays of shape ``(n_samples,
        n_classes)``.
    gradient : callable
        ``gradient(Y, P)``: the derivative of each sample's loss in its row
        of ``P``, of shape ``(n_samples, n_classes)``. Only its part along
        directions that keep the rows' sum is used (the probabilities sum
        to 1).
    name : str, default="custom loss"
        Name of the loss in progress lines and plots.

    See Also
    --------
    SCORINGS : The built-in scorings; ``"neg_brier_score"`` is a
        ProbabilityLoss of :func:`brier_loss`.

    Examples
    --------
    A Brier score that weighs the errors on the positive class twice:

    >>> import numpy as np
    >>> from hoag_shine import HyperOptimizer, ProbabilityLoss
    >>> def loss(Y, P):
    ...     return np.square(P - Y).sum(axis=1) * (1.0 + Y[:, 1])
    >>> def gradient(Y, P):
    ...     return 2.0 * (P - Y) * (1.0 + Y[:, [1]])
    >>> scoring = ProbabilityLoss(loss, gradient, name="weighted Brier")
    >>> clf = HyperOptimizer(scoring=scoring)
    """

    def __init__(self, loss, gradient, *, name="custom loss"):
        self.loss = loss
        self.gradient = gradient
        self.name = name

    def __repr__(self):
        return f"ProbabilityLoss(name={self.name!r})"

    def check(self, n_classes):
        """Refuse functions of the wrong kind or a gradient that is not the loss's.

        They are evaluated on ``2 n_classes`` samples at probabilities
        inside the simplex; the derivative along directions that keep each
        row's sum must match central differences of the loss.

        Parameters
        ----------
        n_classes : int
            Number of classes of the fit.

        Raises
        ------
        TypeError
            When ``loss`` or ``gradient`` is not callable, or ``name`` not a
            string.
        ValueError
            When they return arrays of the wrong shape, values that are not
            finite, or a gradient that disagrees with the loss.
        """
        check_callable("scoring's loss", self.loss, allow_none=False)
        check_callable("scoring's gradient", self.gradient, allow_none=False)
        if not isinstance(self.name, str):
            raise TypeError(f"scoring's name must be a string, got {self.name!r}")
        Y, P, D = _probe(n_classes)
        value = self._values("loss", Y, P, (Y.shape[0],))
        slope = np.sum(self._values("gradient", Y, P, Y.shape) * D, axis=1)
        h = PROBE_STEP
        fd = (self._values("loss", Y, P + h * D, (Y.shape[0],))
              - self._values("loss", Y, P - h * D, (Y.shape[0],))) / (2 * h)
        bad = np.abs(fd - slope) > PROBE_RTOL * np.abs(fd) + PROBE_ATOL * (1 + np.abs(value))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"scoring's gradient is not the derivative of its loss ({self.name}): "
                f"along a direction inside the simplex, at probabilities {P[i].round(3)} "
                f"of label {int(Y[i].argmax())}, it gives {slope[i]:.6g} where central "
                f"differences of the loss give {fd[i]:.6g}")

    def _values(self, which, Y, P, shape):
        """``loss(Y, P)`` or ``gradient(Y, P)`` as a float array of ``shape``, checked."""
        out = np.asarray(getattr(self, which)(Y.copy(), P.copy()), dtype=float)
        if out.shape != shape:
            raise ValueError(f"scoring's {which} must return an array of shape {shape} "
                             f"for arrays Y and P of shape {Y.shape}, got {out.shape}")
        if not np.all(np.isfinite(out)):
            raise ValueError(f"scoring's {which} returned values that are not finite at "
                             "probabilities inside the simplex")
        return out

    def outer_loss(self, X, y, n_classes, fit_intercept=False, sample_weight=None):
        """Summed loss of the held-out samples ``(X, y)``, checked first.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Held-out design matrix.
        y : ndarray of int, shape (n_samples,)
            Class index of each sample.
        n_classes : int
            Number of classes.
        fit_intercept : bool, default=False
            Whether the model has intercepts.
        sample_weight : ndarray of shape (n_samples,), optional
            Weight of each sample's loss (samples of weight 0 are dropped).

        Returns
        -------
        LinearLoss
            The outer loss, with a value and a gradient.
        """
        self.check(n_classes)
        X, y, sample_weight = _drop_zero_weights(X, y, sample_weight)
        pointwise = ProbabilityPointwise(y, n_classes, self.loss, self.gradient)
        return LinearLoss(X, pointwise, fit_intercept, sample_weight)


def _probe(n_classes):
    """One-hot labels, interior probabilities and row-sum-keeping directions."""
    n = 2 * n_classes
    i, k = np.meshgrid(np.arange(n), np.arange(n_classes), indexing="ij")
    Y = np.eye(n_classes)[np.arange(n) % n_classes]
    P = softmax(np.cos(1.3 * i + 2.1 * k), axis=1)
    D = np.sin(0.7 * i + 1.1 * k)
    return Y, P, D - D.mean(axis=1, keepdims=True)


class _LogLoss:
    """The logistic loss of the training problem, on held-out samples."""

    name = "log-loss"

    def __repr__(self):
        return "LogLoss()"

    def outer_loss(self, X, y, n_classes, fit_intercept=False, sample_weight=None):
        return make_datafit(X, y, n_classes, fit_intercept, sample_weight)


#: the built-in scorings, by scikit-learn's scorer names: the log-loss (the
#: default) and the Brier score, with scikit-learn's scaling of it (the
#: positive class alone for two classes); both are weighted by the sample
#: weights and class weights of the fit
SCORINGS = {
    "neg_log_loss": _LogLoss(),
    "neg_brier_score": ProbabilityLoss(brier_loss, brier_gradient, name="Brier score"),
}

#: scikit-learn scorers that are affine functions of a built-in loss on one split
_AFFINE = {"d2_log_loss_score": "neg_log_loss", "d2_brier_score": "neg_brier_score"}

_INSTEAD = ("use a smooth loss of the predicted probabilities: scoring='neg_log_loss' or "
            "'neg_brier_score' (weighted by sample_weight or class_weight where some "
            "errors matter more), or a hoag_shine.ProbabilityLoss of your own")


def get_scoring(scoring):
    """The scoring object named by ``scoring``; non-differentiable scorers refused.

    Parameters
    ----------
    scoring : str, ProbabilityLoss or None
        A key of :data:`SCORINGS`, None for ``"neg_log_loss"``, or a
        :class:`ProbabilityLoss`.

    Returns
    -------
    object
        The scoring: its ``name`` and ``outer_loss(X, y, n_classes,
        fit_intercept, sample_weight)``.

    Raises
    ------
    ValueError
        For another scikit-learn scorer name (saying why it cannot be
        followed and what to use instead) or an unknown string.
    TypeError
        For any other object, a scorer callable included (it gives a score,
        not the derivative HOAG follows).
    """
    if scoring is None:
        return SCORINGS["neg_log_loss"]
    if isinstance(scoring, ProbabilityLoss):
        return scoring
    if not isinstance(scoring, str):
        raise TypeError(
            f"scoring must be one of {sorted(SCORINGS)} or a hoag_shine.ProbabilityLoss, "
            f"got {scoring!r}: a scorer callable returns the score's value only, and "
            "HOAG follows its derivative in the strengths; wrap a smooth loss of the "
            "predicted probabilities and its gradient in a ProbabilityLoss")
    if scoring in SCORINGS:
        return SCORINGS[scoring]
    if scoring in _AFFINE:
        raise ValueError(
            f"scoring={scoring!r} is an affine function of the loss that "
            f"scoring={_AFFINE[scoring]!r} minimises, normalised on each split: pass "
            f"scoring={_AFFINE[scoring]!r}")
    if scoring in get_scorer_names():
        raise ValueError(
            f"scoring={scoring!r} cannot be tuned by HOAG: it scores predicted labels or "
            "the ranking of the samples, which change only when a held-out prediction "
            "crosses a threshold or two samples swap places, so its derivative in the "
            f"strengths is zero wherever it exists and gives no direction; {_INSTEAD}. "
            f"To select the strength on {scoring!r} itself, search a grid "
            f"(LogisticRegressionCV(scoring={scoring!r}))")
    raise ValueError(f"scoring must be one of {sorted(SCORINGS)} or a "
                     f"hoag_shine.ProbabilityLoss, got {scoring!r}")
