"""The state of the HOAG loop between evaluations, and the rules that move it.

:class:`_Search` holds the current point, the trusted points, the pending
trial and the trust radius; its methods are the loop's decisions: propose a
step, judge a trial, refresh a point whose verdict is uncertain, confirm a
stop and verify the answer. :func:`~hoag_shine.hoag` runs them (see
:mod:`hoag_shine.outer.loop` for what the loop guarantees).
"""
from dataclasses import replace

import numpy as np

from .acceptance import ACCEPT, REJECT, UNCERTAIN

#: factor of eps after a rejected step; after an uncertain one, the factor
#: that should bring the uncertainties below the decrease, within these limits
REJECT_TIGHTEN, UNCERTAIN_TIGHTEN, MIN_TIGHTEN = 0.5, 0.25, 0.01
#: largest factor of eps for the evaluations that confirm a stop and verify
#: the answer (tighter when the loss resolution asks for it)
CONFIRM_TIGHTEN = 0.25
#: the model's promise of no progress is believed once the last accepted step
#: gained less than this many loss resolutions
GAIN_FACTOR = 10.0
#: the run stops when the trust radius, in log(alpha), falls below this: a
#: change of alpha by 0.1 % is of no use to anyone
MIN_RADIUS = 1e-3
#: evaluations at the end of a budget of ``max_iter >= 10 VERIFY_RESERVE`` that
#: only the verification of the answer and of the start may use
VERIFY_RESERVE = 2
#: a point that is not the answer is verified only when its loss interval,
#: this many calibrated uncertainties wide below its value, reaches the answer's
VERIFY_MARGIN = 2.0


