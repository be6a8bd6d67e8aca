"""L-BFGS whose inverse-Hessian estimate is part of its result."""
import warnings

import numpy as np
from scipy.optimize import OptimizeResult
from sklearn.exceptions import ConvergenceWarning

from .initial import gradient_norm, step_norm
from .linesearch import strong_wolfe
from .memory import LBFGSMemory
from ._checks import (check_direction, check_initial_matrix, check_lbfgs_params,
                      checked_objective)


#: a step shorter than this, relative to ||x||, is rounding noise: its secant
#: pair would corrupt the inverse estimate, so it is not stored
ROUNDING_STEP = 1e-10


class InnerConvergenceWarning(ConvergenceWarning):
    """The L-BFGS solver stopped before reaching its gradient tolerance."""


def _direction(memory, g):
    d = _negated(memory.apply(g))
    if not np.all(np.isfinite(d)) or np.dot(d, g) >= 0:
        # a two-loop direction that is not a descent direction means the
        # memory is numerically stale: restart from -H0 g (steepest descent
        # for gamma I, whose gamma is 1 without pairs)
        memory.clear()
        d = _negated(memory.apply(g))
    return d


def _negated(v):
    """``-v`` in place (``memory.apply`` returns a new vector of its own)."""
    return np.negative(v, out=v)


def _refresh_initial(memory, initial_matrix, x):
    """Give ``memory`` the initial matrix of the iterate ``x`` (None keeps its own)."""
    if initial_matrix is not None:
        memory.initial = check_initial_matrix(initial_matrix(x, memory.initial), x.shape[0])


def _search(fun_and_grad, x, f, g, memory, c1, c2, max_linesearch):
    """Strong-Wolfe search along the memory's direction from its trial step."""
    d = _direction(memory, g)
    step = memory.initial.trial_step(memory, f, float(np.dot(g, d)))
    return strong_wolfe(fun_and_grad, x, f, g, d, step, c1, c2, max_linesearch)


