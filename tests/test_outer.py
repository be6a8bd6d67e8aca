"""The HOAG loop on synthetic criteria whose minimiser and trouble spots are known."""
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from hoag_shine import TOLERANCE_SCHEDULES, hoag


def _result(grad):
    return SimpleNamespace(n_inner_iter=1, n_grad_evals=1, n_hvp=0, time_forward=0.0,
                           time_backward=0.0, coef=np.zeros(2), intercept=0.0, grad=grad)


class FakeCriterion:
    """``loss(lam) = 1 + sum(curv * (lam - target)^2)``, optionally NaN in a region."""

    def __init__(self, target, curv=1.0, bad=None, noise=0.0):
        self.target = np.asarray(target, dtype=float)
        self.curv = curv
        self.bad = bad
        self.noise = noise
        self.calls = []

    def initial_state(self, log_alpha):
        return ["state0"]

    def evaluate(self, log_alpha, eps, states, outer_step=None):
        self.calls.append((np.array(log_alpha), eps, states))
        loss = 1.0 + np.sum(self.curv * (log_alpha - self.target) ** 2)
        grad = 2 * self.curv * (log_alpha - self.target) + self.noise * eps
        if self.bad is not None and self.bad(log_alpha):
            loss, grad = np.nan, np.full_like(grad, np.nan)
        return loss, grad, [_result(grad)], [f"state at {log_alpha}"]


@pytest.mark.parametrize("target", [[-4.5], [3.0], [1.0, -2.0, 0.5]])
@pytest.mark.parametrize("curv", [0.1, 1.0, 20.0])
def test_converges_on_quadratic(target, curv):
    res = hoag(FakeCriterion(target, curv), np.zeros(len(target)), max_iter=200, tol=1e-8)
    np.testing.assert_allclose(res.log_alpha, target, atol=1e-5)
    assert res.message == "step below tol"


def test_first_step_has_unit_length():
    crit = FakeCriterion([-10.0])
    hoag(crit, np.zeros(1), max_iter=2)
    np.testing.assert_allclose(crit.calls[1][0], [-1.0])


def test_rejection_restores_previous_lambda_and_state():
    """A step into a NaN region is rejected: the next trial starts from the last accepted point."""
    crit = FakeCriterion([-6.0], bad=lambda lam: lam[0] < -1.5)
    res = hoag(crit, np.zeros(1), max_iter=40, tol=1e-10)
    hist = res.history
    rejected = [i for i, r in enumerate(hist) if not r["accepted"]]
    assert len(rejected) >= 2, "the NaN region must cause rejections"
    for i in (i for i in rejected if i + 1 < len(hist)):
        last_ok = max(j for j in range(i) if hist[j]["accepted"])
        prev_step = hist[i]["log_alpha"] - hist[last_ok]["log_alpha"]
        next_step = hist[i + 1]["log_alpha"] - hist[last_ok]["log_alpha"]
        # same direction, half the length, from the accepted point
        np.testing.assert_allclose(next_step, prev_step / 2)
        # the tolerance is halved on top of the schedule
        sched = TOLERANCE_SCHEDULES["exponential"](1e-3, 0.9, i + 1)
        assert hist[i + 1]["tolerance"] <= sched / 2 * (1 + 1e-12)
        # the warm-start state is the accepted one, not the rejected one
        assert crit.calls[i + 1][2] == [f"state at {hist[last_ok]['log_alpha']}"]
    assert np.all(np.isfinite(res.log_alpha)) and res.log_alpha[0] >= -1.5
    assert np.isfinite(res.outer_loss)


def test_sharp_increase_is_rejected():
    crit = FakeCriterion([0.3], curv=50.0)
    res = hoag(crit, np.zeros(1), max_iter=3, tol=0)
    # first step has length 1 and overshoots far: loss 1 + 50 * 0.49 >> 1.2 * (1 + 50 * 0.09)
    assert [r["accepted"] for r in res.history] == [True, False, True]


def test_bounds_are_respected_and_stop_at_bound():
    res = hoag(FakeCriterion([-30.0]), np.zeros(1), bounds=(-5.0, 5.0), max_iter=100)
    assert all(-5.0 <= r["log_alpha"][0] <= 5.0 for r in res.history)
    np.testing.assert_allclose(res.log_alpha, [-5.0])
    assert res.message == "step below tol"


def test_non_finite_start_warns_and_returns():
    crit = FakeCriterion([1.0], bad=lambda lam: True)
    with pytest.warns(ConvergenceWarning, match="could not start"):
        res = hoag(crit, np.zeros(1), max_iter=5)
    assert res.n_iter == 1 and res.outer_loss == np.inf


def test_callback_stops_and_is_not_timed():
    seen = []

    def callback(state):
        seen.append(state["iteration"])
        return state["iteration"] == 3

    res = hoag(FakeCriterion([-4.0]), np.zeros(1), max_iter=30, callback=callback)
    assert seen == [0, 1, 2, 3] and res.n_iter == 4
    assert res.message == "stopped by the callback"


@pytest.mark.parametrize("name, expected", [
    ("exponential", [1e-3, 0.9e-3, 0.81e-3]),
    ("quadratic", [1e-3, 1e-3 / 4, 1e-3 / 9]),
    ("cubic", [1e-3, 1e-3 / 8, 1e-3 / 27]),
    ("constant", [1e-3, 1e-3, 1e-3]),
])
def test_tolerance_schedules(name, expected):
    crit = FakeCriterion([-40.0])
    res = hoag(crit, np.zeros(1), max_iter=3, tolerance_decrease=name, tolerance_factor=0.9)
    np.testing.assert_allclose([r["tolerance"] for r in res.history], expected)
