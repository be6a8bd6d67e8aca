"""HistoryDisplay: draws the history it is given, truthfully, on the Axes it is given."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import (StratifiedShuffleSplit,  # noqa: E402
                                     ValidationCurveDisplay)

from hoag_shine import HistoryDisplay, HyperOptimizer  # noqa: E402
from hoag_shine.cli_data import load_dataset  # noqa: E402


def record(k, lam, loss, decision, time, answer=False):
    accepted = decision in ("start", "accept", "refresh", "confirm", "verify")
    return {"iteration": k, "log_alpha": np.atleast_1d(lam), "outer_loss": loss,
            "accepted": accepted, "decision": decision, "time": time, "answer": answer}


def run_with_late_checks():
    """A run whose records come out of path order, as the loop writes them.

    Record 4 was doubtful, the current point 3 was solved again (5), then 4 was judged
    again and accepted (its decision amended); the run stopped at 6 (confirmed by 7),
    and the final checks evaluated the start again (8), which lost.
    """
    return [record(0, 6.0, 40.0, "start", 0.1),
            record(1, 5.0, 30.0, "accept", 0.2),
            record(2, 3.0, 50.0, "reject", 0.3),
            record(3, 4.0, 20.0, "accept", 0.4),
            record(4, 3.5, 19.0, "accept", 0.5),
            record(5, 4.0, 20.1, "refresh", 0.6),
            record(6, 3.2, 18.0, "accept", 0.7),
            record(7, 3.2, 18.1, "confirm", 0.8, answer=True),
            record(8, 6.0, 40.2, "verify", 0.9),
            record(9, 2.0, np.inf, "reject", 1.0)]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_the_line_holds_only_the_answer_of_each_time():
    """The line follows the points in the order they became the answer and ends at the
    answer: the late check of the start and the re-solve of a point already left are
    markers off the line, the rejected trial a cross, the infinite one not drawn."""
    display = HistoryDisplay(run_with_late_checks(), name="toy").plot()
    assert display.axes_.shape == (2,) and display.ax_ is display.axes_[0]
    assert display.figure_ is display.ax_.figure
    lam_line, time_line = display.accepted_lines_
    np.testing.assert_array_equal(lam_line.get_xdata(), [6.0, 5.0, 4.0, 3.5, 3.2, 3.2])
    np.testing.assert_array_equal(lam_line.get_ydata(), [-40.0, -30.0, -20.0, -19.0, -18.0,
                                                         -18.1])
    np.testing.assert_array_equal(time_line.get_xdata(), [0.1, 0.2, 0.4, 0.5, 0.7, 0.8])
    for markers in display.reevaluated_markers_:
        np.testing.assert_array_equal(markers.get_ydata(), [-20.1, -40.2])
    for markers in display.rejected_markers_:
        np.testing.assert_array_equal(markers.get_ydata(), [-50.0])
    for star in display.answer_markers_:
        np.testing.assert_array_equal(star.get_ydata(), [-18.1])
    assert display.ax_.get_xlabel() == "log(alpha)"
    assert display.axes_[1].get_xlabel() == "time (s)"
    assert display.ax_.get_ylabel() == "\N{MINUS SIGN}held-out loss, summed"
    assert lam_line.get_label() == "toy"
    assert display.rejected_markers_[0].get_label() == "toy: rejected trials"


def test_the_answer_closes_the_line_where_the_checks_chose_another_point():
    history = run_with_late_checks()
    history[7]["answer"], history[8]["answer"] = False, True  # the start won
    display = HistoryDisplay(history).plot()
    np.testing.assert_array_equal(display.accepted_lines_[0].get_xdata()[-2:], [3.2, 6.0])
    np.testing.assert_array_equal(display.answer_markers_[0].get_xdata(), [6.0])


def test_history_without_decisions_reads_accepted():
    history = [{"log_alpha": np.array([0.0]), "outer_loss": 2.0, "accepted": True,
                "time": 0.1},
               {"log_alpha": np.array([1.0]), "outer_loss": 3.0, "accepted": False,
                "time": 0.2},
               {"log_alpha": np.array([-1.0]), "outer_loss": 1.0, "accepted": True,
                "time": 0.3}]
    display = HistoryDisplay(history).plot(negate_score=True)
    np.testing.assert_array_equal(display.accepted_lines_[0].get_ydata(), [2.0, 1.0])
    np.testing.assert_array_equal(display.answer_markers_[0].get_xdata(), [-1.0])
    assert display.ax_.get_ylabel() == "held-out loss, summed"


def _fitted(**params):
    X, y = load_dataset("breast-cancer")
    return HyperOptimizer("shine", random_state=0, **params).fit(X, y), X, y


@pytest.mark.parametrize("x", ["log_alpha", "C"])
def test_from_estimator_on_one_axes(x):
    """One Axes: the score per held-out sample against the strength, on that Axes; C on a
    log scale."""
    clf, _, _ = _fitted(regularization="per-feature", max_iter=12, check_fraction=0)
    fig, ax = plt.subplots()
    display = HistoryDisplay.from_estimator(clf, ax=ax, x=x)
    assert display.ax_ is ax and display.axes_.shape == (1,)
    assert len(ax.get_lines()) == 4 and len(fig.axes) == 1
    # the line visits the start and the accepted steps in order, staying on each for
    # its re-evaluations, every vertex an accepted record
    path = [np.mean(r["log_alpha"]) for r in clf.history_
            if r["decision"] in ("start", "accept")]
    line = display.accepted_lines_[0]
    lam = line.get_xdata() if x == "log_alpha" else -np.log(line.get_xdata())
    moves = np.r_[True, np.abs(np.diff(lam)) > 1e-12]
    np.testing.assert_allclose(lam[moves], path, rtol=1e-12)
    # the other vertices are re-evaluations of the point the line is on
    reevaluated = [r for r in clf.history_ if r["decision"] in ("refresh", "confirm", "verify")]
    assert lam.shape[0] - moves.sum() <= len(reevaluated)
    accepted = {(round(float(np.mean(r["log_alpha"])), 10), r["score"])
                for r in clf.history_ if r["accepted"]}
    assert {(round(float(a), 10), s) for a, s in zip(lam, line.get_ydata())} <= accepted
    answer = [k for k, r in enumerate(clf.history_) if r["answer"]]
    np.testing.assert_allclose(display.answer_markers_[0].get_ydata(), clf.scores_[answer])
    assert display.answer_markers_[0].get_ydata()[0] == clf.best_score_
    assert ax.get_xscale() == ("log" if x == "C" else "linear")
    assert ax.get_xlabel() == ("mean log(alpha)" if x == "log_alpha"
                               else "C = 1 / alpha (geometric mean)")
    assert ax.get_ylabel() == "\N{MINUS SIGN}log-loss per held-out sample"
    fig.canvas.draw()


def test_from_estimator_on_two_axes_with_the_scorers_name():
    clf, _, _ = _fitted(scoring="neg_brier_score", max_iter=10)
    fig, axes = plt.subplots(1, 2)
    display = HistoryDisplay.from_estimator(clf, ax=axes, negate_score=True)
    assert list(display.axes_) == list(axes)
    for axis in axes:
        assert axis.get_ylabel() == "Brier score per held-out sample"
    np.testing.assert_allclose(display.answer_markers_[1].get_ydata(), [-clf.best_score_])
    assert display.accepted_lines_[0].get_label() == "shine"


def test_drawn_over_a_validation_curve():
    """Over scikit-learn's ValidationCurveDisplay of LogisticRegression on the same split,
    with C on the same axis, the answer lies on the curve: its score is the curve's at
    C_."""
    X, y = load_dataset("breast-cancer")
    split = [next(StratifiedShuffleSplit(1, test_size=0.25, random_state=0).split(X, y))]
    clf = HyperOptimizer("cg", cv=split, lambda_init=4.0, tolerance_init=1e-9).fit(X, y)
    Cs = np.sort(np.r_[np.logspace(-3, 2, 11), clf.C_])
    curve = ValidationCurveDisplay.from_estimator(
        LogisticRegression(tol=1e-12, max_iter=10000), X, y, param_name="C",
        param_range=Cs, cv=split, scoring="neg_log_loss", score_type="test")
    display = HistoryDisplay.from_estimator(clf, ax=curve.ax_, x="C")
    assert display.ax_ is curve.ax_
    at_answer = curve.test_scores[np.flatnonzero(Cs == clf.C_[0])[0], 0]
    np.testing.assert_allclose(display.answer_markers_[0].get_ydata(), [at_answer],
                               rtol=1e-5)
    np.testing.assert_allclose(display.answer_markers_[0].get_xdata(), clf.C_)


@pytest.mark.parametrize("groups, kept", [("per-feature", "one"), ("noise", "many")])
def test_from_estimator_draws_the_run_whose_answer_was_kept(groups, kept):
    X, y = load_dataset("breast-cancer")
    X = np.asarray(X.todense()) if hasattr(X, "todense") else X
    if groups == "noise":  # one group of real columns, one of noise: the groups win
        noise = np.random.default_rng(0).standard_normal((X.shape[0], 100))
        X, groups = np.hstack([X, noise]), np.r_[np.zeros(X.shape[1]), np.ones(100)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = HyperOptimizer("shine", regularization=groups, cv=3).fit(X, y)
    assert clf.selection_["kept"] == kept
    display = HistoryDisplay.from_estimator(clf, ax=plt.subplots()[1])
    answers = [r for r in clf.history_ if r["answer"]]
    assert len(answers) == 1
    assert answers[0]["stage"] == ("one" if kept == "one" else "again")
    drawn = [r for r in clf.history_ if r["stage"] == answers[0]["stage"]]
    assert display.answer_markers_[0].get_ydata()[0] == clf.best_score_
    scores = {r["score"] for r in drawn}
    assert set(display.accepted_lines_[0].get_ydata()) <= scores


def test_default_figure_keeps_its_labels_inside(tmp_path):
    """At the default size the labels are not cut: every text of the figure lies inside
    it once drawn."""
    clf, _, _ = _fitted(regularization="per-feature", max_iter=8)
    display = HistoryDisplay.from_estimator(clf)
    fig = display.figure_
    fig.savefig(tmp_path / "history.png")
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for axis in display.axes_:
        for text in (axis.xaxis.label, axis.yaxis.label):
            extent = text.get_window_extent(renderer)
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1
            assert box.y0 <= extent.y0 and extent.y1 <= box.y1


def test_errors():
    with pytest.raises(NotFittedError):
        HistoryDisplay.from_estimator(HyperOptimizer())
    _, axes = plt.subplots(1, 3)
    with pytest.raises(ValueError, match="one Axes or two"):
        HistoryDisplay(run_with_late_checks()).plot(ax=axes)
    with pytest.raises(ValueError, match="x must be one of"):
        HistoryDisplay(run_with_late_checks()).plot(x="alpha")
    with pytest.raises(ValueError, match="no finite outer loss"):
        HistoryDisplay([record(0, 0.0, np.inf, "reject", 0.1)]).plot()


def test_matplotlib_is_optional():
    code = "import sys, hoag_shine; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
