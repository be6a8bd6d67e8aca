"""A tight solve of the inner problem: L-BFGS, then Newton steps until they are negligible.

L-BFGS reaches :data:`REFIT_TOL` quickly but crawls beyond it on
ill-conditioned problems (tiny strengths on separable data); a few Newton
steps, their systems solved by CG, then make the solution independent of the
starting point (so that, for instance, integer sample weights and repeated
rows give the same model). The estimator's final refit is this solve.
"""
import numpy as np

from .cg import conjugate_gradient
from .initial import InverseDiagonal, ScaledIdentity
from .lbfgs import minimize_lbfgs

#: relative tolerance of the final refit's L-BFGS solve
REFIT_TOL = 1e-8
#: the Newton steps that follow it stop when the gradient is below POLISH_TOL
#: (relative) and the next step would be below POLISH_STEP relative to ||w||
POLISH_TOL, POLISH_STEP = 1e-13, 1e-11
#: most Newton steps after the L-BFGS refit, and CG iterations per step
POLISH_STEPS, POLISH_CG_ITER = 8, 200
#: relative rounding of an objective value, on the scale of the objective at w = 0
ROUNDING = 1e-12


def solve_tightly(problem, log_alpha, w0, *, max_iter=1000):
    """Minimise the inner objective at ``log_alpha`` from ``w0``, to :data:`REFIT_TOL`.

    Parameters
    ----------
    problem : InnerProblem
        The inner problem (``fun_and_grad``, ``hessian_operator``, ``n_coef``).
    log_alpha : ndarray of shape (n_hyper,)
        Log-scale strengths.
    w0 : ndarray of shape (n_coef,)
        Starting point.
    max_iter : int, default=1000
        L-BFGS iteration cap.

    Returns
    -------
    w : ndarray of shape (n_coef,)
        The solution.
    g_norm : float
        Its gradient norm.
    target : float
        ``REFIT_TOL`` times the gradient norm at ``w = 0``: the solve
        reached its precision when ``g_norm <= target``.

    Notes
    -----
    Norms, the L-BFGS initial matrix and CG are taken in a metric in which
    scaling the columns of ``X`` against the strengths changes nothing: with
    one strength, ``gamma I`` in the problem's
    :attr:`~hoag_shine.InnerProblem.intercept_metric`; with several, the
    inverse Hessian diagonal at ``w0``.
    """
    log_alpha = np.asarray(log_alpha, dtype=float)
    w0 = np.asarray(w0, dtype=float)
    if log_alpha.shape != (problem.n_hyper,) or not np.all(np.isfinite(log_alpha)):
        raise ValueError(f"log_alpha must hold {problem.n_hyper} finite numbers, got "
                         f"shape {log_alpha.shape}")
    if w0.shape != (problem.n_coef,) or not np.all(np.isfinite(w0)):
        raise ValueError(f"w0 must hold {problem.n_coef} finite numbers, got shape "
                         f"{w0.shape}")
    fun = problem.fun_and_grad(log_alpha)
    # a metric in which scaling a column against its strength changes nothing
    initial = ScaledIdentity(problem.intercept_metric) if problem.n_hyper == 1 else \
        InverseDiagonal(problem.hessian_diagonal(w0, log_alpha))
    f0, g0 = fun(np.zeros(problem.n_coef))
    g0 = initial.gradient_norm(g0)
    # no warning from L-BFGS: the Newton steps finish what it may leave short,
    # and the caller judges the end point
    w = minimize_lbfgs(fun, w0, memory_size=10, tol=REFIT_TOL * g0, max_iter=max_iter,
                       warn=False, initial_matrix=lambda x, current: initial).x
    w, g_norm = _newton_polish(problem, fun, w, log_alpha, f0, g0, initial)
    return w, g_norm, REFIT_TOL * g0


def _newton_polish(problem, fun, w, log_alpha, f0, g0, initial):
    """Newton steps (CG on the Hessian, backtracking) from ``w`` until the next is negligible.

    The steps stop once the gradient norm is below ``POLISH_TOL * g0`` and
    the next step, predicted from the last full one by the ratio of the
    gradient norms, would move ``w`` by at most ``POLISH_STEP`` times its
    norm: a small gradient says little when the Hessian's smallest
    eigenvalue is tiny (strengths near the lower bound on nearly separable
    data), and a small inexact step little when the features' scales differ
    by orders of magnitude (CG may not have reached the directions of small
    curvature). They also stop after ``POLISH_STEPS``, or when a step no
    longer makes progress. ``f0`` and ``g0`` are the objective and the
    gradient norm at ``w = 0``, the scales of the objective's rounding and
    of the gradient; gradients and steps are measured in the metric of
    ``initial`` (its ``gradient_norm`` and ``step_norm``), in which CG runs
    too. Returns
    the last point and its gradient norm.
    """
    f, g = fun(w)
    g_norm = initial.gradient_norm(g)
    tol = POLISH_TOL * g0
    rounding = ROUNDING * max(abs(f0), abs(f))
    for _ in range(POLISH_STEPS):
        if g_norm == 0:
            break
        d, _ = conjugate_gradient(problem.hessian_operator(w, log_alpha), -g,
                                  tol=min(0.1, np.sqrt(g_norm / tol) * 1e-6),
                                  max_iter=POLISH_CG_ITER, metric=initial.metric)
        slope = np.dot(g, d)
        if not (np.all(np.isfinite(d)) and slope < 0):
            break
        # near the solution the predicted decrease falls below the rounding
        # of f, a sum of terms much larger than it on nearly separable data:
        # a full step that decreases the gradient norm is then taken when f
        # rose by no more than that rounding
        at_rounding = -slope <= rounding
        for t in 0.5 ** np.arange(12):
            f_t, g_t = fun(w + t * d)
            if f_t <= f + 1e-4 * t * slope or (
                    at_rounding and t == 1 and f_t - f <= rounding
                    and initial.gradient_norm(g_t) < g_norm):
                break
        else:
            break
        w, f, g = w + t * d, f_t, g_t
        g_norm, previous = initial.gradient_norm(g), g_norm
        if (g_norm <= tol and t == 1 and initial.step_norm(d) * g_norm / previous
                <= POLISH_STEP * initial.step_norm(w)):
            break
    return w, g_norm
