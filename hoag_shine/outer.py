"""The HOAG outer loop: approximate hypergradient descent on log-scale strengths.

Step rule (Pedregosa 2016, section 3, with the rejection made real):

* the first step has length 1: ``L_0 = ||p_0||`` and
  ``lambda_1 = clip(lambda_0 - p_0 / L_0)``;
* a step whose outer loss is not finite, whose hypergradient is not finite,
  or whose outer loss exceeds ``1.2`` times the current one is rejected:
  ``lambda`` stays where it was (the rejected point is discarded), ``L``
  doubles and the tolerance ``eps`` halves before a shorter step is tried;
* other steps are accepted; one that decreased the loss enough,
  ``g - g_new + eps |g| >= c L ||lambda_new - lambda||^2`` with ``c = 1/4``
  (a descent-lemma test with slack for the inexact inner solve), lengthens
  the next step (``L <- 0.95 L``); one that did not halves it (``L <- 2 L``),
  which damps the oscillations that inexact hypergradients cause around the
  optimum. When the warm-started inner solves already met their tolerance
  and made no iteration, ``w`` and hence the loss did not change, which says
  nothing about the step: ``L`` is kept.

The loop stops after ``max_iter`` evaluations of the outer objective, when a
step moves ``lambda`` by less than ``tol`` (Euclidean norm; this includes a
hypergradient that pushes against the bounds), or when the callback returns
True.
"""
import warnings
from dataclasses import dataclass, field
from time import perf_counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning

#: sharp-increase threshold of the outer loss that makes a step rejected
REJECT_RATIO = 1.2
#: sufficient-decrease constant c of ``g - g_new + eps |g| >= c L ||step||^2``
SUFFICIENT = 0.25


def _exponential(eps0, factor, k):
    return eps0 * factor ** k


def _quadratic(eps0, factor, k):
    return eps0 / (k + 1) ** 2


def _cubic(eps0, factor, k):
    return eps0 / (k + 1) ** 3


def _constant(eps0, factor, k):
    return eps0


#: tolerance schedules ``(eps0, factor, k) -> eps_k``; all but "constant"
#: are summable, as HOAG's convergence guarantee requires.
TOLERANCE_SCHEDULES = {
    "exponential": _exponential,
    "quadratic": _quadratic,
    "cubic": _cubic,
    "constant": _constant,
}


@dataclass
class HOAGResult:
    """Outcome of :func:`hoag`.

    Attributes
    ----------
    log_alpha : ndarray
        Last accepted strengths.
    outer_loss : float
        Outer loss there (inf when the run could not start).
    grad : ndarray
        Hypergradient there (NaN when the run could not start).
    results : list of HypergradientResult
        Per-split results there (when the run could not start: those of the
        failed first evaluation).
    states : list of FoldState
        Warm-start states there (the initial states when the run could not
        start).
    n_iter : int
        Number of outer-objective evaluations.
    history : list of dict
        One record per evaluation (see :func:`hoag`).
    message : str
        Why the loop stopped.
    """

    log_alpha: np.ndarray
    outer_loss: float
    grad: np.ndarray
    results: list = field(repr=False)
    states: list = field(repr=False)
    n_iter: int
    history: list = field(repr=False)
    message: str


def _record(k, elapsed, log_alpha, loss, grad, accepted, eps, results):
    return {
        "iteration": k, "time": elapsed, "log_alpha": np.array(log_alpha),
        "outer_loss": loss, "grad": np.array(grad), "accepted": accepted,
        "tolerance": eps,
        "n_inner_iter": sum(r.n_inner_iter for r in results),
        "n_grad_evals": sum(r.n_grad_evals for r in results),
        "n_hvp": sum(r.n_hvp for r in results),
        "time_forward": sum(r.time_forward for r in results),
        "time_backward": sum(r.time_backward for r in results),
    }


class _Clock:
    """Wall clock that can be paused (callbacks are not timed)."""

    def __init__(self):
        self.elapsed, self._start = 0.0, perf_counter()

    def pause(self):
        self.elapsed += perf_counter() - self._start
        return self.elapsed

    def resume(self):
        self._start = perf_counter()


