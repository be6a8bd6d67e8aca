"""The inversion-quality measures of benchmarks/bench_backward.py."""
import json

import numpy as np
import pytest

from benchmarks import bench_backward


def test_inversion_quality_measures(rng):
    q_star = rng.standard_normal(6)
    w = rng.standard_normal(6)
    out = bench_backward.inversion_quality(2.0 * q_star, q_star, w)
    assert out["cos_q"] == pytest.approx(1.0, abs=1e-14)
    assert out["norm_ratio"] == pytest.approx(2.0, rel=1e-14)
    assert out["rel_err_q"] == pytest.approx(1.0, rel=1e-14)
    assert out["cos_per_feature"] == pytest.approx(1.0, abs=1e-14)
    expected = abs(w @ q_star) / (np.linalg.norm(w) * np.linalg.norm(q_star))
    assert out["abs_cos_w_q_star"] == pytest.approx(expected, rel=1e-14)
    q = q_star.copy()
    q[0] = -q[0]
    out = bench_backward.inversion_quality(q, q_star, w)
    assert out["cos_q"] == pytest.approx(1 - 2 * q_star[0] ** 2 / (q_star @ q_star), rel=1e-12)
    wq, wq_star = w * q, w * q_star
    assert out["cos_per_feature"] == pytest.approx(
        wq @ wq_star / (np.linalg.norm(wq) * np.linalg.norm(wq_star)), rel=1e-12)


def test_specs_name_the_initial_matrix():
    assert bench_backward.canonical_spec("cg@0.001") == "cg@1e-3"
    assert bench_backward.canonical_spec("shine/hessian-diagonal") == "shine/hessian-diagonal"
    assert bench_backward.canonical_spec("shine-pcg@0.001/gamma") == "shine-pcg@1e-3/gamma"
    assert bench_backward.initial_of("shine") == "gamma"
    assert bench_backward.initial_of("shine-opa/hessian-diagonal") == "hessian-diagonal"


def test_benchmark_runs_on_breast_cancer(tmp_path, capsys):
    path = tmp_path / "out.json"
    bench_backward.main(["--dataset", "breast-cancer", "--lambdas", "0", "--inner-tol",
                         "1e-3", "1e-5", "--repeat", "1", "--methods", "shine",
                         "shine/hessian-diagonal", "--json", str(path)])
    assert "inversion quality" in capsys.readouterr().out
    results = json.loads(path.read_text())["results"]
    assert [r["relative_inner_tol"] for r in results] == [1e-3, 1e-5]
    for r in results:
        reference = r["methods"]["cg@1e-10"]
        assert reference["cos_q"] == pytest.approx(1.0, abs=1e-12)
        for spec in ["shine", "shine/hessian-diagonal"]:
            assert -1.0 <= r["methods"][spec]["cos_q"] <= 1.0