def minimize_lbfgs(fun_and_grad, x0, *, memory_size=10, tol=1e-5, max_iter=1000,
                   memory=None, extra_secant=None, c1=1e-4, c2=0.9,
                   max_linesearch=30, warn=True, initial_matrix=None):
    """Minimise a smooth function by L-BFGS and return its inverse-Hessian estimate.

    The secant pairs ``(s, y)`` are kept in chronological order; a pair whose
    curvature ``s^T y`` is not safely positive is skipped; the initial matrix
    of the two-loop recursion is the memory's, ``gamma I`` with ``gamma =
    s^T y / y^T y`` of the newest pair unless ``initial_matrix`` is given;
    each step satisfies the strong Wolfe conditions. The solver stops when the
    norm of the gradient is at most ``tol``: the Euclidean norm, or the
    initial matrix's own (``ScaledIdentity.gradient_norm`` with a metric).
    Steps at the rounding level (``||s|| <= 1e-10 ||x||``) are taken but
    their pairs not stored.
    The first trial step of each line search is the initial matrix's
    ``trial_step``, free of any absolute scale, so that scaling the function
    (``f -> c f``, ``tol -> c tol``) leaves the iterates unchanged. When the line search fails
    along the L-BFGS direction, it is tried again from an empty memory
    (along ``-H0 grad``); if that fails too the solver stops and keeps its
    pairs.

    Parameters
    ----------
    fun_and_grad : callable
        ``x -> (value, gradient)``.
    x0 : ndarray of shape (n,)
        Starting point (not modified).
    memory_size : int, default=10
        Number of secant pairs kept (the L-BFGS memory ``m``).
    tol : float, default=1e-5
        Gradient-norm tolerance (in the initial matrix's metric, if any).
        ``tol=0`` runs exactly ``max_iter`` iterations, unless the gradient
        vanishes exactly or the line search fails (at the rounding level,
        ``message`` says so).
    max_iter : int, default=1000
        Maximum number of iterations (accepted steps).
    memory : LBFGSMemory, optional
        Pairs from an earlier solve (its ``result.memory``) to warm-start
        from; it is copied, never modified. Chaining one-iteration calls
        through ``x0=result.x, memory=result.memory`` reproduces one long run.
    extra_secant : callable, optional
        Hook for extra secant pairs, called at the start of every iteration
        as ``extra_secant(iteration, x, grad, memory)``; it returns a direction
        ``e`` or None. For a direction, the solver evaluates the gradient at
        ``x + e`` and pushes ``(e, grad(x + e) - grad)`` into the memory
        without moving ``x``. This is how OPA updates are made.
    c1, c2 : float, default=1e-4, 0.9
        Strong Wolfe constants.
    max_linesearch : int, default=30
        Function evaluations allowed per line search.
    warn : bool, default=True
        Emit an :class:`InnerConvergenceWarning` when the solver stops
        without reaching ``tol``.
    initial_matrix : callable, optional
        ``(x, current) -> initial matrix`` (e.g. :func:`hessian_diagonal_initial`),
        called at ``x0`` and at every new iterate with the memory's current
        initial matrix, which it replaces (it may return ``current`` to keep
        it), so that the solver's steps (a
        diagonally preconditioned L-BFGS; the first step, without pairs, is
        along ``-H0 grad``) and the returned ``inverse_hessian`` use the
        ``H0`` of the current iterate. The line search starts from the
        initial matrix's ``trial_step``. None keeps the memory's initial
        matrix (``gamma I`` for a new memory).

    Returns
    -------
    scipy.optimize.OptimizeResult
        With fields ``x``, ``fun``, ``grad``, ``grad_norm``, ``n_iter``,
        ``nfev`` (function and gradient evaluations, extra secant ones
        included), ``n_extra`` (extra secant evaluations), ``success``,
        ``message``, ``memory`` (an :class:`LBFGSMemory`) and
        ``inverse_hessian`` (an :class:`InverseHessianOperator` applying
        the two-loop matrix the solver would use at its next step).

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import minimize_lbfgs
    >>> A = np.diag([1.0, 10.0])
    >>> res = minimize_lbfgs(lambda x: (0.5 * x @ A @ x, A @ x), np.ones(2), tol=1e-10)
    >>> bool(res.success), np.allclose(res.x, 0.0)
    (True, True)
    """
    check_lbfgs_params(fun_and_grad, x0, memory_size=memory_size, tol=tol, max_iter=max_iter,
                       memory=memory, memory_class=LBFGSMemory,
                       extra_secant=extra_secant, c1=c1, c2=c2,
                       max_linesearch=max_linesearch, warn=warn,
                       initial_matrix=initial_matrix)
    x = np.array(x0, dtype=float).ravel()
    fun_and_grad = checked_objective(fun_and_grad, x.shape)
    memory = LBFGSMemory(memory_size) if memory is None \
        else memory.copy(memory_size=int(memory_size))
    _refresh_initial(memory, initial_matrix, x)
    f, g = fun_and_grad(x)
    if not (np.isfinite(f) and np.all(np.isfinite(g))):
        raise FloatingPointError("objective or gradient is not finite at x0")
    nfev, n_extra, n_iter = 1, 0, 0
    message = "maximum number of iterations reached"
    while True:
        grad_norm = gradient_norm(memory.initial, g)
        if grad_norm <= tol:
            message = "gradient norm below tol"
            break
        if n_iter >= max_iter:
            break
        if extra_secant is not None:
            e = extra_secant(n_iter, x, g, memory)
            if e is not None:
                e = check_direction("extra_secant", e, x.shape)
                _, g_e = fun_and_grad(x + e)
                nfev += 1
                n_extra += 1
                if np.all(np.isfinite(g_e)):
                    memory.adopt(np.array(e, dtype=float), g_e - g)
        t, new, n_ls = _search(fun_and_grad, x, f, g, memory, c1, c2, max_linesearch)
        nfev += n_ls
        if t is None and len(memory):
            # retry from an empty memory, along -H0 g; the pairs stay valid
            # secant information, so they are restored if the retry fails too
            saved = memory.copy()
            memory.clear()
            t, new, n_ls = _search(fun_and_grad, x, f, g, memory, c1, c2, max_linesearch)
            nfev += n_ls
            if t is None:
                memory = saved
        if t is None:
            message = "line search failed to find a point of sufficient decrease"
            break
        x_new, f_new, g_new = new
        s = x_new - x
        if step_norm(memory.initial, s) > ROUNDING_STEP * step_norm(memory.initial, x_new):
            # both are new vectors of this loop's own: no copy
            memory.adopt(s, g_new - g)
        x, f, g = x_new, f_new, g_new
        _refresh_initial(memory, initial_matrix, x)
        n_iter += 1
    success = grad_norm <= tol
    if warn and tol > 0 and not success:
        warnings.warn(f"L-BFGS stopped after {n_iter} iterations with gradient "
                      f"norm {grad_norm:.3e} > tol={tol:.3e}: {message}",
                      InnerConvergenceWarning, stacklevel=2)
    return OptimizeResult(
        x=x, fun=f, grad=g, grad_norm=grad_norm, n_iter=n_iter, nfev=nfev,
        n_extra=n_extra, success=success, message=message, memory=memory,
        inverse_hessian=memory.as_operator(x.shape[0]))
