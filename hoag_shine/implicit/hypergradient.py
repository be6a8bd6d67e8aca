"""The hypergradient of the outer loss by implicit differentiation.

``dL/dlog_alpha = -(d/dlog_alpha grad_w h)^T q`` with ``q ~ H^{-1} grad g(w*)``;
the methods of :mod:`hoag_shine.implicit.methods` differ only in how they obtain ``q``.
"""
from dataclasses import dataclass, field
from time import perf_counter

import numpy as np
from scipy.optimize import OptimizeResult

from ..solver.initial import (ScaledIdentity, get_initial_matrix, gradient_norm,
                              solver_metric, step_norm)
from ..model.problem import InnerProblem
from ..solver.lbfgs import minimize_lbfgs
from .methods import get_method
from ..model.scoring import get_scoring
from .._validation import (check_bool, check_hyper, check_hypergradient_params,
                           check_sample_weight, check_training_pair,
                           check_weighted_classes)

#: bytes an L-BFGS memory of the default size may take: the default memory
#: size is lowered to ``max(MIN_DEFAULT_MEMORY, DEFAULT_MEMORY_BYTES // (16
#: n_coef))`` pairs when the method's default would take more (2 vectors of
#: n_coef floats per pair); a 20-class model of 20 newsgroups' 130,107
#: features then keeps 25 pairs, 1 GiB, instead of 30 or 60
DEFAULT_MEMORY_BYTES = 2 ** 30
#: fewest pairs the byte cap leaves in a default memory
MIN_DEFAULT_MEMORY = 3


