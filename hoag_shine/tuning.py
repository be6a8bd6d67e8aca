"""How a fit tunes its strengths: one HOAG run, or one strength and then many, judged.

:func:`tune` runs HOAG on the splits of a fit. :func:`tune_many` tunes one
strength, then the many strengths (per-feature or grouped) without a part of
the held-out samples, and keeps them only when they beat the one strength
there, tuning them again on all the samples; otherwise it keeps the one
strength, with a :class:`ScalarFallbackWarning`. Each run is a stage of the
fit's history. The estimator's parameters are read from ``est``, the
:class:`~hoag_shine.HyperOptimizer` being fitted.
"""
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from time import perf_counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import check_random_state

from .model.problem import InnerProblem
from .outer.criterion import HeldOutCriterion
from .outer.escalation import BackwardEscalation
from .outer.loop import hoag
from .solver.newton import solve_tightly

#: distance to a bound, as a fraction of the box's width, that counts as "at the bound"
NEAR_BOUND = 0.01
#: many strengths are kept when their loss on the held-out samples set aside is
#: lower than one strength's by more than CHECK_Z standard errors of the
#: difference: 3 rather than a normal test's 2, the per-sample differences of a
#: log-loss being heavy-tailed (a few confidently wrong samples dominate them)
CHECK_Z = 3.0
#: fewest evaluations worth a run of many strengths after the run of one
MIN_MANY_EVALUATIONS = 3
#: evaluations kept for tuning kept strengths again on all the samples
AGAIN_RESERVE = 5
#: fewest samples set aside on which a comparison is made
MIN_CHECK_SAMPLES = 20
#: the run of many strengths resolves its loss to this fraction of the sampling
#: error of the held-out loss (or to tol, if finer): the comparison on the
#: samples set aside cannot see finer differences
MANY_TOL_FRACTION = 0.1


class ScalarFallbackWarning(UserWarning):
    """Per-feature or grouped strengths were not kept; one strength for all features was.

    Raised by :meth:`HyperOptimizer.fit` when the many strengths did not
    beat one strength on the held-out samples set aside for that comparison
    (see ``check_fraction``), or could not be tuned; ``fallback_`` is then
    True and ``selection_`` holds the comparison.
    """


def tune(est, setup, groups, splits, lam0, max_iter, what="", initial_coef=None,
         tol=None, callback=None):
    """One HOAG run: the strengths of ``groups`` on ``splits``, (train, held-out) pairs.

    ``callback`` replaces the estimator's (None: the estimator's).
    """
    s = setup
    folds = [(InnerProblem.from_data(s.X[train], s.codes[train], groups,
                                     est.fit_intercept, n_classes=s.n_classes,
                                     sample_weight=s.weights(train)),
              s.scoring.outer_loss(s.X[part], s.codes[part], s.n_classes,
                                   est.fit_intercept, s.weights(part)))
             for train, part in splits]
    weight = sum(outer.total_weight for _, outer in folds)
    n_hyper = lam0.shape[0]
    if est.verbose:
        size = (f"{weight:.0f} held-out samples" if s.sample_weight is None
                else f"held-out weight {weight:.6g}")
        print(f"[HyperOptimizer] tuning {n_hyper} strength{'s' * (n_hyper > 1)}{what} "
              f"on {len(folds)} split{'s' * (len(folds) > 1)} ({size}): loss = "
              f"{s.scoring.name} per held-out sample, at most {max_iter} "
              "evaluations", flush=True)
    criterion = HeldOutCriterion(
        folds, s.method, memory_size=est.memory_size,
        inner_max_iter=est.inner_max_iter,
        warm_start_memory=est.warm_start_memory, n_jobs=est.n_jobs,
        initial_matrix=est.initial_matrix, initial_coef=initial_coef)
    with criterion:  # releases the workers and the fold data, also on error
        result = hoag(criterion, lam0.copy(), max_iter=max_iter,
                      tol=est.tol if tol is None else tol,
                      bounds=s.bounds, tolerance_init=est.tolerance_init,
                      tolerance_decrease=est.tolerance_decrease,
                      tolerance_factor=est.tolerance_factor,
                      callback=est.callback if callback is None else callback,
                      verbose=est.verbose, escalation=BackwardEscalation(s.method),
                      loss_scale=weight)
    # scores in the scorer's sign and scale: minus the mean loss per sample
    history = [dict(r, score=-r["outer_loss"] / weight) for r in result.history]
    return _Tuned(result=result, weight=weight, history=history, problem=folds[0][0],
                  stop_reason=result.stop_reason)


