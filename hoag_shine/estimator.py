"""HyperOptimizer: l2-regularised logistic regression whose strengths are tuned by HOAG."""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedShuffleSplit, check_cv
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data
from scipy.special import expit

from ._validation import SPARSE_FORMATS, check_hyper
from .criterion import HeldOutCriterion
from .datafit import LogisticLoss
from .initial import get_initial_matrix
from .inner import InnerProblem
from .lbfgs import minimize_lbfgs
from .methods import METHODS, HypergradientMethod, get_method
from .outer import TOLERANCE_SCHEDULES, hoag

#: relative inner tolerance of the final refit
REFIT_TOL = 1e-8
#: largest |log(alpha)| accepted in lambda_bounds: exp(100) ~ 3e43 is far past
#: any useful strength, and the bound keeps every product with w finite
MAX_ABS_BOUND = 100.0


class HyperOptimizer(ClassifierMixin, BaseEstimator):
    """Logistic regression with l2 strengths chosen by gradient-based bi-level optimization.

    The strengths minimise the logistic loss on held-out data (one
    validation split, or the sum over cross-validation folds) of the model
    trained on the rest. HOAG follows the hypergradient of that loss, obtained
    by implicit differentiation with the backward pass given by ``method``.
    The training loss is summed over samples: ``alpha`` corresponds to
    ``1 / C`` in :class:`sklearn.linear_model.LogisticRegression`.

    Parameters
    ----------
    method : str or HypergradientMethod, default="shine"
        Backward pass: "shine" (the inner L-BFGS inverse-Hessian estimate),
        "shine-opa" (SHINE with outer-problem-aware extra secant updates),
        "shine-refine" (a few CG steps from the SHINE estimate), "shine-pcg"
        (CG preconditioned by it), "cg" (HOAG's conjugate gradient),
        "jacobian-free" (identity) or "exact" (dense solve, small problems);
        or a method object of :mod:`hoag_shine.methods`, whose own settings
        then replace ``opa_freq`` and ``backward_max_iter``.
    regularization : "scalar", "per-feature" or array-like of shape (n_features,)
        One strength, one per feature, or one per group given by an integer
        label per feature.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept.
    max_iter : int, default=30
        Maximum number of outer iterations (evaluations of the outer loss).
    tol : float, default=1e-4
        Stop when an outer step changes ``log(alpha)`` by less than ``tol``.
    lambda_init : float or array-like, default=0.0
        Initial ``log(alpha)`` (a scalar is broadcast to every strength).
    lambda_bounds : (float, float), default=(-12.0, 12.0)
        Box on ``log(alpha)``.
    tolerance_init : float, default=1e-3
        Initial tolerance ``eps_0``: the inner solves stop at ``eps_k`` times
        the initial gradient norm, and CG-based backward passes at relative
        residual ``eps_k``.
    tolerance_decrease : {"exponential", "quadratic", "cubic", "constant"}, default="exponential"
        Schedule of the inner tolerance.
    tolerance_factor : float, default=0.9
        Factor of the exponential schedule.
    memory_size : int, default=None
        L-BFGS memory; None takes the method's default (10 for cg,
        jacobian-free and exact, 30 for the SHINE variants, 60 for OPA).
    warm_start_memory : bool, default=True
        Carry the L-BFGS memory from one outer step to the next.
    opa_freq : int or "decreasing", default=5
        Inner iterations between OPA updates (method "shine-opa");
        "decreasing" makes it ``max_iter - k`` at outer iteration ``k``, the
        schedule of the SHINE paper's code.
    backward_max_iter : int, default=None
        CG iteration cap of the CG-based methods (shine-refine: 5).
    inner_max_iter : int, default=1000
        Inner iteration cap.
    validation_fraction : float, default=0.25
        Fraction held out for the outer loss when ``cv`` is None.
    cv : int, cross-validation splitter or iterable, default=None
        When given, the outer loss is the sum of the folds' held-out losses.
    n_jobs : int, default=None
        Number of joblib workers evaluating the folds in parallel; None or 1
        (or a single split) evaluates them in turn.
    refit : bool, default=True
        Refit on all of ``X`` at the chosen strengths. Otherwise ``coef_`` is
        the inner solution of the split (averaged over folds with ``cv``).
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split (``cv=None``).
    verbose : int, default=0
        Print a line per outer iteration when positive.
    callback : callable, default=None
        ``callback(state)`` after every outer iteration; ``state`` is a dict
        with the history record plus ``coef`` and ``intercept``. Returning
        True stops the optimisation.
    initial_matrix : {"auto", "gamma", "hessian-diagonal"} or callable, default="auto"
        Initial matrix of the inner L-BFGS two-loop recursion, used by the
        inner solver's steps and by the SHINE inverse estimate: ``gamma I``
        (``gamma = s^T y / y^T y`` of the newest pair), or the inverse
        Hessian diagonal ``(diag(X^T D X) + alpha)^{-1}`` at the current
        iterate; "auto" takes the diagonal with per-feature or grouped
        strengths and ``gamma I`` with one strength (see
        :ref:`choosing-initial-matrix`). A callable is a factory as
        :func:`get_initial_matrix` describes.

    Attributes
    ----------
    log_alpha_ : ndarray of shape (n_hyper,)
        Chosen ``log(alpha)``.
    alpha_ : ndarray of shape (n_hyper,)
        Chosen strengths.
    coef_ : ndarray of shape (1, n_features)
        Coefficients.
    intercept_ : ndarray of shape (1,)
        Intercept (0 when not fitted).
    classes_ : ndarray of shape (2,)
        Class labels; ``classes_[1]`` is the positive class.
    n_iter_ : int
        Number of outer iterations (evaluations of the outer loss, rejected
        steps included).
    history_ : list of dict
        One record per outer iteration: ``iteration``, ``time`` (cumulative
        seconds, the callback excluded), ``log_alpha``, ``outer_loss``, ``grad``,
        ``accepted``, ``tolerance``, ``n_inner_iter``, ``n_grad_evals``,
        ``n_hvp``, ``time_forward``, ``time_backward``.
    n_features_in_ : int
        Number of features seen during fit.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from hoag_shine import HyperOptimizer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = HyperOptimizer(random_state=0).fit(X, y)
    >>> bool(clf.score(X, y) > 0.95)
    True
    """

    def __init__(self, method="shine", *, regularization="scalar", fit_intercept=True,
                 max_iter=30, tol=1e-4, lambda_init=0.0, lambda_bounds=(-12.0, 12.0),
                 tolerance_init=1e-3, tolerance_decrease="exponential",
                 tolerance_factor=0.9, memory_size=None, warm_start_memory=True,
                 opa_freq=5, backward_max_iter=None, inner_max_iter=1000,
                 validation_fraction=0.25, cv=None, n_jobs=None, refit=True,
                 random_state=None, verbose=0, callback=None, initial_matrix="auto"):
        self.method = method
        self.regularization = regularization
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.lambda_init = lambda_init
        self.lambda_bounds = lambda_bounds
        self.tolerance_init = tolerance_init
        self.tolerance_decrease = tolerance_decrease
        self.tolerance_factor = tolerance_factor
        self.memory_size = memory_size
        self.warm_start_memory = warm_start_memory
        self.opa_freq = opa_freq
        self.backward_max_iter = backward_max_iter
        self.initial_matrix = initial_matrix
        self.inner_max_iter = inner_max_iter
        self.validation_fraction = validation_fraction
        self.cv = cv
        self.n_jobs = n_jobs
        self.refit = refit
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = True
        return tags

    # -- validation --------------------------------------------------------

    def _check_params(self):
        if not (isinstance(self.method, HypergradientMethod)
                or (isinstance(self.method, str) and self.method in METHODS)):
            raise ValueError(f"method must be one of {sorted(METHODS)} or a "
                             f"HypergradientMethod, got {self.method!r}")
        _check_int("max_iter", self.max_iter, 1)
        _check_int("inner_max_iter", self.inner_max_iter, 1)
        if not (isinstance(self.opa_freq, str) and self.opa_freq == "decreasing"):
            _check_int("opa_freq", self.opa_freq, 1)
        if self.memory_size is not None:
            _check_int("memory_size", self.memory_size, 1)
        if self.backward_max_iter is not None:
            _check_int("backward_max_iter", self.backward_max_iter, 0)
        get_initial_matrix(self.initial_matrix)
        _check_positive("tol", self.tol, allow_zero=True)
        _check_positive("tolerance_init", self.tolerance_init)
        if self.tolerance_decrease not in TOLERANCE_SCHEDULES:
            raise ValueError(f"tolerance_decrease must be one of "
                             f"{sorted(TOLERANCE_SCHEDULES)}, got {self.tolerance_decrease!r}")
        if not (isinstance(self.tolerance_factor, numbers.Real)
                and 0 < self.tolerance_factor <= 1):
            raise ValueError(f"tolerance_factor must be in (0, 1], got {self.tolerance_factor!r}")
        bounds = np.asarray(self.lambda_bounds, dtype=float) \
            if _is_pair(self.lambda_bounds) else None
        if bounds is None or not np.all(np.abs(bounds) <= MAX_ABS_BOUND) \
                or bounds[0] >= bounds[1]:
            raise ValueError(f"lambda_bounds must be two numbers (low, high) in "
                             f"[-{MAX_ABS_BOUND:g}, {MAX_ABS_BOUND:g}] with low < high, "
                             f"got {self.lambda_bounds!r}")
        if self.cv is None and not (isinstance(self.validation_fraction, numbers.Real)
                                    and 0 < self.validation_fraction < 1):
            raise ValueError("validation_fraction must be in (0, 1), got "
                             f"{self.validation_fraction!r}")
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable, got {self.callback!r}")
        return bounds

    def _groups(self, n_features):
        reg = self.regularization
        if isinstance(reg, str):
            if reg == "scalar":
                return None, 1
            if reg == "per-feature":
                return "per-feature", n_features
            raise ValueError("regularization must be 'scalar', 'per-feature' or an array "
                             f"of group labels, got {reg!r}")
        if reg is None or np.ndim(reg) != 1:
            raise ValueError("regularization must be 'scalar', 'per-feature' or a 1-d array "
                             f"of group labels, got {reg!r}")
        _, groups = check_hyper(0.0, reg, n_features)
        return groups, int(groups.max()) + 1

    def _splits(self, X, y):
        if self.cv is None:
            splitter = StratifiedShuffleSplit(
                n_splits=1, test_size=self.validation_fraction,
                random_state=check_random_state(self.random_state))
        else:
            splitter = check_cv(self.cv, y, classifier=True)
        splits = list(splitter.split(X, y))
        for i, (train, test) in enumerate(splits):
            for part, idx in (("training", train), ("held-out", test)):
                if np.unique(y[idx]).shape[0] < 2:
                    raise ValueError(
                        f"the {part} part of split {i} holds a single class; both classes "
                        "are needed on each side (more samples, another cv or "
                        "validation_fraction)")
        return splits

    # -- fitting -----------------------------------------------------------

    def fit(self, X, y):
        """Choose the strengths by HOAG and fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Two-class labels.

        Returns
        -------
        HyperOptimizer
            The fitted estimator (``self``).
        """
        bounds = self._check_params()
        X, y = validate_data(self, X, y, accept_sparse=SPARSE_FORMATS,
                             dtype=np.float64)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y")
        if y_type != "binary":
            raise ValueError("Only binary classification is supported. The type of "
                             f"the target is {y_type}.")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if self.classes_.shape[0] < 2:
            raise ValueError(f"y holds one class ({self.classes_[0]!r}); "
                             "HyperOptimizer needs samples of two classes")
        y_pm = np.where(y_index == 1, 1.0, -1.0)
        groups, n_hyper = self._groups(X.shape[1])
        lam0 = np.broadcast_to(np.asarray(self.lambda_init, dtype=float), (n_hyper,)) \
            if np.ndim(self.lambda_init) == 0 else np.asarray(self.lambda_init, dtype=float)
        if lam0.shape != (n_hyper,) or not np.all(np.isfinite(lam0)):
            raise ValueError(f"lambda_init must be finite, a scalar or {n_hyper} values, "
                             f"got {self.lambda_init!r}")
        method = get_method(self.method, max_iter=self.backward_max_iter,
                            freq=self.opa_freq)
        folds = [(InnerProblem.from_data(X[tr], y_pm[tr], groups, self.fit_intercept),
                  LogisticLoss(X[te], y_pm[te], self.fit_intercept))
                 for tr, te in self._splits(X, y_pm)]
        criterion = HeldOutCriterion(
            folds, method, memory_size=self.memory_size,
            max_inner_iter=self.inner_max_iter,
            warm_start_memory=self.warm_start_memory, n_jobs=self.n_jobs,
            initial_matrix=self.initial_matrix)
        result = hoag(criterion, lam0.copy(), max_iter=self.max_iter, tol=self.tol,
                      bounds=tuple(bounds), tolerance_init=self.tolerance_init,
                      tolerance_decrease=self.tolerance_decrease,
                      tolerance_factor=self.tolerance_factor, callback=self.callback,
                      verbose=self.verbose)
        _warn_if_gave_up(result, bounds)
        self.log_alpha_ = result.log_alpha
        self.alpha_ = np.exp(result.log_alpha)
        self.n_iter_ = result.n_iter
        self.history_ = result.history
        if self.refit:
            w = self._refit(X, y_pm, groups, result)
        else:
            w = np.mean([r.w for r in result.results], axis=0)
        n_features = X.shape[1]
        self.coef_ = w[:n_features].reshape(1, -1)
        self.intercept_ = np.array([w[-1] if self.fit_intercept else 0.0])
        return self

    def _refit(self, X, y_pm, groups, result):
        problem = InnerProblem.from_data(X, y_pm, groups, self.fit_intercept)
        w0 = np.mean([r.w for r in result.results], axis=0)
        fun = problem.fun_and_grad(result.log_alpha)
        g0 = fun(np.zeros(problem.n_coef))[1]
        return minimize_lbfgs(fun, w0, m=10, tol=REFIT_TOL * np.linalg.norm(g0),
                              max_iter=self.inner_max_iter).x

    # -- prediction --------------------------------------------------------

    def decision_function(self, X):
        """Signed distance to the separating hyperplane (positive: ``classes_[1]``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``X @ coef_ + intercept_``; positive values predict ``classes_[1]``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=SPARSE_FORMATS, dtype=np.float64,
                          reset=False)
        return np.asarray(X @ self.coef_[0]).ravel() + self.intercept_[0]

    def predict_proba(self, X):
        """Class probabilities, columns ordered as ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Probabilities of ``classes_[0]`` and ``classes_[1]``; each row
            sums to 1.
        """
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed without underflow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Logarithms of the probabilities of ``classes_[0]`` and
            ``classes_[1]``.
        """
        z = self.decision_function(X)
        return np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``classes_[1]`` where the decision function is positive,
            ``classes_[0]`` elsewhere.
        """
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


def _warn_if_gave_up(result, bounds):
    """ConvergenceWarning for the ways a HOAG run can end short of an optimum."""
    reasons = []
    lam = result.log_alpha
    for side, value in (("lower", bounds[0]), ("upper", bounds[1])):
        hit = np.isclose(lam, value)
        if hit.any():
            reasons.append(f"{hit.sum()} of {lam.shape[0]} log(alpha) stopped at the "
                           f"{side} bound {value:g}; widen lambda_bounds if the held-out "
                           "loss keeps improving there")
    if result.history and not any(r["accepted"] for r in result.history[1:]) \
            and len(result.history) > 1:
        reasons.append("every step after the first was rejected (the outer loss did not "
                       "decrease); the strengths stayed at lambda_init")
    for r in result.results:
        if not r.inner.success:
            reasons.append("the inner solver did not reach its tolerance at the final "
                           f"strengths ({r.inner.message}); raise inner_max_iter or "
                           "loosen tolerance_init")
            break
    for reason in reasons:
        warnings.warn(f"HyperOptimizer: {reason}.", ConvergenceWarning, stacklevel=3)


def _is_pair(value):
    try:
        return len(value) == 2
    except TypeError:
        return False


def _check_int(name, value, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_positive(name, value, allow_zero=False):
    ok = isinstance(value, numbers.Real) and np.isfinite(value) and (
        value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"finite number, got {value!r}")
