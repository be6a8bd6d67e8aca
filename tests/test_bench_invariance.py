"""The invariance benchmark: its changes, its independent loss, its rows."""
import numpy as np
import pytest

from benchmarks import bench_invariance as bench
from hoag_shine import hypergradient


def test_changes_are_weight_scales_column_scales_and_row_orders():
    weights = np.arange(1.0, 6.0)
    found = bench.changes(weights, 5, seed=0)
    kinds = [next(k for k in bench.KINDS if name.startswith(k)) for name, *_ in found]
    assert kinds.count("weights") == len(bench.WEIGHT_SCALES)
    assert kinds.count("columns") == len(bench.COLUMN_SCALES)
    assert kinds.count("row order") == bench.N_ORDERS
    by_name = {name: rest for name, *rest in found}
    assert by_name["weights sum to 1"][0] * weights.sum() == pytest.approx(1.0)
    for name, (c, s, order) in by_name.items():
        if order is not None:
            assert c == s == 1.0 and sorted(order) == list(range(5))


@pytest.mark.parametrize("config", [(2, True, False, 3, "cg"), (3, True, True, 1, "cg")])
def test_reference_loss_is_the_weighted_held_out_loss_per_unit_weight(config):
    """scikit-learn's tight fits and the package's tight solve agree at a fixed strength."""
    X, y, weights, splits = bench.make_problem(config, seed=0)
    log_alpha = 0.7
    got = bench.reference_loss(X, y, weights, splits, log_alpha, config[1])
    total = held = 0.0
    for train, test in splits:
        res = hypergradient(X[train], y[train], X[test], y[test], log_alpha, method="cg",
                            fit_intercept=config[1], inner_tol=1e-11,
                            sample_weight=weights[train], sample_weight_val=weights[test])
        total += res.outer_loss
        held += weights[test].sum()
    assert got == pytest.approx(total / held, rel=1e-7)


def test_a_row_of_a_problem_without_intercept_shows_no_move():
    """Without intercept every change is exact: the three moves are rounding."""
    row = bench.run_one((2, False, False, 1, "shine"), seed=0)
    for kind in bench.KINDS:
        assert row[f"{kind}_move"] <= bench.SAME
    assert row["loss_diff"] <= 1e-9
    assert row["score_vs_reference"] <= 1e-3
    assert set(row["moves"]) == {name for name, *_ in bench.changes(np.ones(3), 3, 0)}


def test_a_row_with_an_intercept_shows_no_move():
    """Three classes, intercepts, one split, shine: the columns scaled by 1e-2 and
    1e2 moved log(alpha) by 0.059 (loss 7.6e-5 apart) with ``gamma I`` and
    Euclidean norms; in the intercept metric no change moves it beyond rounding."""
    row = bench.run_one((3, True, False, 1, "shine"), seed=0)
    for kind in bench.KINDS:
        assert row[f"{kind}_move"] <= bench.SAME
    assert row["loss_diff"] <= 1e-8