def tune_many(est, setup):
    """Many strengths, kept only when they beat one strength on samples set aside.

    The runs, each a stage of ``history_``:

    * "one": one strength on the splits as given (the answer of a scalar fit);
    * "many": ``check_fraction`` of the held-out samples set aside, out of
      every training and held-out part, the many strengths tuned from the
      one on what is left;
    * "again": when the many strengths' models beat the one strength's
      (:func:`_reference`) on the samples set aside, which neither saw, by
      more than ``CHECK_Z`` standard errors of the paired difference, the
      many strengths tuned again on the splits as given.

    Otherwise (or when a model of the comparison could not be solved to
    precision) the answer is the first run's, with a
    :class:`ScalarFallbackWarning`. The runs share ``max_iter``; "many" leaves
    ``AGAIN_RESERVE`` evaluations to "again".
    """
    s, runs = setup, _Runs()
    one = _stage(est, s, runs, "one", None, s.splits, s.lam0.mean(keepdims=True))
    splits, check = _set_aside(s, est.check_fraction, est.random_state)
    reason = _stopped(est, runs, AGAIN_RESERVE) or (None if splits is not None else check)
    if reason:
        return _fall_back(est, s, one, runs, dict(reason=reason))
    with runs.between():
        losses, weights, samples = _check_losses(
            s, s.held_out, [r.w for r in one.result.results], est.fit_intercept)
        tol = max(est.tol, MANY_TOL_FRACTION * _relative_error(losses, weights, samples))
        start, reference = _reference(est, s, splits, check, one)
    if reference is None:
        return _fall_back(est, s, one, runs, dict(reason=(
            "the one strength's models without the samples set aside could not be solved "
            "to precision (standardise X, or raise inner_max_iter)")))
    many = _stage(est, s, runs, "many", s.groups, splits,
                  np.full(s.n_hyper, one.result.log_alpha[0]), start, tol,
                  reserve=AGAIN_RESERVE)
    if many.result.stop_reason in ("callback", "not_finite"):
        return _fall_back(est, s, one, runs, dict(reason=_stopped(est, runs)))
    if not all(r.inner.success for r in many.result.results):
        return _fall_back(est, s, one, runs, dict(reason=(
            "the many strengths' models could not be solved to precision (standardise X, "
            "or raise inner_max_iter)")))
    with runs.between():
        selection = _compare_on_check(s, check, reference, [r.w for r in many.result.results],
                                      est.fit_intercept)
    if est.verbose:
        print(f"[HyperOptimizer] on {selection['check_samples']} samples set aside: loss "
              f"{selection['many_loss']:.6g} ({s.n_hyper} strengths) against "
              f"{selection['one_loss']:.6g} (one), difference {-selection['gain']:.3g} +- "
              f"{selection['std_error']:.3g}", flush=True)
    if not selection["gain"] > CHECK_Z * selection["std_error"]:
        selection["reason"] = ("the many strengths' loss on the samples set aside is not "
                               "lower by more than its uncertainty")
        return _fall_back(est, s, one, runs, selection)
    selection.update(kept="many", reason="the many strengths' loss on the samples set aside "
                     "is lower")
    if est.verbose:
        print(f"[HyperOptimizer] {s.n_hyper} strengths kept: {selection['reason']}",
              flush=True)
    again = _stage(est, s, runs, "again", s.groups, s.splits, many.result.log_alpha,
                   [r.w for r in many.result.results])
    return _finish(again, runs, selection)


