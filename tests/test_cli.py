"""The hoag-shine command."""
import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, make_classification

from hoag_shine import cli


def test_default_run_prints_a_table(capsys):
    assert cli.main(["--methods", "cg", "shine", "--max-iter", "5"]) == 0
    out = capsys.readouterr().out
    assert "breast_cancer: 569 samples, 30 features" in out
    lines = [line for line in out.splitlines() if line.startswith(("cg ", "shine "))]
    assert len(lines) == 2
    for line in lines:
        values = [float(v) for v in line.split()[1:]]
        assert all(np.isfinite(values))
        assert 0 < values[1] < np.log(2)  # held-out mean logistic loss beats the zero model


def test_libsvm_file(tmp_path, capsys):
    X, y = make_classification(200, 6, random_state=0)
    path = tmp_path / "toy.svm"
    dump_svmlight_file(X, y, str(path))
    assert cli.main(["--dataset", str(path), "--methods", "shine-opa", "--max-iter", "4"]) == 0
    assert "200 samples, 6 features" in capsys.readouterr().out


def test_missing_20news_cache_is_one_message(tmp_path):
    with pytest.raises(SystemExit, match="20news cache"):
        cli.load_data("20news", data_home=str(tmp_path))


def test_unknown_dataset():
    with pytest.raises(SystemExit, match="unknown data set"):
        cli.load_data("no-such-set")
