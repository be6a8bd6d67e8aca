"""The multi-strength benchmark: its split, its rows, its ordering and its options."""
import json

import numpy as np
import pytest
from sklearn.datasets import make_classification

from benchmarks import bench_strengths
from benchmarks.bench_strengths import LRCV, MULTI, REFERENCE, ROW_FIELDS

QUICK_SETS = ("wine-0-vs-rest", "informative-irrelevant")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run of the command line, shared by the tests that read its rows."""
    out = tmp_path_factory.mktemp("strengths") / "rows.json"
    rows = bench_strengths.main(["--quick", "--set", "max_iter=5", "--record-attr",
                                 "n_features_in_", "--output", str(out)])
    return rows, json.loads(out.read_text())


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_is_a_stratified_partition_with_a_30_percent_test_part(seed):
    y = np.r_[np.zeros(70, int), np.ones(30, int)]
    train, test = bench_strengths.split_train_test(y, seed)
    assert not set(train) & set(test)
    assert np.array_equal(np.sort(np.r_[train, test]), np.arange(len(y)))
    assert len(test) == 30 and y[test].sum() == 9
    again, _ = bench_strengths.split_train_test(y, seed)
    assert np.array_equal(train, again)


def test_no_fit_sees_a_test_row(monkeypatch):
    X, y = make_classification(120, 6, n_informative=3, random_state=0)
    seen = []

    def recording(cls):
        class Recording(cls):
            def fit(self, X, y, **kwargs):
                seen.append(X.copy())
                return super().fit(X, y, **kwargs)
        return Recording

    monkeypatch.setattr(bench_strengths, "HyperOptimizer",
                        recording(bench_strengths.HyperOptimizer))
    monkeypatch.setattr(bench_strengths, "LogisticRegressionCV",
                        recording(bench_strengths.LogisticRegressionCV))
    configs, _ = bench_strengths.configurations(np.arange(6) % 2, 6, None)
    rows = bench_strengths.run_case(X, y, 3, configs, cv=3, params={"max_iter": 3})
    _, test = bench_strengths.split_train_test(y, 3)
    test_rows = {tuple(row) for row in X[test]}
    assert len(seen) == len(rows) == 4
    for X_fit in seen:
        assert len(X_fit) == len(y) - len(test)
        assert not {tuple(row) for row in X_fit} & test_rows


def test_standardisation_uses_the_train_part_only():
    X = np.r_[np.zeros((5, 1)), np.full((5, 1), 100.0)]
    X_train, X_test = bench_strengths._prepare(X, np.arange(5), np.arange(5, 10), True)
    assert np.allclose(X_train, 0.0) and np.allclose(X_test, 100.0)


def test_rows_have_every_field_and_ratios_to_the_scalar_run(quick_run):
    rows, _ = quick_run
    assert {r["dataset"] for r in rows} == set(QUICK_SETS)
    for r in rows:
        assert set(ROW_FIELDS) <= set(r)
        assert np.isfinite(r["test_loss"]) and r["test_loss"] > 0 and r["time"] > 0
        scalar = next(s for s in rows if s["dataset"] == r["dataset"]
                      and s["seed"] == r["seed"] and s["config"] == REFERENCE)
        assert r["ratio"] == pytest.approx(r["test_loss"] / scalar["test_loss"])
        assert r["time_ratio"] == pytest.approx(r["time"] / scalar["time"])
        if r["config"] != LRCV:
            assert r["n_iter"] <= 5
            assert set(r["attrs"]) == {"fallback_", "selection_", "n_features_in_"}
            assert r["attrs"]["n_features_in_"] == r["n_features"]


def test_grouped_runs_only_where_the_data_set_defines_groups(quick_run):
    rows, _ = quick_run
    configs = {name: [r["config"] for r in rows if r["dataset"] == name] for name in QUICK_SETS}
    assert configs["wine-0-vs-rest"] == [REFERENCE, "per-feature", LRCV]
    assert configs["informative-irrelevant"] == [REFERENCE, "grouped", "per-feature", LRCV]
    grouped = next(r for r in rows if r["config"] == "grouped")
    assert grouped["n_hyper"] == 2


def test_runs_are_listed_worst_ratio_first(quick_run):
    rows, _ = quick_run
    ordered = bench_strengths.worst_first(rows)
    assert {r["config"] for r in ordered} <= set(MULTI)
    assert len(ordered) == sum(r["config"] in MULTI for r in rows)
    ratios = [r["ratio"] for r in ordered]
    assert ratios == sorted(ratios, reverse=True)
    table = bench_strengths.format_runs(rows).splitlines()[2:]
    assert [f"{q:.4f}" in line for q, line in zip(ratios, table)] == [True] * len(ratios)


def test_output_holds_rows_summary_and_machine(quick_run):
    rows, payload = quick_run
    assert len(payload["rows"]) == len(rows)
    assert payload["params"] == {"max_iter": 5}
    assert "versions" in payload["machine"]
    assert set(payload["summary"]) == {"grouped", "per-feature", LRCV}


def test_summary_counts_against_the_thresholds():
    rows = [dict(dataset="a", seed=s, config="per-feature", ratio=q, time=2.0, time_ratio=t)
            for s, (q, t) in enumerate([(0.98, 1.0), (1.0, 2.0), (1.2, 9.0)])]
    summary = bench_strengths.summarize(rows)["per-feature"]
    assert summary["runs"] == 3 and summary["above"] == 1
    assert summary["not_worse"] == pytest.approx(2 / 3)
    assert summary["better"] == pytest.approx(1 / 3)
    assert summary["worst"] == 1.2 and summary["worst_run"] == "a seed 2"
    assert summary["median"] == 1.0 and summary["median_time_ratio"] == 2.0


def test_per_feature_is_skipped_above_max_features_and_said_so():
    configs, notes = bench_strengths.configurations(None, 50, 20)
    assert [c for c, _ in configs] == [REFERENCE]
    assert "50 features" in notes[0]
    configs, notes = bench_strengths.configurations(np.zeros(50), 50, None)
    assert [c for c, _ in configs] == [REFERENCE, "grouped", "per-feature"] and not notes


def test_set_reads_literals_and_refuses_malformed_items(capsys):
    assert bench_strengths.parse_params(["tol=1e-3", "method=cg", "lambda_init=-1"]) == {
        "tol": 1e-3, "method": "cg", "lambda_init": -1}
    with pytest.raises(SystemExit):
        bench_strengths.main(["--quick", "--set", "tol"])
    assert "NAME=VALUE" in capsys.readouterr().err


def test_unknown_data_set_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        bench_strengths.main(["--datasets", "no-such-set"])
    assert exc.value.code == 2


def test_absent_real_data_is_skipped_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HOAG_SHINE_DATA", raising=False)
    rows = bench_strengths.main(["--datasets", "adult", "--data-home", str(tmp_path)])
    assert rows == []
    assert "adult skipped" in capsys.readouterr().out


def test_subsample_is_stratified_and_fixed():
    y = np.r_[np.zeros(80, int), np.ones(20, int)]
    keep = bench_strengths.subsample(y, 50)
    assert len(keep) == 50 and y[keep].sum() == 10
    assert np.array_equal(keep, bench_strengths.subsample(y, 50))
    assert len(bench_strengths.subsample(y, 0)) == len(bench_strengths.subsample(y, 500)) == 100


def test_scaled_blocks_have_their_scales_and_informative_features_in_each():
    X, _, groups = bench_strengths._scaled_blocks()
    scales = [X[:, groups == g].std() for g in range(3)]
    assert scales[0] < 0.2 and 0.5 < scales[1] < 2 and scales[2] > 5


def test_plot_draws_every_configuration(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [dict(dataset=d, seed=0, config=c, ratio=q)
            for d, c, q in [("a", "grouped", 0.9), ("a", "per-feature", 1.3), ("b", LRCV, 1.0)]]
    ax = bench_strengths.plot_ratios(rows, tmp_path / "ratios.png")
    assert (tmp_path / "ratios.png").stat().st_size > 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["grouped", "per-feature", LRCV]
