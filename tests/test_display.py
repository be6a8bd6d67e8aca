"""HistoryDisplay: draws the history it is given, returns its axes."""
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from hoag_shine import HistoryDisplay, HyperOptimizer  # noqa: E402
from hoag_shine.registry import load_dataset  # noqa: E402


def record(k, lam, loss, accepted, time):
    return {"iteration": k, "log_alpha": np.atleast_1d(lam), "outer_loss": loss,
            "accepted": accepted, "time": time}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_hand_made_history_with_rejections():
    history = [record(0, 0.0, 10.0, True, 0.1), record(1, 3.0, 30.0, False, 0.2),
               record(2, 1.0, 8.0, True, 0.3), record(3, 2.0, np.inf, False, 0.4),
               record(4, 1.5, 7.5, True, 0.5)]
    display = HistoryDisplay(history, name="toy").plot()
    assert display.axes_.shape == (2,)
    assert display.figure_ is display.axes_[0].figure
    lam_line, time_line = display.accepted_lines_
    np.testing.assert_array_equal(lam_line.get_xdata(), [0.0, 1.0, 1.5])
    np.testing.assert_array_equal(lam_line.get_ydata(), [10.0, 8.0, 7.5])
    np.testing.assert_array_equal(time_line.get_xdata(), [0.1, 0.3, 0.5])
    # the infinite rejected loss is not drawn; the finite one is
    for markers in display.rejected_markers_:
        np.testing.assert_array_equal(markers.get_ydata(), [30.0])
    np.testing.assert_array_equal(display.rejected_markers_[0].get_xdata(), [3.0])
    for answer in display.answer_markers_:
        np.testing.assert_array_equal(answer.get_ydata(), [7.5])
    assert display.axes_[0].get_xlabel() == "log(alpha)"
    assert display.axes_[1].get_xlabel() == "time (s)"
    assert lam_line.get_label() == "toy"
    assert display.rejected_markers_[0].get_label() == "toy: rejected steps"


def test_from_estimator_draws_its_history_on_given_axes():
    X, y = load_dataset("breast-cancer")
    clf = HyperOptimizer("shine", regularization="per-feature", max_iter=6,
                         random_state=0).fit(X, y)
    fig, axes = plt.subplots(1, 2)
    display = HistoryDisplay.from_estimator(clf, ax=axes)
    assert list(display.axes_) == list(axes)
    accepted = [r for r in clf.history_ if r["accepted"]]
    np.testing.assert_allclose(display.accepted_lines_[0].get_xdata(),
                               [np.mean(r["log_alpha"]) for r in accepted])
    # the star is the returned point, which need not be the last accepted one
    np.testing.assert_allclose(display.answer_markers_[0].get_xdata(),
                               [np.mean(clf.log_alpha_)])
    assert sum(r["answer"] for r in clf.history_) == 1
    np.testing.assert_allclose(display.accepted_lines_[1].get_ydata(),
                               [r["outer_loss"] for r in accepted])
    assert len(display.rejected_markers_[0].get_xdata()) == \
        sum(not r["accepted"] for r in clf.history_)
    assert display.axes_[0].get_xlabel() == "mean log(alpha)"
    assert display.accepted_lines_[0].get_label() == "shine"
    fig.canvas.draw()  # renders without error


def test_errors():
    with pytest.raises(NotFittedError):
        HistoryDisplay.from_estimator(HyperOptimizer())
    with pytest.raises(ValueError, match="two Axes"):
        _, ax = plt.subplots()
        HistoryDisplay([record(0, 0.0, 1.0, True, 0.1)]).plot(ax=ax)
    with pytest.raises(ValueError, match="no finite outer loss"):
        HistoryDisplay([record(0, 0.0, np.inf, False, 0.1)]).plot()


def test_matplotlib_is_optional():
    code = "import sys, hoag_shine; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