def hoag(criterion, log_alpha0, *, max_iter=30, tol=1e-5, bounds=(-12.0, 12.0),
         tolerance_init=1e-3, tolerance_decrease="exponential",
         tolerance_factor=0.9, callback=None, verbose=0):
    """Minimise a held-out criterion over log-scale strengths by HOAG.

    Parameters
    ----------
    criterion : HeldOutCriterion
        Outer objective with its splits and hypergradient method.
    log_alpha0 : ndarray of shape (n_hyper,)
        Starting strengths (clipped to ``bounds``).
    max_iter : int, default=30
        Maximum number of evaluations of the outer objective.
    tol : float, default=1e-5
        Stop when a step moves ``log_alpha`` by less than ``tol``.
    bounds : (float, float), default=(-12, 12)
        Box on ``log_alpha``.
    tolerance_init : float, default=1e-3
        ``eps_0``: inner tolerance relative to the initial gradient norm, and
        relative tolerance of iterative backward solvers.
    tolerance_decrease : {"exponential", "quadratic", "cubic", "constant"}
        How ``eps_k`` decreases with ``k``.
    tolerance_factor : float, default=0.9
        Factor of the exponential schedule (``eps_k = eps_0 factor^k``).
    callback : callable, optional
        Called after every evaluation with a dict holding the history
        record plus ``coef``/``intercept`` of the first split's inner
        solution at the evaluated point; returning True stops the loop. Its
        running time is excluded from the recorded times.
    verbose : int, default=0
        Print one line per evaluation when positive.

    Returns
    -------
    HOAGResult
        Last accepted strengths, outer loss and hypergradient there, and the
        history of the run. Each history record holds ``iteration``,
        ``time`` (cumulative seconds), ``log_alpha``, ``outer_loss``,
        ``grad``, ``accepted``, ``tolerance``, ``n_inner_iter``,
        ``n_grad_evals``, ``n_hvp``, ``time_forward`` and ``time_backward``.
    """
    if tolerance_decrease not in TOLERANCE_SCHEDULES:
        raise ValueError(f"tolerance_decrease must be one of {sorted(TOLERANCE_SCHEDULES)}, "
                         f"got {tolerance_decrease!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    schedule = TOLERANCE_SCHEDULES[tolerance_decrease]
    lower, upper = bounds
    if not lower < upper:
        raise ValueError(f"bounds must satisfy low < high, got {bounds!r}")
    clock = _Clock()
    lam = np.clip(np.asarray(log_alpha0, dtype=float), lower, upper)
    states = criterion.initial_state(lam)
    history = []
    shrink, L = 1.0, None
    current = None  # (loss, grad, results, states) at the accepted lam
    message = "maximum number of iterations reached"
    step_lam = lam
    for k in range(max_iter):
        eps = schedule(tolerance_init, tolerance_factor, k) * shrink
        loss, grad, results, new_states = criterion.evaluate(step_lam, eps, states,
                                                             outer_step=(k, max_iter))
        finite = bool(np.isfinite(loss) and np.all(np.isfinite(grad)))
        if current is None:
            if not finite:
                message = "outer loss or hypergradient not finite at the initial strengths"
                history.append(_record(k, clock.pause(), step_lam, loss, grad, False, eps, results))
                clock.resume()
                break
            accepted = True
            L = max(np.linalg.norm(grad), np.finfo(float).tiny)
        else:
            accepted = finite and loss <= REJECT_RATIO * current[0]
            if not accepted:
                L *= 2.0
                shrink *= 0.5
            elif all(r.n_inner_iter == 0 for r in results):
                pass  # w did not move: the loss change says nothing about the step
            elif (current[0] - loss + eps * abs(current[0])
                  >= SUFFICIENT * L * np.sum((step_lam - lam) ** 2)):
                L *= 0.95
            else:
                L *= 2.0
        elapsed = clock.pause()
        record = _record(k, elapsed, step_lam, loss, grad, accepted, eps, results)
        history.append(record)
        if verbose:
            print(f"[hoag] iter {k:3d}  lambda {_short(step_lam)}  outer loss "
                  f"{loss:.6g}  {'accepted' if accepted else 'rejected'}  "
                  f"time {elapsed:.3f}s")
        stop = False
        if callback is not None:
            r0 = results[0]
            # copies: the callback must not reach the warm-start state
            stop = bool(callback(dict(record, coef=np.array(r0.coef),
                                      intercept=r0.intercept)))
        clock.resume()
        if accepted:
            lam, current, states = step_lam, (loss, grad, results), new_states
        if stop:
            message = "stopped by the callback"
            break
        step_lam = np.clip(lam - current[1] / L, lower, upper)
        if np.linalg.norm(step_lam - lam) < tol:
            message = "step below tol"
            break
    if current is None:
        warnings.warn(f"HOAG could not start: {message}", ConvergenceWarning, stacklevel=3)
        return HOAGResult(lam, np.inf, np.full(lam.shape, np.nan), results, states,
                          len(history), history, message)
    return HOAGResult(lam, current[0], current[1], current[2], states, len(history),
                      history, message)


def _short(lam):
    if lam.shape[0] == 1:
        return f"{lam[0]: .4f}"
    return f"[{lam.min():.3g} .. {lam.max():.3g}] (mean {lam.mean():.3g})"