def _reference(est, setup, splits, check, one):
    """The one strength's models on the training parts without the samples set aside.

    Two candidates are solved: the one strength found, and that strength
    scaled by the fraction of the training weight left (the same penalty
    per sample, as the loss is a sum over samples); the reference is the one
    whose models' loss on the samples set aside is lower, which can only
    make the comparison harder for the many strengths.

    Returns
    -------
    start : list of ndarray
        The models at the one strength found, where the many strengths start.
    reference : list of ndarray or None
        The reference models; None when neither candidate's models could all
        be solved to precision.
    """
    s, lam = setup, one.result.log_alpha
    full = sum(_weight(s, train) for train, _ in s.splits)
    shift = np.log(sum(_weight(s, train) for train, _ in splits) / full)
    problems = [InnerProblem.from_data(s.X[train], s.codes[train], None, est.fit_intercept,
                                       n_classes=s.n_classes, sample_weight=s.weights(train))
                for train, _ in splits]
    candidates, start = [], None
    for log_alpha in (lam, lam + shift):
        coefs = [_solved(problem, log_alpha, r.w, est.inner_max_iter)
                 for problem, r in zip(problems, one.result.results)]
        if start is None:
            start = [r.w if w is None else w for w, r in zip(coefs, one.result.results)]
        if any(w is None for w in coefs):
            continue
        losses, weights, _ = _check_losses(s, check, coefs, est.fit_intercept)
        if np.all(np.isfinite(losses)):
            candidates.append((np.dot(weights, losses) / weights.sum(), coefs))
    best = min(candidates, key=lambda c: c[0])[1] if candidates else None
    return start, best


def _solved(problem, log_alpha, w0, max_iter):
    """The inner solution at ``log_alpha`` to the refit's precision, from ``w0`` or else
    from zero; None when neither start reaches it."""
    for start in (w0, np.zeros(problem.n_coef)):
        w, g_norm, target = solve_tightly(problem, log_alpha, start, max_iter=max_iter)
        if g_norm <= target:
            return w
    return None


def _weight(setup, idx):
    """Total sample weight of ``idx`` (its size without weights)."""
    weights = setup.weights(idx)
    return float(idx.shape[0] if weights is None else weights.sum())


def _stage(est, setup, runs, name, groups, splits, lam0, initial_coef=None, tol=None,
           reserve=0):
    """One run of :func:`tune_many`, appended to ``runs``: its records carry ``stage``.

    The run's budget is what the previous runs left of ``max_iter``, less
    ``reserve`` evaluations kept for a later run; its
    records and the callback's states continue their numbering and time, and
    their strengths have one entry per strength of the fit.
    """
    used, offset = _used(runs), runs.elapsed()

    def widened(state):
        wide = {key: np.broadcast_to(state[key], (setup.n_hyper,)).copy()
                for key in ("log_alpha", "best_log_alpha") if key in state}
        return dict(state, **wide, stage=name, iteration=used + state["iteration"],
                    time=offset + state["time"])

    def callback(state):
        return est.callback(widened(state))

    run = tune(est, setup, groups, splits, lam0, est.max_iter - used - reserve, f" ({name})",
               initial_coef, tol, callback if est.callback is not None else None)
    run.history = [widened(r) for r in run.history]
    runs.append(run)
    return run


class _Runs(list):
    """The runs of :func:`tune_many`, and the time spent between them (in no run)."""

    outside = 0.0

    def elapsed(self):
        """Seconds since the first run started, as the records count them."""
        last = self[-1].history[-1]["time"] if self and self[-1].history else 0.0
        return last + self.outside

    @contextmanager
    def between(self):
        """Count the time of the block as spent between runs."""
        start = perf_counter()
        try:
            yield
        finally:
            self.outside += perf_counter() - start


