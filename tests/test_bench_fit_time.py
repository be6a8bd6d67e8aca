"""The fit-time benchmark: its rows on small data, and its arguments."""
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.preprocessing import StandardScaler

from benchmarks import bench_fit_time


def test_run_split_times_every_method_against_lrcv_and_reports_the_gap():
    X, y = make_classification(300, 8, n_informative=4, random_state=0)
    rows = bench_fit_time.run_split(X, y, 0, True, ["cg", "shine"], {"max_iter": 12})
    assert [r["method"] for r in rows] == ["cg", "shine"]
    for r in rows:
        assert set(bench_fit_time.COLUMNS) - {"dataset"} <= set(r)
        assert r["time"] > 0 and r["time_lrcv"] > 0 and r["time_cold"] > 0
        assert r["per_lrcv"] == pytest.approx(r["time"] / r["time_lrcv"])
        # the reference optimum is a lower bound of every answer's validation loss
        assert -1e-6 <= r["gap"] <= 1e-3
        assert r["n_iter"] <= 12 and not r["worse_than_start"]


def test_protocol_rows_compare_held_out_losses_with_lrcv():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = 2.0 * y - 1
    rows = bench_fit_time.run_protocol(X, y, 0, ["shine"], params={"max_iter": 10})
    assert [r["method"] for r in rows] == ["LRCV(Cs=10)", "shine"]
    assert rows[0]["per_lrcv"] == 1.0
    assert all(np.isfinite(r["held_out"]) and r["held_out"] > 0 for r in rows)


def test_set_parses_estimator_parameters(monkeypatch):
    seen = {}

    def fake(X, y, seed, fit_intercept, methods, params=None):
        seen.update(params)
        return [dict(method="shine", per_lrcv=1.0, gap=0.0, time_lrcv=1.0)]

    monkeypatch.setattr(bench_fit_time, "run_split", fake)
    monkeypatch.setattr(bench_fit_time, "summarize", lambda rows, methods: None)
    bench_fit_time.main(["--quick", "--methods", "shine", "--set", "tol=1e-3",
                         "max_iter=5"])
    assert seen == {"tol": 1e-3, "max_iter": 5}
