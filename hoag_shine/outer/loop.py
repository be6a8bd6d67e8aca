"""The HOAG outer loop: inexact hypergradient steps on log-scale strengths, made trustworthy.

Pedregosa's HOAG takes a gradient step ``-p_k / L_k`` after every inexact
inner solve, with the inner tolerance ``eps_k`` decreasing along a summable
schedule. This loop keeps the schedule and the warm starts and changes the
three things that make HOAG's answer untrustworthy on data it was not tuned
on:

* **Steps** come from :class:`~hoag_shine.outer.steps.SecantTrustRegion`: an
  L-BFGS (for one strength, secant) model of the outer loss in log(alpha),
  cut to a trust radius (first step of length 1, at most 4) that doubles
  after a step at the radius that achieved 3/4 of its predicted decrease and
  halves after a step that achieved less than 1/4 or failed.
* **Acceptance** (:class:`~hoag_shine.outer.acceptance.TrustedDecrease`) compares
  outer losses corrected to first order for the inexact inner solve
  (``g(w) - q^T grad_w h(w)``), each with its uncertainty (the size of that
  correction plus what an inexact ``q`` may miss of it). A step is accepted
  only when the decrease exceeds both uncertainties. A change inside them
  is *uncertain*: the less accurate of the two points is solved again
  (warm-started, more tightly, for this decision only) before the step is
  judged again. A step that increases the loss by more than the
  uncertainties, or whose loss or hypergradient is not finite, is rejected:
  the radius halves and the tolerance ``eps`` halves for the rest of the run.
* **Backward accuracy** (:class:`~hoag_shine.outer.escalation.BackwardEscalation`):
  after a rejected step the hypergradient is computed again at the current
  point with the next, more accurate rung of the ladder (CG started from the
  method's estimate and run to the tolerance), and that rung is kept; an
  uncertain verdict climbs it too before any tighter solve.

``tol`` is the relative precision of the outer loss: the loop stops when
its model promises less than ``tol * |loss|`` of further decrease (after a
step that gained little), and trial points are solved just tightly enough
for their verdict. It also stops when the trust radius falls below
``MIN_RADIUS``, when the hypergradient pushes every strength against its
bound, after ``max_iter`` evaluations (every evaluation counts, the final
ones included), or when the callback returns True. A stop on the model or
the radius is first confirmed by a re-evaluation of the current point,
at least four times tighter and with the top rung, so that an approximate
hypergradient that vanishes for the wrong reason cannot end the run. The
uncertainties are calibrated along the run: whenever a point solved again
moves by more than its two claimed uncertainties, they are scaled up so that
it would not have. Finally the best trusted point is verified by an
accurate evaluation (the confirmation counts), the start once as tightly as
telling it from the answer needs, and the current point and the start at
the answer's tolerance only when their loss intervals reach below the
answer's; the
answer is the verified point whose corrected loss plus uncertainty is
lowest: never a point that was not trusted to improve on the start.
"""
import warnings
from dataclasses import dataclass, field
from time import perf_counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .acceptance import ACCEPT, LossEstimate, TrustedDecrease
from .search import _Search
from .steps import SecantTrustRegion


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

#: why the loop stopped: ``stop_reason`` code -> message
STOP_MESSAGES = {
    "max_iter": "maximum number of iterations reached",
    "tol": "converged (less than tol of the loss left to gain)",
    "radius": "trust radius below 1e-3: no shorter step decreased the outer loss by more "
              "than its uncertainty",
    "bounds": "the hypergradient pushes every strength against its bound",
    "start": "the strengths the loop stopped at were worse than the start by more than "
             "tol once solved accurately: the answer is the start",
    "earlier": "the strengths the loop stopped at were worse than an earlier point by more "
               "than tol once solved accurately: the answer is that point",
    "callback": "stopped by the callback",
    "not_finite": "outer loss or hypergradient not finite at the initial strengths",
}