def _used(runs):
    """Evaluations the runs used."""
    return sum(run.result.n_iter for run in runs)


def _stopped(est, runs, reserve=0):
    """Why no further run can follow ``runs``, with ``reserve`` evaluations kept for a
    later one (None when one can)."""
    last = runs[-1]
    if last.result.stop_reason in ("callback", "not_finite"):
        return f"the run \"{last.history[-1]['stage']}\" stopped ({last.result.stop_reason})"
    left = est.max_iter - _used(runs) - reserve
    if left < MIN_MANY_EVALUATIONS:
        return (f"max_iter={est.max_iter} leaves {max(left, 0)} evaluations for the next "
                f"run ({_used(runs)} used, {reserve} kept for the last; it needs "
                f"{MIN_MANY_EVALUATIONS})")
    return None


def _finish(answer, runs, selection):
    """The answer's run, with every run's records in its history and the selection."""
    history = []
    for run in runs:
        for r in run.history:
            r["answer"] = r["answer"] and run is answer
        history += run.history
    stopped = [run.result.stop_reason for run in runs if run.result.stop_reason == "callback"]
    return replace(answer, history=history, selection=selection,
                   stop_reason=stopped[0] if stopped else answer.result.stop_reason)


def _fall_back(est, setup, one, runs, selection):
    """The run of one strength as the answer, with a ScalarFallbackWarning."""
    selection["kept"] = "one"
    if est.verbose:
        print(f"[HyperOptimizer] one strength kept: {selection['reason']}", flush=True)
    detail = ""
    if "gain" in selection:
        detail = (f" (loss per sample there {selection['many_loss']:.6g} against "
                  f"{selection['one_loss']:.6g}, difference {-selection['gain']:.2g} +- "
                  f"{selection['std_error']:.2g})")
    warnings.warn(f"HyperOptimizer: the {setup.n_hyper} strengths were not kept: "
                  f"{selection['reason']}{detail}; one strength for all features is "
                  "(fallback_ is True)", ScalarFallbackWarning, stacklevel=5)
    return _finish(one, runs, selection)


def warn_if_gave_up(result, bounds, max_iter, from_start=True):
    """ConvergenceWarning for the ways a HOAG run can end short of an optimum.

    ``max_iter`` is the fit's; ``from_start`` says whether the run started at
    ``lambda_init`` (the last run of many strengths starts elsewhere).
    """
    reasons = []
    lam, grad = result.log_alpha, result.grad
    # "near": within 1% of the box's width, where a step toward the bound
    # would be cut by it
    near = NEAR_BOUND * (bounds[1] - bounds[0])
    for side, value, outward in (("lower", bounds[0], grad > 0),
                                 ("upper", bounds[1], grad < 0)):
        hit = np.abs(lam - value) <= near
        if not hit.any():
            continue
        where = (f"{hit.sum()} of {lam.shape[0]} log(alpha)" if lam.shape[0] > 1
                 else f"log(alpha) = {lam[0]:.4g}")
        pushing = hit & outward
        if pushing.any():
            reasons.append(f"{where} ended at or near the {side} bound {value:g} with the "
                           f"outer loss still decreasing toward it ({pushing.sum()} "
                           "pushing outward); widen lambda_bounds")
        else:
            reasons.append(f"{where} ended at or near the {side} bound {value:g}, but the "
                           "outer loss was not decreasing toward it")
    if result.stop_reason == "max_iter":
        reasons.append(f"the outer loop stopped at max_iter={max_iter} evaluations "
                       "before it could show that less than tol was left to gain; raise "
                       "max_iter")
    if result.stop_reason in ("start", "earlier"):
        answer = "lambda_init" if result.stop_reason == "start" else "an earlier point"
        reasons.append(f"the strengths the outer loop stopped at were worse than {answer} "
                       f"by more than tol once solved accurately, so the answer is {answer}; "
                       "standardise X (on features of very different scales loosely solved "
                       "losses mislead the loop) or lower tolerance_init")
    tried = any(r["decision"] in ("reject", "uncertain") for r in result.history)
    if from_start and tried and result.stop_reason not in ("bounds", "start") \
            and np.array_equal(lam, result.history[0]["log_alpha"]):
        reasons.append("no step decreased the outer loss by more than its uncertainty; "
                       "the strengths stayed at lambda_init")
    for r in result.results:
        if not r.inner.success:
            reasons.append("the inner solver did not reach its tolerance at the final "
                           f"strengths ({r.inner.message}); raise inner_max_iter or "
                           "loosen tolerance_init")
            break
    else:
        if result.unsolved:
            reasons.append("the inner solver stopped short of its tolerance at some "
                           "evaluated strengths, so the losses compared there, the start's "
                           "included, may be off by more than their uncertainties; "
                           "standardise X (features of very different scales make the "
                           "inner problem ill-conditioned) or raise inner_max_iter")
    for reason in reasons:
        warnings.warn(f"HyperOptimizer: {reason}.", ConvergenceWarning, stacklevel=4)


