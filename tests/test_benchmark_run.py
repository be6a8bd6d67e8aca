"""The benchmark runner and plotter, end to end on the quick configuration."""
import csv

import numpy as np
import pytest

from benchmarks import plot, run
from benchmarks.solvers import SOLVERS


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
    assert methods == set(run.QUICK["methods"])
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        times = [float(r["time"]) for r in mine]
        assert times == sorted(times) and times[0] > 0
        assert all(np.isfinite(float(r["heldout_loss"])) for r in mine)
        assert len(mine) <= 10
    hoag_rows = [r for r in rows if r["method"] == "hoag-cg"]
    assert len(hoag_rows) == run.QUICK["max_iter"]
    assert all(int(r["n_hvp"]) > 0 for r in hoag_rows)
    assert quick_csv.with_suffix(".json").exists()


def test_heldout_loss_is_outside_timing_and_correct(quick_csv):
    """The held-out loss recorded equals the mean logistic loss of the recorded model."""
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    y = np.array([1.0, -1.0])
    coef = np.array([0.5, 0.25])
    expected = np.mean(np.log1p(np.exp(-y * (X @ coef + 0.1))))
    assert run.heldout_loss(X, y, coef, 0.1) == pytest.approx(expected, rel=1e-12)


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
    assert table["hoag-cg"]["backward_ratio_to_cg"] == 1.0


def test_time_to_target_and_best():
    rows = [{"time": 1.0, "heldout_loss": 2.0}, {"time": 2.0, "heldout_loss": 1.005},
            {"time": 3.0, "heldout_loss": 1.0}]
    assert plot.time_to_target(rows, 1.0) == 2.0
    assert plot.time_to_target(rows, 0.5) == np.inf
    runs = {"a": {0: rows}, "b": {0: [{"time": 1.0, "heldout_loss": 0.9}]}}
    assert plot.best_per_seed(runs) == {0: 0.9}


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