@dataclass
class HOAGResult:
    """Outcome of :func:`hoag`.

    Attributes
    ----------
    log_alpha : ndarray
        Best trusted strengths: the accepted point with the lowest corrected
        loss plus uncertainty.
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
    stop_reason : str
        Why the loop stopped, a key of :data:`STOP_MESSAGES`.
    message : str
        The same, in words.
    unsolved : bool
        Whether some inner solve of the run stopped short of its tolerance
        (iteration cap, failed line search): the losses compared then carry
        uncertainties that may not hold, the comparison with the start
        included.
    """

    log_alpha: np.ndarray
    outer_loss: float
    grad: np.ndarray
    results: list = field(repr=False)
    states: list = field(repr=False)
    n_iter: int
    history: list = field(repr=False)
    stop_reason: str
    message: str
    unsolved: bool = False


@dataclass(frozen=True)
class _Point:
    """One evaluation of the outer objective."""

    lam: np.ndarray
    estimate: LossEstimate
    grad: np.ndarray
    results: list
    states: list
    method: str
    eps: float
    verified: bool = False
    light: bool = False

    @property
    def finite(self):
        return self.estimate.finite and bool(np.all(np.isfinite(self.grad)))


class _Clock:
    """Wall clock that can be paused (callbacks are not timed)."""

    def __init__(self):
        self.elapsed, self._start = 0.0, perf_counter()

    def pause(self):
        self.elapsed += perf_counter() - self._start
        return self.elapsed

    def resume(self):
        self._start = perf_counter()