@dataclass
class Setup:
    """What every run of a fit shares: the validated data, the strengths' layout, the splits."""

    X: object
    codes: np.ndarray
    sample_weight: object
    n_classes: int
    groups: object
    n_hyper: int
    lam0: np.ndarray
    bounds: tuple
    method: object
    scoring: object
    splits: list

    @property
    def held_out(self):
        """The held-out part of each split."""
        return [test for _, test in self.splits]

    def weights(self, idx):
        """The sample weights of the samples ``idx`` (None without weights)."""
        return None if self.sample_weight is None else self.sample_weight[idx]


@dataclass
class _Tuned:
    """One HOAG run of a fit: its result, held-out weight, history and first split's problem."""

    result: object
    weight: float
    history: list
    problem: object
    stop_reason: str
    selection: object = None


def _set_aside(setup, fraction, random_state):
    """Set ``fraction`` of the held-out samples aside, out of every split.

    The samples are drawn among the held-out samples of positive weight,
    class by class where every class allows it, seeded by ``random_state``
    (0 when None: the same splits give the same draw); at least
    ``MIN_CHECK_SAMPLES`` are drawn, and at least one is left. They leave
    every part of every split:
    with cross-validation a sample held out by one split trains the others,
    and the many strengths, chosen on all of them, must not have seen it.

    Returns
    -------
    splits : list of (ndarray, ndarray), or None
        The (training, held-out) parts of each split without them; None
        when fewer than ``MIN_CHECK_SAMPLES`` would be drawn, or a part would
        lose every sample of positive weight, or a training part a class.
    check : list of ndarray, or str
        The samples set aside among each split's held-out part; when
        ``splits`` is None, why.
    """
    rng = check_random_state(0 if random_state is None else random_state)
    held = np.unique(np.concatenate(setup.held_out))
    weights = setup.weights(held)
    positive = held if weights is None else held[weights > 0]
    n_check = min(int(round(fraction * positive.shape[0])), positive.shape[0] - 1)
    if n_check < MIN_CHECK_SAMPLES:
        return None, (f"check_fraction={fraction:g} of the {positive.shape[0]} held-out "
                      f"samples of positive weight sets aside fewer than "
                      f"{MIN_CHECK_SAMPLES}")
    try:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_check, random_state=rng)
        _, chosen = next(splitter.split(positive, setup.codes[positive]))
    except ValueError:  # a class too small to be on both sides
        chosen = rng.permutation(positive.shape[0])[:n_check]
    aside = np.sort(positive[chosen])
    splits, check = [], []
    for i, (train, part) in enumerate(setup.splits):
        train, kept = np.setdiff1d(train, aside), np.setdiff1d(part, aside)
        if _positive(setup, kept).shape[0] == 0:
            return None, (f"setting {n_check} held-out samples aside leaves the held-out "
                          f"part of split {i} empty")
        if np.unique(setup.codes[_positive(setup, train)]).shape[0] < setup.n_classes:
            return None, (f"setting {n_check} held-out samples aside takes a class out of "
                          f"the training part of split {i}")
        splits.append((train, kept))
        check.append(np.intersect1d(part, aside))
    return splits, check


