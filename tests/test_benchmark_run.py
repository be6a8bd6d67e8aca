"""The benchmark runner and plotter, end to end on the quick configuration."""
import csv
import json

import numpy as np
import pytest

from benchmarks import plot, run
from benchmarks.solvers import SOLVERS
from hoag_shine.cli_data import mean_log_loss


@pytest.fixture(scope="module")
def quick_csv(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.csv"
    assert run.main(["--quick", "--out", str(out)]) == 0
    return out


def test_quick_run_writes_tidy_csv(quick_csv):
    with quick_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) == set(run.COLUMNS)
    methods = {r["method"] for r in rows}
    # with cg, one cold inner solve per seed at its final strength: the time unit
    assert methods == set(run.QUICK["methods"]) | {run.COLD}
    cold = [r for r in rows if r["method"] == run.COLD]
    last_cg = [r for r in rows if r["method"] == "cg"][-1]
    assert len(cold) == 1 and cold[0]["log_alpha"] == last_cg["log_alpha"]
    assert float(cold[0]["time"]) > 0 and int(cold[0]["n_inner_iter"]) > 0
    methods.discard(run.COLD)
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        times = [float(r["time"]) for r in mine]
        assert times == sorted(times) and times[0] > 0
        assert all(np.isfinite(float(r["heldout_loss"])) for r in mine)
        # the loop's evaluations, and at most three that verify its answer
        assert len(mine) <= run.QUICK["max_iter"] + 3
    cg_rows = [r for r in rows if r["method"] == "cg"]
    assert len(cg_rows) >= 2 and all(int(r["n_hvp"]) > 0 for r in cg_rows)
    meta = json.loads(quick_csv.with_suffix(".json").read_text())
    assert meta["interrupted"] is False and meta["command"]["train_fraction"] == 0.5


def test_quick_mode_says_its_split(capsys, tmp_path):
    assert run.main(["--quick", "--methods", "grid-10", "--out",
                     str(tmp_path / "q.csv")]) == 0
    out, err = capsys.readouterr()
    # 569 samples: 50% training, the rest halved
    assert "outer part 142 samples, held-out part 143 samples (quick mode" in out
    assert "[1/1 grid-10 seed 0]" in err and "elapsed" in err


def test_interrupt_keeps_finished_runs(tmp_path, monkeypatch, capsys):
    real = run.run_one

    def run_one(X, y, dataset, method, seed, **kwargs):
        if method == "shine":
            raise KeyboardInterrupt
        return real(X, y, dataset, method, seed, **kwargs)

    monkeypatch.setattr(run, "run_one", run_one)
    out = tmp_path / "partial.csv"
    assert run.main(["--quick", "--methods", "cg", "shine", "--out", str(out)]) == 130
    assert "interrupted; 1 of 2 runs finished and kept" in capsys.readouterr().err
    with out.open() as f:
        assert {r["method"] for r in csv.DictReader(f)} == {"cg", run.COLD}
    assert json.loads(out.with_suffix(".json").read_text())["interrupted"] is True


def test_warnings_are_summarised_per_method(tmp_path, capsys):
    """A box [2, 12] excludes breast cancer's optimum: HOAG ends at the bound and says so."""
    from benchmarks import solvers
    from functools import partial
    solvers.SOLVERS["cg-boxed"] = partial(solvers.hoag, method="cg", lambda_bounds=(2, 12))
    try:
        assert run.main(["--quick", "--methods", "cg-boxed", "grid-10",
                         "--out", str(tmp_path / "w.csv")]) == 0
    finally:
        del solvers.SOLVERS["cg-boxed"]
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("cg-boxed: ")]
    assert len(lines) == 1 and "lower bound 2" in lines[0] and "1 time(s)" in lines[0]
    meta = json.loads((tmp_path / "w.json").read_text())
    assert sum(meta["warnings"]["cg-boxed"].values()) == 1


def test_heldout_loss_is_the_mean_logistic_loss():
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    y = np.array([1.0, -1.0])
    coef = np.array([0.5, 0.25])
    expected = np.mean(np.log1p(np.exp(-y * (X @ coef + 0.1))))
    assert mean_log_loss(X, y, coef, 0.1) == pytest.approx(expected, rel=1e-12)


def test_plot_and_summary(quick_csv, tmp_path):
    assert plot.main([str(quick_csv), "--out-dir", str(tmp_path)]) == 0
    for stem in ("breast-cancer_convergence", "breast-cancer_backward"):
        for ext in (".png", ".pdf"):
            assert (tmp_path / (stem + ext)).stat().st_size > 1000
    text = (tmp_path / "breast-cancer_summary.md").read_text()
    for method in run.QUICK["methods"]:
        assert f"| {method} |" in text
    _, runs = plot.read_runs(quick_csv)
    table = {r["method"]: r for r in plot.summary(runs)}
    assert table["cg"]["backward_ratio_to_cg"] == 1.0


def curve(*points):
    return [{"time": t, "heldout_loss": v} for t, v in points]


def test_time_to_target_is_when_the_run_stays_within_one_percent():
    # touches the target at t=2, drifts away at t=3, comes back for good at t=5
    drifting = curve((1, 2.0), (2, 1.005), (3, 1.5), (4, 1.02), (5, 1.009), (6, 1.0))
    assert plot.time_to_target(drifting, 1.0) == 5
    # touches the target, then drifts away for good: never reached
    leaving = curve((1, 2.0), (2, 1.0), (3, 1.2), (4, 1.3))
    assert plot.time_to_target(leaving, 1.0) == np.inf
    # within from the first step
    assert plot.time_to_target(curve((0.5, 1.001), (1, 1.0)), 1.0) == 0.5
    assert plot.time_to_target(curve((1, 2.0)), 0.5) == np.inf
    runs = {"a": {0: drifting}, "b": {0: curve((1.0, 0.9))}}
    assert plot.best_per_seed(runs) == {0: 0.9}


def test_relative_gaps_are_not_clipped():
    seeds = {0: curve((1, 1.0), (2, 1.0)), 1: curve((1, 2.0), (2, 1.5))}
    t, lo, mid, hi = plot.median_curve(seeds, {0: 1.0, 1: 1.5})
    np.testing.assert_array_equal(t, [1, 2])
    np.testing.assert_allclose(mid, [(0 + 1 / 3) / 2, 0.0])
    assert lo[1] == 0.0


def test_one_colour_per_method():
    colours = [plot.method_color(m) for m in SOLVERS]
    assert len(set(colours)) == len(SOLVERS)
    assert plot.method_color("shine") == plot.method_color("shine")
    assert plot.method_color("not-registered") not in colours


def test_every_registered_solver_runs_on_a_tiny_problem():
    from scipy import sparse
    rng = np.random.default_rng(0)
    X = sparse.csr_matrix(rng.standard_normal((80, 5)))
    y = np.where(X @ np.ones(5) + 0.3 * rng.standard_normal(80) > 0, 1.0, -1.0)
    train, outer = np.arange(60), np.arange(60, 80)
    for name, solver in SOLVERS.items():
        seen = []
        solver(X, y, train, outer, max_iter=3, budget=30.0, seed=0, observe=seen.append)
        assert seen, name
        assert all(np.all(np.isfinite(p["coef"])) for p in seen), name
        assert all(-12 <= p["log_alpha"] <= 12 for p in seen), name