class _Search:
    """The trust-region search over the strengths: its state and its rules.

    ``current`` is the last accepted point, ``trusted`` every accepted point
    (the start first), ``model`` the secant pairs, ``radius`` the trust
    radius. ``pending`` holds a trial to judge again after one of its two
    points was solved again: ``(candidate, step, index of its record or None,
    whether the re-solve failed to halve the uncertainty)``.
    """

    def __init__(self, run, rule, test, bounds, tol, start):
        self.run, self.rule, self.test, self.bounds, self.tol = run, rule, test, bounds, tol
        self.current, self.trusted = start, [start]
        self.model, self.radius = rule.new_model(), rule.initial_radius
        self.pending = None
        self.rejects = 0  # consecutive rejected steps from the current point
        self.last_gain = np.inf  # decrease of the corrected loss at the last accepted step
        self.last_step = rule.initial_radius  # length of the last accepted step
        self.confirmed = False  # the current point was re-evaluated accurately to stop
        self.final = False  # verification of the answer began
        self.tightened = None  # the tolerance of the verifications

    # -- the loop -------------------------------------------------------------

    def loop(self):
        """Propose and judge steps until a stop; return the ``stop_reason``."""
        run = self.run
        while self._left():
            if self.pending is None:
                step = self._propose()
                stop = self._stop_reason(step)
                if stop is not None and not self.confirmed:
                    if self.confirm(converged=stop in ("tol", "bounds")):
                        return "callback"
                    continue
                if stop is not None:
                    return stop
                trial = (run.evaluate(step.target, self.current.states,
                                      self._trial_eps(step)), step, None, False)
            else:
                trial, self.pending = self.pending, None
            if self.judge(*trial):
                return "callback"
        if self.pending is not None and self.pending[2] is None:
            # a re-solve that the budget left no evaluation to judge against
            self.run.record(self.pending[0], UNCERTAIN, self.radius,
                            self.run.best(self.trusted))
        return "max_iter"

    def _left(self):
        """Whether the loop may evaluate again: the last evaluations of a long
        budget are kept for the verification of the answer and of the start."""
        reserve = min(VERIFY_RESERVE, self.run.max_iter // 10)
        return self.run.k < self.run.max_iter - reserve

    def _propose(self):
        return self.rule.propose(self.current.lam, self.current.grad, self.radius,
                                 self.bounds, self.model)

    def _stop_reason(self, step):
        """Why the run may stop before ``step``, or None to take it."""
        if step.model_length == 0.0:
            low, high = self.bounds
            lam, grad = self.current.lam, self.current.grad
            pushed = ((lam <= low) & (grad > 0)) | ((lam >= high) & (grad < 0))
            return "bounds" if pushed.any() else "tol"
        resolution = self.tol * abs(self.current.estimate.value)
        # a model that promises nothing right after a step that gained much
        # may have been fitted across a bend of the loss: it is not believed
        # until a step has gained little
        if len(self.model) and step.model_decrease <= resolution \
                and self.last_gain <= GAIN_FACTOR * resolution:
            return "tol"
        if self.radius < MIN_RADIUS:
            return "radius"
        return None

    def judge(self, candidate, step, index, stalled):
        """Accept, reject or doubt a trial; return True when the callback stops."""
        run, current = self.run, self.current
        s_step = candidate.lam - current.lam
        verdict = self.test.judge(run.scaled(current), run.scaled(candidate)) \
            if candidate.finite else REJECT
        if verdict == UNCERTAIN and stalled:
            verdict = REJECT  # solving again does not reduce the doubt: not trusted
        self._adapt(verdict, current, candidate, step)
        if verdict != UNCERTAIN and candidate.finite:
            self.rule.update_model(self.model, s_step, candidate.grad - current.grad)
        if index is None:
            best = run.best(self.trusted + [candidate] if verdict == ACCEPT else self.trusted)
            stop = run.record(candidate, verdict, self.radius, best)
            index = len(run.history) - 1
        else:
            stop = run.amend(index, verdict)  # judged again after a re-solve
        change = current.estimate.value - candidate.estimate.value
        if candidate.finite and abs(change) <= self.tol * abs(current.estimate.value):
            # a trial that changed the loss by less than the precision shows
            # the model's promise of little gain to be believable
            self.last_gain = min(self.last_gain, abs(change))
        if verdict == ACCEPT:
            self.last_gain = change
            self.last_step = float(np.linalg.norm(s_step))
            self.current, self.confirmed, self.rejects = candidate, False, 0
            self.trusted.append(candidate)
            _release_memories(run, self.trusted)
        if stop or not self._left():
            return stop
        if verdict == REJECT:
            return self._after_reject(current, candidate, s_step)
        if verdict == UNCERTAIN:
            return self._after_uncertain(current, candidate, step, index)
        return False

    def _adapt(self, verdict, current, candidate, step):
        """The radius and the tolerance after a verdict."""
        run = self.run
        if verdict == ACCEPT:
            change = current.estimate.value - candidate.estimate.value
            # a step cut by the bounds may promise nothing to first order
            ratio = change / step.predicted if step.predicted > 0 else np.inf
            self.radius = self.rule.next_radius(self.radius, step.length(current.lam), ratio)
        elif verdict == REJECT:
            self.radius = self.rule.next_radius(self.radius, step.length(current.lam), -np.inf)
            run.tighten *= REJECT_TIGHTEN

    def _after_reject(self, current, candidate, s_step):
        self.rejects += 1
        contradicts = candidate.finite and bool(
            np.dot(current.grad, s_step) < 0 and np.dot(candidate.grad, s_step) < 0)
        if contradicts or self.rejects >= 2:
            # slopes and values disagree, or the step failed twice: the
            # hypergradient here is not to be trusted; the tolerance has
            # tightened and the next rung (if any) is more accurate
            stop, _ = self.refresh(self.run.level + 1)
            return stop
        return False

    def _after_uncertain(self, current, candidate, step, index):
        run = self.run
        if run.level < run.top_level:
            # a loss too uncertain to decide on: first a more accurate
            # backward pass, whose loss correction is more accurate too, then
            # tighter solves
            # the candidate's hypergradient is of the lower rung: a new step
            # is proposed from the current point, with hypergradients of one
            # rung only in the model
            stop, _ = self.refresh(run.level + 1)
            return stop
        # tighten the point solved again enough for the uncertainties to fall
        # below the decrease; the tightening is for this decision only
        change = max(abs(current.estimate.value - candidate.estimate.value),
                     self.tol * abs(current.estimate.value))
        factor = float(np.clip(0.5 * change / (
            run.scaled(current).uncertainty + run.scaled(candidate).uncertainty),
            MIN_TIGHTEN, UNCERTAIN_TIGHTEN))
        if candidate.estimate.uncertainty >= current.estimate.uncertainty:
            # solve the candidate again, warm-started, and judge it again
            again = run.evaluate(candidate.lam, candidate.states, factor * candidate.eps)
            run.calibrate(candidate, again)
            self.pending = (again, step, None, _stalled(candidate, again))
            return False
        stop, surprised = self.refresh(eps=factor * current.eps)
        if not surprised:
            self.pending = (candidate, step, index, _stalled(current, self.current))
        # else the current loss moved: a new step is proposed from it
        return stop

    def _eps_now(self):
        """The tolerance of the loop now: the schedule's, or the current point's if tighter."""
        return min(self.run.eps, self.current.eps)

    def _accurate_eps(self, point):
        """Tolerance of a confirmation or verification of ``point``.

        Tight enough for its calibrated uncertainty to fall to a quarter of
        the resolution ``tol * |loss|`` (estimated from its uncertainty per
        unit of tolerance), and at least ``1 / CONFIRM_TIGHTEN`` (4) times
        tighter than the loop's tolerance now, at most ``1 / MIN_TIGHTEN``
        (100) times.
        """
        eps = self._eps_now()
        scaled = self.run.scaled(point)
        if scaled.uncertainty <= 0:
            return CONFIRM_TIGHTEN * eps
        needed = 0.25 * self.tol * abs(scaled.value) * point.eps / scaled.uncertainty
        return float(np.clip(needed, MIN_TIGHTEN * eps, CONFIRM_TIGHTEN * eps))

    def _trial_eps(self, step):
        """Tolerance of a step's trial: the schedule's, or tighter when the decision needs it.

        The trial's loss should be known to a quarter of the decrease the step
        promises, so that its verdict is not "uncertain". The uncertainty of
        the current point per unit of tolerance (calibrated) estimates the
        tolerance that achieves it; the trial is never more than
        ``1 / MIN_TIGHTEN`` times tighter than the schedule.
        """
        eps = self.run.eps
        current = self.run.scaled(self.current)
        if current.uncertainty <= 0 or step.predicted <= 0:
            return eps
        # a decrease below the resolution needs no better resolution than it
        promised = max(step.predicted, self.tol * abs(current.value))
        needed = 0.25 * promised * self.current.eps / current.uncertainty
        return float(np.clip(needed, MIN_TIGHTEN * eps, eps))

    # -- re-evaluations of the current point ----------------------------------

    def refresh(self, level=None, decision="refresh", eps=None):
        """Evaluate the current point again: tighter, maybe with a higher rung.

        Returns whether the callback asked to stop, and whether the new loss
        fell outside the calibrated uncertainties of the old one.
        """
        run = self.run
        if level is not None and min(level, run.top_level) > run.level:
            run.level = min(level, run.top_level)
            # pairs shaped by the less accurate hypergradient are dropped
            self.model = self.rule.new_model()
        previous = self.current
        again = replace(run.evaluate(previous.lam, previous.states,
                                     min(run.eps, previous.eps) if eps is None else eps),
                        verified=decision == "confirm")
        self.confirmed, self.rejects = True, 0
        if not again.finite:
            # a loss or hypergradient that is not finite at a tighter solve:
            # the point keeps its earlier evaluation
            return run.record(again, decision, self.radius, run.best(self.trusted)), False
        self.current = self.trusted[-1] = again
        surprised = run.calibrate(previous, self.current)
        if surprised:
            # the decisions since the last evaluation of this point rested on
            # a loss that was off by more than its uncertainty: the model is
            # dropped and the radius no shorter than the last accepted step
            self.model = self.rule.new_model()
            self.radius = min(max(self.radius, self.last_step), self.rule.max_radius)
        stop = run.record(self.current, decision, self.radius, run.best(self.trusted))
        return stop, surprised

    def confirm(self, converged):
        """Re-evaluate the current point accurately before a stop; True if the callback stops.

        A vanishing hypergradient from a loose inner solve or an approximate
        backward pass, a secant model fitted across a long step, or a radius
        that collapsed after failures is no proof of an optimum: the point is
        solved again more tightly (:meth:`_accurate_eps`), with the most
        accurate rung, and
        the stop is decided again from there. The evaluation also verifies
        the point as a candidate answer.
        """
        model = self.model
        stop, surprised = self.refresh(self.run.top_level, decision="confirm",
                                       eps=self._accurate_eps(self.current))
        if converged and not surprised:
            self.model = model  # the pairs still describe the loss's curvature
        # the radius may have shrunk on steps that the less accurate
        # hypergradient proposed
        floor = self.last_step if converged else self.rule.initial_radius
        self.radius = min(max(self.radius, floor), self.rule.max_radius)
        return stop

    # -- the answer -----------------------------------------------------------

    def verify(self):
        """Evaluate the candidates for the answer accurately, as far as they may win.

        The best trusted point is verified first (unless the stop was
        confirmed there); the start is then solved again once, as tightly as
        telling it from the answer needs; the current point and the start
        are verified at the answer's tolerance only when their calibrated
        loss intervals, ``VERIFY_MARGIN`` uncertainties wide, reach below the
        verified answer's upper bound. Each verification is as tight as
        :meth:`_accurate_eps` says, with the most accurate rung, and
        counts toward ``max_iter``; without budget left the answer is chosen
        among the trusted points as they were evaluated.
        """
        run = self.run
        if len(self.trusted) == 1:
            return
        best = run.best(self.trusted)
        if not best.verified:
            if not run.left:
                return
            self._verify_point(best)
        self.final = True
        start = self.trusted[0]
        for point in (self.trusted[-1], start):
            # first only as tightly as separating the point from the answer
            # needs (the start always: its first, loosest evaluation is the one
            # whose uncertainty is least to be trusted), then, if that did not
            # separate them, with the answer's own tolerance
            for separate in (True, False):
                if point.verified or not run.left:
                    break
                if self._clearly_worse(point) and not (separate and point is start):
                    break
                point = self._verify_point(point, separate)

    def _clearly_worse(self, point):
        """Whether the point's calibrated loss interval lies above the answer's.

        Never when an inner solve of the run stopped short of its tolerance:
        the uncertainties are then not to be relied on, and the start and the
        current point are evaluated again as accurately as the answer.
        """
        if self.run.unsolved:
            return False
        scaled, answer = self.run.scaled(point), self.run.scaled(self.answer())
        return scaled.value - VERIFY_MARGIN * scaled.uncertainty > answer.upper

    def _verify_point(self, point, separate=False):
        """Evaluate ``point`` again with the top rung; return the new point.

        ``separate``: to the tolerance at which its uncertainty should be a
        quarter of its distance to the answer, when that is looser than the
        verification's (the new point is then not verified yet).
        """
        run = self.run
        if self.tightened is None:
            self.tightened = self._accurate_eps(point)
        run.level = run.top_level
        eps, scaled = self.tightened, run.scaled(point)
        if separate and scaled.uncertainty > 0:
            gap = scaled.value - run.scaled(self.answer()).value
            eps = max(eps, min(UNCERTAIN_TIGHTEN * point.eps,
                               0.25 * gap / scaled.uncertainty * point.eps))
        again = replace(run.evaluate(point.lam, point.states, eps),
                        verified=eps <= self.tightened)
        if not again.finite:
            # not finite when solved more tightly: the point keeps its earlier
            # evaluation and competes with it only if no point is verified
            run.record(again, REJECT, self.radius, run.best(self.trusted))
            return point
        self.trusted = [again if p is point else p for p in self.trusted]
        run.record(again, "verify", self.radius, run.best(self.trusted))
        return again

    def answer(self):
        """The answer: once the best point was verified, the verified point of
        lowest upper bound (the others were evaluated more loosely); before,
        the trusted point of lowest upper bound."""
        verified = [p for p in self.trusted if p.verified] if self.final else []
        return self.run.best(verified or self.trusted)


def _release_memories(run, trusted):
    """Let trusted points other than the current and the best drop their memories.

    Their L-BFGS memories (``2 m n_coef`` floats per split) would only serve
    to warm-start a re-evaluation (the final verification of the start);
    they keep ``w`` and ``q`` as warm starts. The criterion does it when it
    has a ``lighten(states, results)`` method.
    """
    lighten = getattr(run.criterion, "lighten", None)
    if lighten is None:
        return
    keep = {id(trusted[-1]), id(run.best(trusted))}
    for i, point in enumerate(trusted):
        if id(point) not in keep and not point.light:
            states, results = lighten(point.states, point.results)
            trusted[i] = replace(point, states=states, results=results, light=True)
            run.moved(point, trusted[i])


def _stalled(before, after):
    """Whether solving a point again failed to halve the uncertainty of its loss.

    A re-solve whose warm start already met the tighter tolerance (no inner
    iteration) has not been tried yet: it is not stalled, and the next
    uncertain verdict tightens it further.
    """
    worked = any(r.n_inner_iter > 0 for r in after.results)
    return worked and after.estimate.uncertainty > 0.5 * before.estimate.uncertainty