def _positive(setup, idx):
    """The samples of ``idx`` of positive weight."""
    weights = setup.weights(idx)
    return idx if weights is None else idx[weights > 0]


def _check_losses(setup, check, coefs, fit_intercept):
    """Losses of each split's model ``coefs`` on its samples ``check``, weights and indices."""
    losses, weights, samples = [], [], []
    for part, w in zip(check, coefs):
        part = _positive(setup, part)
        if part.shape[0] == 0:
            continue
        outer = setup.scoring.outer_loss(setup.X[part], setup.codes[part], setup.n_classes,
                                         fit_intercept, setup.weights(part))
        losses.append(outer.pointwise.loss(outer.matvec(w)))
        weights.append(np.ones(part.shape[0]) if outer.sample_weight is None
                       else outer.sample_weight)
        samples.append(part)
    return np.concatenate(losses), np.concatenate(weights), np.concatenate(samples)


def _compare_on_check(setup, check, one, many, fit_intercept):
    """Loss per sample of two sets of split models on the samples set aside, and their difference.

    A sample held out by several splits counts once, with the mean of its
    losses. ``one_loss`` and ``many_loss`` are the weighted mean losses of
    the models ``one`` and ``many``; ``gain`` is their difference (how much
    lower ``many``'s is), ``std_error`` its standard error, the samples'
    paired differences taken as independent draws, weighted, with Bessel's
    correction.
    """
    one_loss, weights, samples = _check_losses(setup, check, one, fit_intercept)
    many_loss, _, _ = _check_losses(setup, check, many, fit_intercept)
    weight, (one_loss, many_loss) = _per_sample(samples, weights, one_loss, many_loss)
    mean, std_error = _mean_and_error(many_loss - one_loss, weight)
    gain = -mean if np.isfinite(mean) and np.isfinite(std_error) else -np.inf
    return dict(one_loss=_mean_and_error(one_loss, weight)[0],
                many_loss=_mean_and_error(many_loss, weight)[0], gain=gain,
                std_error=std_error, check_samples=int(weight.shape[0]))


def _per_sample(samples, weights, *values):
    """Weights and values of the distinct ``samples``, a repeated sample's values averaged."""
    _, index = np.unique(samples, return_inverse=True)
    count = np.bincount(index)
    return (np.bincount(index, weights=weights) / count,
            [np.bincount(index, weights=v) / count for v in values])


def _mean_and_error(values, weights):
    """Weighted mean of ``values`` and its standard error.

    The values are taken as independent draws of one variance, estimated
    without bias for reliability weights (``sum w (v - mean)^2 / (W - sum
    w^2 / W)``, Bessel's correction when the weights are equal); the mean's
    variance is that times ``sum w^2 / W^2``, one over the effective number
    of samples. Infinite when one sample carries all the weight.
    """
    total, squares = weights.sum(), np.dot(weights, weights)
    mean = np.dot(weights, values) / total
    dof = total - squares / total
    if not dof > 0:
        return mean, np.inf
    variance = np.dot(weights, (values - mean) ** 2) / dof
    return mean, np.sqrt(variance * squares) / total


def _relative_error(losses, weights, samples):
    """Standard error of the mean of ``losses`` per distinct sample, relative to that mean."""
    weight, (loss,) = _per_sample(samples, weights, losses)
    mean, error = _mean_and_error(loss, weight)
    return error / abs(mean) if mean != 0 and np.isfinite(error) else 0.0