class _Run:
    """State of one HOAG run: evaluations, records, the callback and verbose output."""

    def __init__(self, criterion, schedule, max_iter, ladder, callback, verbose,
                 loss_scale=1.0):
        self.criterion, self.schedule, self.max_iter = criterion, schedule, max_iter
        self.ladder, self.callback, self.verbose = ladder, callback, verbose
        self.loss_scale = loss_scale  # the progress lines show the loss divided by it
        self.k, self.level, self.tighten = 0, 0, 1.0
        # factor on the first-order uncertainties, raised whenever solving a
        # point again moves its loss by more than the two claimed uncertainties
        self.calibration = 1.0
        self.clock, self.history = _Clock(), []
        self.unsolved = False  # whether an inner solve of the run stopped short
        self._index = {}  # id of an evaluated point -> index of its record

    def scaled(self, point):
        """The point's loss estimate with its uncertainty times the calibration."""
        e = point.estimate
        return LossEstimate(e.loss, e.value, self.calibration * e.uncertainty)

    def calibrate(self, before, after):
        """Raise the calibration so that two evaluations of one point agree within it.

        Returns True when they did not agree within the calibrated uncertainties.
        """
        gap = abs(before.estimate.value - after.estimate.value)
        claimed = before.estimate.uncertainty + after.estimate.uncertainty
        surprised = bool(np.isfinite(gap) and gap > self.calibration * claimed)
        if claimed > 0 and np.isfinite(gap):
            self.calibration = max(self.calibration, gap / claimed)
        return surprised

    def best(self, trusted):
        """The trusted point with the lowest corrected loss plus calibrated uncertainty."""
        return min(trusted, key=lambda p: self.scaled(p).upper)

    @property
    def top_level(self):
        return 0 if self.ladder is None else self.ladder.n_levels - 1

    @property
    def left(self):
        return self.k < self.max_iter

    @property
    def eps(self):
        """The tolerance of the schedule at this evaluation, with the rejections' tightening."""
        return self.schedule(self.k) * self.tighten

    def evaluate(self, lam, states, eps=None):
        """Evaluate the criterion at ``lam`` (tolerance ``eps``, default :attr:`eps`)."""
        eps = self.eps if eps is None else float(eps)
        method = None if self.ladder is None else self.ladder.method(self.level)
        loss, grad, results, new_states = self.criterion.evaluate(
            lam, eps, states, outer_step=(self.k, self.max_iter), method=method)
        estimate = LossEstimate.from_results(results)
        self.k += 1
        # an inner solve that stopped short of its tolerance (iteration cap,
        # failed line search) leaves a loss whose first-order uncertainty
        # means nothing
        self.unsolved = self.unsolved or any(
            not getattr(getattr(r, "inner", None), "success", True) for r in results)
        return _Point(np.array(lam, dtype=float), estimate, np.asarray(grad, dtype=float),
                      results, new_states, "default" if method is None else method.name, eps)

    def record(self, point, decision, radius, best):
        """Append the history record of ``point``; return True if the callback stops."""
        elapsed = self.clock.pause()
        results = point.results
        rec = {
            "iteration": self.k - 1, "time": elapsed, "log_alpha": np.array(point.lam),
            "outer_loss": point.estimate.loss, "loss_estimate": point.estimate.value,
            "loss_uncertainty": point.estimate.uncertainty,
            "calibration": self.calibration, "grad": np.array(point.grad),
            "accepted": decision in ("start", ACCEPT, "refresh", "confirm", "verify"),
            "decision": decision,
            "estimate": point.method, "radius": radius, "tolerance": point.eps,
            "n_inner_iter": sum(r.n_inner_iter for r in results),
            "n_grad_evals": sum(r.n_grad_evals for r in results),
            "n_hvp": sum(r.n_hvp for r in results),
            "time_forward": sum(r.time_forward for r in results),
            "time_backward": sum(r.time_backward for r in results),
        }
        self._index[id(point)] = len(self.history)
        self.history.append(rec)
        if self.verbose:
            self._print(rec, results)
        stop = False
        if self.callback is not None:
            r0, b0 = results[0], best.results[0]
            # copies: the callback must not reach the warm-start state
            payload = {k: np.array(v) if isinstance(v, np.ndarray) else v
                       for k, v in rec.items()}
            stop = _callback_says_stop(self.callback(dict(
                payload, coef=np.array(r0.coef), intercept=_copy(r0.intercept),
                best_log_alpha=np.array(best.lam), best_outer_loss=best.estimate.loss,
                best_coef=np.array(b0.coef), best_intercept=_copy(b0.intercept))))
        self.clock.resume()
        return stop

    def moved(self, old, new):
        """``new`` replaces the point ``old`` (same evaluation, same record)."""
        if id(old) in self._index:
            self._index[id(new)] = self._index.pop(id(old))

    def mark_answer(self, point):
        """Flag the record of the returned point (``answer``), and no other."""
        index = self._index.get(id(point))
        for k, rec in enumerate(self.history):
            rec["answer"] = k == index
        if self.verbose and index is not None:
            rec = self.history[index]
            print(f"[hoag] answer    {self._strengths(rec['log_alpha'])}  "
                  f"loss {rec['outer_loss'] / self.loss_scale:.6g}  after {self.k} "
                  f"evaluations, {self.history[-1]['time']:.2f}s", flush=True)

    def amend(self, index, verdict):
        """Record the verdict on an evaluation judged again (the callback is not called)."""
        self.history[index].update(decision=verdict, accepted=verdict == ACCEPT)
        if self.verbose >= 2:
            print(f"[hoag] iter {index:3d}  judged again: {verdict}", flush=True)
        elif self.verbose and verdict == ACCEPT:
            self._print_progress(self.history[index], self.history[-1]["time"])
        return False

    def _print(self, rec, results):
        """Verbose output: 1 the accepted steps, 2 every evaluation, 3 also its splits."""
        if self.verbose == 1:
            if rec["decision"] in ("start", ACCEPT):
                self._print_progress(rec, rec["time"])
            return
        print(f"[hoag] iter {rec['iteration']:3d}  log(alpha) {_short(rec['log_alpha'])}  "
              f"loss {rec['loss_estimate']:.6g} +- "
              f"{rec['calibration'] * rec['loss_uncertainty']:.2g}  "
              f"{rec['decision']:<9s} {rec['estimate']:<14s} radius {rec['radius']:.3g}  "
              f"eps {rec['tolerance']:.2g}  {rec['time']:.2f}s", flush=True)
        if self.verbose >= 3:
            for i, r in enumerate(results):
                print(f"[hoag]          split {i}: {r.n_inner_iter} inner iterations "
                      f"({r.time_forward:.3f}s), {r.n_hvp} Hessian-vector products "
                      f"({r.time_backward:.3f}s)", flush=True)

    def _print_progress(self, rec, elapsed):
        """One line for users: the accepted point, its loss per sample, time, what is left."""
        path = [r for r in self.history if r["decision"] in ("start", ACCEPT)]
        change = "" if len(path) < 2 else \
            f" ({(path[-1]['outer_loss'] - path[-2]['outer_loss']) / self.loss_scale:+.2g})"
        print(f"[hoag] step {len(path) - 1:3d}  {self._strengths(rec['log_alpha'])}  "
              f"loss {rec['outer_loss'] / self.loss_scale:.6g}{change}  {elapsed:.2f}s  "
              f"left: {self._left(path, elapsed)}", flush=True)

    @staticmethod
    def _strengths(lam):
        """The strengths as a user reads them: alpha and C, or their range."""
        alpha = np.exp(lam)
        if lam.shape[0] == 1:
            return f"alpha {alpha[0]:.4g} (C {1 / alpha[0]:.4g})"
        return (f"alpha {alpha.min():.3g}..{alpha.max():.3g} "
                f"(geometric mean {np.exp(lam.mean()):.3g})")

    def _left(self, path, elapsed):
        """What is left: the gain a secant model predicts, evaluations, time.

        The model is quadratic with the curvature ``s^T y / y^T y`` that the
        last accepted step measured (``s`` the step, ``y`` the change of the
        hypergradient; with one strength, the secant through the two
        points), so it promises ``||g||^2 (s^T y / y^T y) / 2`` from the
        current hypergradient ``g``: a rough estimate. The evaluations and
        the time are what ``max_iter`` still allows at the run's pace, upper
        bounds.
        """
        n_left = self.max_iter - self.k
        left = (f"<= {n_left} evaluations "
                f"(<= {elapsed / max(self.k, 1) * n_left:.2f}s)")
        if len(path) < 2:
            return left
        s = path[-1]["log_alpha"] - path[-2]["log_alpha"]
        y = path[-1]["grad"] - path[-2]["grad"]
        if not (np.dot(s, y) > 0 and np.all(np.isfinite(y))):
            return left
        g = path[-1]["grad"]
        gain = np.dot(g, g) * np.dot(s, y) / np.dot(y, y) / 2
        return f"~{gain / self.loss_scale:.2g} to gain, {left}"