def default_memory_size(method, n_coef):
    """The L-BFGS memory size used when none is given.

    Parameters
    ----------
    method : HypergradientMethod
        Its ``default_memory`` is the size on problems of moderate size.
    n_coef : int
        Length of the coefficient vector.

    Returns
    -------
    int
        ``method.default_memory``, capped so that the pairs take at most
        :data:`DEFAULT_MEMORY_BYTES` (but never fewer than
        :data:`MIN_DEFAULT_MEMORY` pairs).
    """
    cap = max(MIN_DEFAULT_MEMORY, DEFAULT_MEMORY_BYTES // (16 * max(n_coef, 1)))
    return min(method.default_memory, cap)


@dataclass
class HypergradientResult:
    """Outcome of one forward (inner solve) and backward (hypergradient) pass.

    Attributes
    ----------
    grad : ndarray of shape (n_hyper,)
        Hypergradient estimate with respect to the log-scale strengths.
    outer_loss : float
        Outer loss ``g(w)`` at the inner solution.
    w : ndarray of shape (n_coef,)
        Inner solution, flat (intercepts last when fitted; see
        :mod:`hoag_shine.model.datafit` for the layout of several classes).
    coef : ndarray of shape (n_features,) or (n_classes, n_features)
        Inner solution without the intercept: a vector for binary problems,
        one row per class for multinomial ones.
    intercept : float or ndarray of shape (n_classes,)
        Fitted intercept(s) (0 when not fitted).
    q : ndarray of shape (n_coef,)
        Approximation of ``H^{-1} grad g(w)`` used.
    inner : scipy.optimize.OptimizeResult
        Result of :func:`minimize_lbfgs` (memory and inverse estimate included).
    loss_correction : float
        First-order estimate of the outer loss's inexactness,
        ``q^T grad_w h(w) ~ g(w) - g(w*)``: ``w - w* ~ H^{-1} grad_w h(w)``
        (one Newton step), so ``g(w*) ~ g(w) - q^T grad_w h(w)``. It is 0 when
        the inner solve is exact.
    loss_uncertainty : float
        Size of the error of ``outer_loss - loss_correction`` as an estimate
        of ``g(w*)``: ``|q^T grad_w h(w)| + ||H q - grad g(w)|| ||B grad_w
        h(w)||``, the two norms of the second term dual in the inner
        solver's metric (``||.||_m`` and ``||.||_{1/m}``, Euclidean without
        one). The second term bounds, by Cauchy-Schwarz, the part of the
        first-order term that an inexact ``q`` misses (``(q - q*)^T grad_w h
        = (H q - grad g)^T H^{-1} grad_w h``), with the inner solver's next
        step ``B grad_w h`` standing for ``H^{-1} grad_w h``: small for a
        ``q`` solved by CG, as large as the correction itself, or larger, for
        the L-BFGS estimates, whose corrected losses it describes honestly.
    n_inner_iter, n_grad_evals, n_hvp : int
        Work counters: inner iterations, inner gradient evaluations (OPA's
        extra ones included) and Hessian-vector products of the backward pass.
    time_forward, time_backward : float
        Seconds spent in the inner solve and in the backward pass.
    """

    grad: np.ndarray
    outer_loss: float
    w: np.ndarray
    coef: np.ndarray
    intercept: float
    q: np.ndarray
    inner: OptimizeResult = field(repr=False)
    loss_correction: float = 0.0
    loss_uncertainty: float = 0.0
    n_inner_iter: int = 0
    n_grad_evals: int = 0
    n_hvp: int = 0
    time_forward: float = 0.0
    time_backward: float = 0.0

    @property
    def finite(self):
        """True when the outer loss and the hypergradient are finite."""
        return bool(np.isfinite(self.outer_loss) and np.all(np.isfinite(self.grad)))


def solve_and_differentiate(problem, outer, log_alpha, method, *, w0=None,
                            memory=None, inner_tol=1e-8, inner_max_iter=1000,
                            memory_size=None, q0=None, backward_tol=None,
                            outer_step=None, warn=True, initial_matrix="auto"):
    """Solve the inner problem at ``log_alpha`` and estimate the hypergradient.

    This is the routine shared by :func:`hypergradient` and the HOAG outer
    loop; it validates nothing.

    Parameters
    ----------
    problem : InnerProblem
        Inner (training) problem.
    outer : LinearLoss
        Outer loss on the outer (validation) data.
    log_alpha : ndarray of shape (n_hyper,)
        Log-scale strengths.
    method : HypergradientMethod
        How ``q`` is obtained.
    w0 : ndarray, optional
        Inner starting point (zeros by default).
    memory : LBFGSMemory, optional
        L-BFGS memory to warm-start the inner solver from.
    inner_tol : float, default=1e-8
        Absolute gradient-norm tolerance of the inner solve (in the initial
        matrix's metric, if any).
    inner_max_iter : int, default=1000
        Inner iteration cap.
    memory_size : int, optional
        L-BFGS memory size (default: :func:`default_memory_size`).
    q0 : ndarray, optional
        Warm start of iterative backward solvers.
    backward_tol : float, optional
        Relative tolerance of iterative backward solvers, overriding the
        method's own.
    outer_step : tuple of int, optional
        ``(iteration, max_iter)`` of the outer loop, for methods whose
        forward pass follows it (OPA's "decreasing" schedule).
    warn : bool, default=True
        Let the inner solver warn when it stops short of ``inner_tol``.
    initial_matrix : str or callable, default="auto"
        Initial matrix of the L-BFGS two-loop recursion, used by the inner
        solver's steps and by the inverse estimate it exposes: a key of
        :data:`INITIAL_MATRICES` or a factory, see :func:`get_initial_matrix`.

    Returns
    -------
    HypergradientResult
        Inner solution, outer loss, hypergradient and work counters.
    """
    start = perf_counter()
    m = default_memory_size(method, problem.n_coef) if memory_size is None else memory_size
    w0 = np.zeros(problem.n_coef) if w0 is None else w0
    inner = minimize_lbfgs(problem.fun_and_grad(log_alpha), w0, memory_size=m,
                           tol=inner_tol, max_iter=inner_max_iter, memory=memory,
                           extra_secant=method.forward_hook(outer.gradient, outer_step),
                           warn=warn,
                           initial_matrix=get_initial_matrix(initial_matrix)(problem, log_alpha))
    middle = perf_counter()
    w = inner.x
    outer_loss, v = outer.value_and_gradient(w)
    hessian = problem.hessian_operator(w, log_alpha)
    q, n_hvp = method.solve(hessian, v, inner.inverse_hessian, q0, backward_tol)
    grad = -problem.cross_vjp(w, log_alpha, q)
    correction = float(np.dot(q, inner.grad))
    uncertainty = abs(correction) + _missed_correction(hessian, q, v, inner)
    end = perf_counter()
    coef, intercept = problem.split_coef(w)
    return HypergradientResult(
        grad=grad, outer_loss=float(outer_loss), w=w, coef=coef, intercept=intercept,
        q=q, inner=inner,
        loss_correction=correction, loss_uncertainty=uncertainty,
        n_inner_iter=inner.n_iter, n_grad_evals=inner.nfev, n_hvp=n_hvp,
        time_forward=middle - start, time_backward=end - middle)


def _missed_correction(hessian, q, v, inner):
    """``||H q - v||_m ||B grad_w h||_{1/m}``: the first-order term an inexact ``q`` may miss.

    A bound on ``|(H q - v)^T H^{-1} grad_w h|`` with ``B`` for ``H^{-1}``,
    in the dual norms of the inner solver's metric (``||r||_m ||s||_{1/m}``
    with the metric ``m`` of its initial matrix, Euclidean without one), so
    that it does not change when the variables are rescaled with the
    metric. One Hessian-vector product and one two-loop recursion; 0 when
    the inner gradient vanishes. Not finite values are returned as they are
    (the outer loop rejects such points).
    """
    if not np.any(inner.grad):
        return 0.0
    residual = hessian.matvec(q) - v
    step = inner.inverse_hessian.matvec(inner.grad)
    return gradient_norm(inner.memory.initial, residual) * step_norm(inner.memory.initial, step)


def hypergradient(X, y, X_val, y_val, log_alpha, *, method="shine", groups=None,
                  fit_intercept=False, inner_tol=1e-10, inner_max_iter=10000,
                  memory_size=None, opa_freq=None, backward_tol=1e-10,
                  backward_max_iter=None, w0=None, initial_matrix="auto",
                  sample_weight=None, sample_weight_val=None, scoring="neg_log_loss"):
    """Hypergradient of the validation loss in the log-scale strengths.

    Solves ``w* = argmin_w sum_i s_i l(y_i, z_i(w)) + 1/2 sum_j
    exp(log_alpha_g(j)) ||W_j||^2`` on ``(X, y)``, ``l`` the logistic loss
    for two classes and the multinomial one for more, and differentiates the
    summed loss of ``w*`` on ``(X_val, y_val)`` (the logistic loss, or the
    one ``scoring`` names) by implicit differentiation.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Training data.
    y : array-like of shape (n_samples,)
        Training labels, at least two classes; with two, the larger label
        is the positive class.
    X_val : {ndarray, sparse matrix} of shape (n_val, n_features)
        Outer (validation) data.
    y_val : array-like of shape (n_val,)
        Outer labels, from the classes of ``y``.
    log_alpha : float or array-like
        A scalar; one value per feature; or one per group when ``groups``
        is given.
    method : str or HypergradientMethod, default="shine"
        One of "exact", "cg", "shine", "shine-opa", "shine-refine",
        "shine-pcg", "jacobian-free", or a method object.
    groups : array-like of int or str, shape (n_features,), optional
        Group label of each feature (any integers or strings; one strength
        per distinct label, in sorted label order).
    fit_intercept : bool, default=False
        Fit an unpenalised intercept.
    inner_tol : float, default=1e-10
        Inner tolerance, relative to the gradient norm at ``w = 0`` (both
        in the solver's metric, see ``initial_matrix``).
    inner_max_iter : int, default=10000
        Inner iteration cap.
    memory_size : int, optional
        L-BFGS memory size (default: 10 for exact, cg and jacobian-free,
        30 for the SHINE variants, 60 for shine-opa).
    opa_freq : int, optional
        Iterations between OPA updates (shine-opa; default 5).
    backward_tol : float, default=1e-10
        Relative residual tolerance of the CG-based methods.
    backward_max_iter : int, optional
        CG iteration cap (shine-refine's budget, default 5).
    w0 : ndarray of shape (n_coef,), optional
        Inner starting point, flat (see :mod:`hoag_shine.model.datafit` for the
        layout with several classes).
    initial_matrix : {"auto", "gamma", "hessian-diagonal"} or callable, default="auto"
        Initial matrix of the L-BFGS two-loop recursion (inner steps and
        the SHINE estimate): ``gamma I``, or the inverse Hessian diagonal
        ``(diag(X^T D X) + alpha)^{-1}`` at the current iterate; "auto"
        takes the diagonal for several strengths (per-feature, grouped) and
        ``gamma I`` for one, with an intercept in the problem's
        :attr:`~hoag_shine.InnerProblem.intercept_metric` (gradient norms
        too); see :func:`get_initial_matrix`.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weight of each training sample's loss.
    sample_weight_val : array-like of shape (n_val,), optional
        Non-negative weight of each validation sample's loss.
    scoring : str or ProbabilityLoss, default="neg_log_loss"
        The validation loss: "neg_log_loss", "neg_brier_score" or a
        :class:`~hoag_shine.ProbabilityLoss` (see
        :func:`~hoag_shine.model.scoring.get_scoring`); ``outer_loss`` is the
        summed loss, not the score.

    Returns
    -------
    HypergradientResult
        Inner solution, outer loss, hypergradient (``grad``, one entry per
        strength) and work counters; its ``coef`` is a vector for two
        classes and has one row per class for more.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from hoag_shine import hypergradient
    >>> X, y = make_classification(100, 5, random_state=0)
    >>> res = hypergradient(X[:60], y[:60], X[60:], y[60:], 0.0, method="cg")
    >>> res.grad.shape
    (1,)
    """
    X, y, X_val, y_val, classes = check_training_pair(X, y, X_val, y_val)
    sample_weight = check_sample_weight(sample_weight, X.shape[0])
    sample_weight_val = check_sample_weight(sample_weight_val, X_val.shape[0],
                                            "sample_weight_val")
    check_weighted_classes(y, sample_weight, classes)
    log_alpha, groups = check_hyper(log_alpha, groups, X.shape[1])
    scoring = get_scoring(scoring)
    fit_intercept = check_bool("fit_intercept", fit_intercept)
    n_classes = classes.shape[0]
    n_outputs = 1 if n_classes == 2 else n_classes
    w0 = check_hypergradient_params(
        inner_tol=inner_tol, inner_max_iter=inner_max_iter, memory_size=memory_size,
        opa_freq=opa_freq, backward_tol=backward_tol, backward_max_iter=backward_max_iter,
        w0=w0, n_coef=(X.shape[1] + int(fit_intercept)) * n_outputs)
    problem = InnerProblem.from_data(X, y, groups, fit_intercept, n_classes=n_classes,
                                     sample_weight=sample_weight)
    outer = scoring.outer_loss(X_val, y_val, n_classes, fit_intercept, sample_weight_val)
    method = get_method(method, tol=backward_tol, max_iter=backward_max_iter,
                        freq=opa_freq)
    # relative to the gradient at w = 0 (in the norm the solver stops on), so
    # that a warm start near the solution does not make the tolerance
    # unreachable
    g0 = problem.value_and_gradient(np.zeros(problem.n_coef), log_alpha)[1]
    g0 = ScaledIdentity(solver_metric(initial_matrix, problem, log_alpha)).gradient_norm(g0)
    initial_matrix = get_initial_matrix(initial_matrix)
    result = solve_and_differentiate(
        problem, outer, log_alpha, method, w0=w0, inner_tol=inner_tol * g0,
        inner_max_iter=inner_max_iter, memory_size=memory_size,
        initial_matrix=initial_matrix)
    if not result.finite:
        raise FloatingPointError(
            f"the hypergradient is not finite (outer loss {result.outer_loss}, "
            f"grad {result.grad}); the strengths may be too extreme")
    return result