def hoag(criterion, log_alpha0, *, max_iter=30, tol=1e-4, bounds=(-12.0, 12.0),
         tolerance_init=1e-3, tolerance_decrease="exponential",
         tolerance_factor=0.9, callback=None, verbose=0, escalation=None,
         step_rule=None, acceptance=None, loss_scale=1.0):
    """Minimise a held-out criterion over log-scale strengths by HOAG.

    Parameters
    ----------
    criterion : HeldOutCriterion
        Outer objective with its splits and hypergradient method; any object
        with ``initial_state(log_alpha)`` and ``evaluate(log_alpha, eps,
        states, outer_step, method)`` as :class:`HeldOutCriterion` has.
    log_alpha0 : ndarray of shape (n_hyper,)
        Starting strengths (clipped to ``bounds``).
    max_iter : int, default=30
        Maximum number of evaluations of the outer objective, those that
        confirm a stop and verify the answer included.
    tol : float, default=1e-4
        Relative precision of the outer loss: the loop stops when its model
        promises less than ``tol * |loss|`` of further decrease (confirmed by
        an accurate evaluation), and decreases smaller than that are not
        resolved.
    bounds : (float, float), default=(-12, 12)
        Box on ``log_alpha``.
    tolerance_init : float, default=1e-3
        ``eps_0``: inner tolerance relative to the initial gradient norm, and
        relative tolerance of iterative backward solvers.
    tolerance_decrease : {"exponential", "quadratic", "cubic", "constant"}
        How ``eps_k`` decreases with the evaluation count ``k``.
    tolerance_factor : float, default=0.9
        Factor of the exponential schedule (``eps_k = eps_0 factor^k``).
    callback : callable, optional
        Called after every evaluation with a dict holding the history
        record plus ``coef``/``intercept`` of the first split's inner
        solution at the evaluated point, and ``best_log_alpha``,
        ``best_outer_loss``, ``best_coef``, ``best_intercept`` of the best
        trusted point so far; returning True stops the loop. Its running
        time is excluded from the recorded times.
    verbose : int, default=0
        1: one line per accepted step, for users: the strengths (``alpha``
        and ``C = 1 / alpha``), the outer loss divided by ``loss_scale`` and
        its change, the elapsed time and what is left (the decrease a secant
        model of the last accepted step predicts, and the evaluations and
        time ``max_iter`` still allows), and a line for the answer; 2: one
        line per evaluation with the loop's internals (its decision, the
        corrected loss and its uncertainty, the backward pass, the trust
        radius, the tolerance) and the verdicts on trials judged
        again; 3: also one line per split and evaluation (inner iterations,
        Hessian-vector products, times).
    escalation : BackwardEscalation, optional
        Ladder of hypergradient methods climbed after failed steps; None
        keeps the criterion's method throughout.
    step_rule : SecantTrustRegion, optional
        Step rule (default: ``SecantTrustRegion()``).
    acceptance : TrustedDecrease, optional
        Acceptance test (default: ``TrustedDecrease(rtol=tol)``).
    loss_scale : float, default=1.0
        What the lines of ``verbose=1`` divide the outer loss by: the total
        weight of the held-out samples gives the mean loss per sample.

    Returns
    -------
    HOAGResult
        Best trusted strengths, outer loss and hypergradient there, why the
        loop stopped, and the history of the run. Each history record holds
        ``iteration``, ``time`` (cumulative seconds), ``log_alpha``,
        ``outer_loss``, ``loss_estimate`` (corrected), ``loss_uncertainty``
        (first-order), ``calibration`` (the factor applied to it),
        ``grad``, ``accepted``, ``decision`` ("start", "accept", "reject",
        "uncertain", "refresh", a re-evaluation of the current point,
        "confirm", the accurate re-evaluation of the current point before a
        stop, or "verify", a final accurate evaluation of a candidate
        answer), ``estimate`` (name of the hypergradient method used),
        ``radius``, ``tolerance``, ``n_inner_iter``, ``n_grad_evals``,
        ``n_hvp``, ``time_forward``, ``time_backward``, and ``answer`` (True
        for the record of the returned point only).
    """
    if tolerance_decrease not in TOLERANCE_SCHEDULES:
        raise ValueError(f"tolerance_decrease must be one of {sorted(TOLERANCE_SCHEDULES)}, "
                         f"got {tolerance_decrease!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    lower, upper = bounds
    if not lower < upper:
        raise ValueError(f"bounds must satisfy low < high, got {bounds!r}")
    rule = SecantTrustRegion() if step_rule is None else step_rule
    test = TrustedDecrease(rtol=tol) if acceptance is None else acceptance
    sched = TOLERANCE_SCHEDULES[tolerance_decrease]
    run = _Run(criterion, lambda k: sched(tolerance_init, tolerance_factor, k), max_iter,
               escalation, callback, verbose, loss_scale)
    lam0 = np.clip(np.asarray(log_alpha0, dtype=float), lower, upper)
    states0 = criterion.initial_state(lam0)
    start = run.evaluate(lam0, states0)
    if not start.finite:
        run.record(start, "reject", rule.initial_radius, start)
        run.mark_answer(None)
        warnings.warn(f"HOAG could not start: {STOP_MESSAGES['not_finite']}",
                      ConvergenceWarning, stacklevel=2)
        return HOAGResult(lam0, np.inf, np.full(lam0.shape, np.nan), start.results,
                          states0, run.k, run.history, "not_finite",
                          STOP_MESSAGES["not_finite"])
    search = _Search(run, rule, test, tuple(bounds), tol, start)
    if run.record(start, "start", search.radius, start):
        reason = "callback"
    else:
        reason = search.loop()
    if reason != "callback":
        search.verify()
    best = search.answer()
    stopped_at = search.trusted[-1]
    if reason in ("tol", "radius", "bounds") and not np.array_equal(
            best.lam, stopped_at.lam) and stopped_at.estimate.value - best.estimate.value \
            > tol * abs(best.estimate.value):
        # the reason was about the point the loop stopped at, which the
        # answer beats by more than tol: it does not describe the answer
        reason = "start" if np.array_equal(best.lam, lam0) else "earlier"
    run.mark_answer(best)
    return HOAGResult(best.lam, best.estimate.loss, best.grad, best.results, best.states,
                      run.k, run.history, reason, STOP_MESSAGES[reason], run.unsolved)


def _copy(value):
    """A copy of an array (the intercepts of several classes); numbers as they are."""
    return np.array(value) if isinstance(value, np.ndarray) else value


def _callback_says_stop(answer):
    """The callback's answer as a bool: None or a boolean, nothing else."""
    if answer is None or isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    raise TypeError(f"the callback must return None, True or False, got {answer!r}")


def _short(lam):
    if lam.shape[0] == 1:
        return f"{lam[0]: .4f}"
    return f"[{lam.min():.3g} .. {lam.max():.3g}] (mean {lam.mean():.3g})"
