"""Loaders of benchmarks.datasets, on files the tests write (real data: skipped if absent)."""
import bz2
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

REPO = Path(__file__).resolve().parents[1]
from benchmarks.datasets import (DATA_HOME_ENV, DATASETS, DatasetNotFound,
                                 binarize_labels, load_dataset, resolve_data_home)
from benchmarks.datasets import news20, realsim

SHARED = REPO.parent / "shared" / "datasets"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(),
                                  reason=f"real data sets not found at {SHARED}")


@pytest.fixture
def offline(monkeypatch):
    """No network, and no libsvmdata cache: only local files can be found."""
    monkeypatch.setattr(news20, "network_available", lambda *a, **k: False)
    monkeypatch.setattr(realsim, "network_available", lambda *a, **k: False)
    monkeypatch.setattr(realsim, "_libsvmdata_cached", lambda: False)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_HOME_ENV, raising=False)
    monkeypatch.delenv("SCIKIT_LEARN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def small_problem(labels=(1, 2), n_samples=12, n_features=7, seed=0):
    """Sparse data with one all-zero last column, and labels from ``labels``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    X[rng.random(X.shape) < 0.6] = 0.0
    X[:, -1] = 0.0
    X[0, -1] = 1.5  # the last feature index appears in the file
    y = np.array([labels[i % 2] for i in range(n_samples)])
    return X, y


def write_libsvm(path, X, y, compress=False, zero_based=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        raw = path.with_suffix(".raw")
        dump_svmlight_file(X, y, str(raw), zero_based=zero_based)
        path.write_bytes(bz2.compress(raw.read_bytes()))
        raw.unlink()
    else:
        dump_svmlight_file(X, y, str(path), zero_based=zero_based)
    return path


def check_format(X, y, n_samples, n_features):
    assert sp.issparse(X) and X.format == "csr" and X.dtype == np.float64
    assert X.shape == (n_samples, n_features)
    assert y.dtype == np.float64 and y.shape == (n_samples,)
    assert set(np.unique(y)) == {-1.0, 1.0}


@pytest.mark.parametrize("labels, expected_positive", [
    ((0, 1), 1), ((-1, 1), 1), ((1, 2), 2), ((3, -7), 3), ((0.5, 0.25), 0.5)])
def test_binarize_maps_larger_label_to_plus_one(labels, expected_positive):
    y = np.array([labels[0], labels[1], labels[1], labels[0], labels[1]])
    out = binarize_labels(y)
    np.testing.assert_array_equal(out, np.where(y == expected_positive, 1.0, -1.0))
    assert out.dtype == np.float64


@pytest.mark.parametrize("y", [[1, 1, 1], [0, 1, 2], []])
def test_binarize_rejects_other_than_two_classes(y):
    with pytest.raises(ValueError, match="two distinct labels"):
        binarize_labels(y)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("labels", [(1, 2), (-1, 1), (0, 5)])
def test_libsvm_file_loader(tmp_path, compress, labels):
    X, y = small_problem(labels)
    name = "data.bz2" if compress else "data.txt"
    path = write_libsvm(tmp_path / name, X, y, compress)
    X_loaded, y_loaded = load_dataset("libsvm-file", path=path)
    check_format(X_loaded, y_loaded, *X.shape)
    np.testing.assert_allclose(X_loaded.toarray(), X, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(y_loaded, np.where(y == max(labels), 1.0, -1.0))


def test_libsvm_file_relative_name_found_in_data_home(tmp_path):
    X, y = small_problem()
    write_libsvm(tmp_path / "libsvm" / "mine.txt", X, y)
    X_loaded, _ = load_dataset("libsvm-file", data_home=tmp_path, path="mine.txt")
    np.testing.assert_allclose(X_loaded.toarray(), X)


def test_libsvm_file_missing_or_not_given(tmp_path):
    with pytest.raises(DatasetNotFound, match="does not exist"):
        load_dataset("libsvm-file", path=tmp_path / "absent.txt")
    with pytest.raises(ValueError, match="needs a path"):
        load_dataset("libsvm-file")


@pytest.mark.parametrize("filename, compress", [
    ("libsvm/real-sim.bz2", True), ("libsvm/real-sim", False), ("real-sim.bz2", True)])
def test_realsim_reads_a_local_file_first(tmp_path, offline, filename, compress):
    X, y = small_problem(labels=(-1, 1), n_samples=20, n_features=9)
    write_libsvm(tmp_path / filename, X, y, compress)
    X_loaded, y_loaded = load_dataset("real-sim", data_home=tmp_path)
    check_format(X_loaded, y_loaded, 20, 9)
    np.testing.assert_allclose(X_loaded.toarray(), X)
    np.testing.assert_array_equal(y_loaded, y.astype(float))


def test_realsim_local_file_through_environment(tmp_path, offline, clean_env, monkeypatch):
    X, y = small_problem(labels=(-1, 1))
    write_libsvm(tmp_path / "libsvm" / "real-sim.bz2", X, y, compress=True)
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path))
    X_loaded, _ = load_dataset("real-sim")
    assert X_loaded.shape == X.shape


def test_realsim_goes_through_libsvmdata_when_reachable(tmp_path, monkeypatch):
    X, y = small_problem(labels=(-1, 1))
    calls = []

    def fake_fetch(name):
        calls.append(name)
        return sp.csc_matrix(X), y.astype(float)

    monkeypatch.setattr(realsim, "network_available", lambda *a, **k: True)
    monkeypatch.setattr(realsim, "_libsvmdata_fetch", lambda: fake_fetch)
    X_loaded, y_loaded = load_dataset("real-sim", data_home=tmp_path)
    assert calls == ["real-sim"]
    check_format(X_loaded, y_loaded, *X.shape)
    np.testing.assert_allclose(X_loaded.toarray(), X)


def test_realsim_without_libsvmdata(tmp_path, monkeypatch):
    def missing():
        raise ImportError("No module named 'libsvmdata'")

    monkeypatch.setattr(realsim, "network_available", lambda *a, **k: True)
    monkeypatch.setattr(realsim, "_libsvmdata_fetch", missing)
    with pytest.raises(DatasetNotFound, match="pip install libsvmdata"):
        load_dataset("real-sim", data_home=tmp_path)


def test_realsim_missing_offline_says_where_to_put_it(tmp_path, offline):
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("real-sim", data_home=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "libsvm") in message and "real-sim.bz2" in message
    assert "--data-home" in message and DATA_HOME_ENV in message
    assert isinstance(info.value, FileNotFoundError)


def test_20news_missing_does_not_download_or_create_dirs(tmp_path, offline):
    home = tmp_path / "empty"
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("20news", data_home=home)
    assert str(home) in str(info.value)
    assert "20newsgroup_vectorized_py3.pkl" in str(info.value)
    assert not home.exists()


@pytest.mark.parametrize("name", ["reuters", "adult"])
def test_train_test_pair_missing(tmp_path, name):
    with pytest.raises(DatasetNotFound) as info:
        load_dataset(name, data_home=tmp_path)
    message = str(info.value)
    assert f"{name}.trn.bz2" in message and f"{name}.tst.bz2" in message
    assert str(tmp_path / "libsvm") in message


def test_train_test_pair_stacked_with_aligned_features(tmp_path):
    X, y = small_problem(labels=(-1, 1), n_samples=10, n_features=6)
    X_tst = X[:4].copy()
    X_tst[:, -1] = 0.0  # the test file never mentions the last feature
    write_libsvm(tmp_path / "libsvm" / "reuters.trn.bz2", X, y, compress=True)
    write_libsvm(tmp_path / "libsvm" / "reuters.tst.bz2", X_tst, y[:4], compress=True)
    X_loaded, y_loaded = load_dataset("reuters", data_home=tmp_path)
    check_format(X_loaded, y_loaded, 14, 6)
    np.testing.assert_allclose(X_loaded.toarray(), np.vstack([X, X_tst]))
    np.testing.assert_array_equal(y_loaded, np.concatenate([y, y[:4]]).astype(float))


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("no-such-data")


def test_registry_names():
    assert {"20news", "real-sim", "reuters", "adult", "libsvm-file"} <= set(DATASETS)


def test_data_home_resolution_order(tmp_path, clean_env, monkeypatch):
    default = resolve_data_home()
    assert default.source == "default" and not default.explicit
    assert default.path == tmp_path / "home" / "scikit_learn_data"
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sk"))
    assert resolve_data_home().path == tmp_path / "sk"
    assert not resolve_data_home().explicit
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path / "hs"))
    assert resolve_data_home().path == tmp_path / "hs"
    assert resolve_data_home().explicit
    given = resolve_data_home(tmp_path / "arg")
    assert given.path == tmp_path / "arg" and given.source == "argument"


def test_sklearn_home_nested_or_flat(tmp_path):
    assert resolve_data_home(tmp_path).sklearn_home == tmp_path
    (tmp_path / "scikit_learn_data").mkdir()
    assert resolve_data_home(tmp_path).sklearn_home == tmp_path / "scikit_learn_data"


@needs_shared
def test_20news_real():
    X, y = load_dataset("20news", data_home=SHARED)
    check_format(X, y, 18846, 130107)
    # official per-group totals: the first ten groups hold 9,645 posts
    assert np.sum(y < 0) == 9645 and np.sum(y > 0) == 9201


@needs_shared
@pytest.mark.parametrize("name, shape, n_negative, n_positive", [
    ("reuters", (7770 + 3299, 8315), 7232 + 3120, 538 + 179),
    ("adult", (32561 + 16281, 123), 24720 + 12435, 7841 + 3846),
])
def test_libsvm_pairs_real(name, shape, n_negative, n_positive):
    X, y = load_dataset(name, data_home=SHARED)
    check_format(X, y, *shape)
    assert np.sum(y < 0) == n_negative and np.sum(y > 0) == n_positive


# -- one registry for hoag-shine and the benchmarks -----------------------------------


def test_benchmarks_and_package_share_names_and_loaders():
    from benchmarks.solvers import SOLVERS
    from hoag_shine import METHODS
    from hoag_shine import cli_data as registry

    assert set(registry.DATASETS) <= set(DATASETS)
    for name in ("breast-cancer", "reuters", "adult", "libsvm-file"):
        assert DATASETS[name] is registry.DATASETS[name]
    # every hypergradient method the benchmarks run is spelled as in the package
    hoag_solvers = {name for name, s in SOLVERS.items()
                    if getattr(s, "keywords", {}).get("method") == name}
    assert {"cg", "shine", "shine-opa", "shine-refine", "shine-pcg",
            "jacobian-free"} <= hoag_solvers <= set(METHODS)


def test_an_unknown_name_lists_the_registered_ones():
    from hoag_shine.cli_data import canonical_name

    with pytest.raises(ValueError, match=r"unknown data set 'breast_cancer'.*'breast-cancer'"):
        load_dataset("breast_cancer")
    with pytest.raises(ValueError, match=r"unknown method 'hoag-cg'; choose one of \['cg'\]"):
        canonical_name("hoag-cg", ["cg"], "method")


def test_a_path_names_a_libsvm_file(tmp_path):
    X, y = small_problem()
    path = write_libsvm(tmp_path / "mine.txt", X, y)
    X_loaded, _ = load_dataset(str(path))
    np.testing.assert_allclose(X_loaded.toarray(), X)


@pytest.mark.parametrize("text, message", [
    ("", "holds no sample"),
    ("not a libsvm file\n", "not a readable LIBSVM file"),
    ("1 1:nan\n-1 1:2\n", "NaN or infinite feature values"),
    ("1 1:1\n1 1:2\n", "two distinct labels, got 1"),
    ("0 1:1\n1 1:2\n2 1:3\n", "two distinct labels, got 3"),
])
def test_unusable_libsvm_files_are_value_errors(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_dataset("libsvm-file", path=path)


def test_package_20news_never_downloads(tmp_path, monkeypatch):
    """The package's loader reads the cache only, whatever the network says."""
    from hoag_shine import cli_data as registry
    import sklearn.datasets

    def fail(*args, **kwargs):
        raise AssertionError("the package must not call scikit-learn's fetcher "
                             "when the cache is absent")

    monkeypatch.setattr(sklearn.datasets, "fetch_20newsgroups_vectorized", fail)
    monkeypatch.delenv(DATA_HOME_ENV, raising=False)
    with pytest.raises(DatasetNotFound, match="never|Put the cache files there"):
        registry.load_20news(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_package_honours_the_environment_data_home(tmp_path, monkeypatch):
    from hoag_shine import cli_data as registry

    X, y = small_problem(labels=(-1, 1), n_samples=10, n_features=6)
    write_libsvm(tmp_path / "libsvm" / "adult.trn.bz2", X, y, compress=True)
    write_libsvm(tmp_path / "libsvm" / "adult.tst.bz2", X[:4], y[:4], compress=True)
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path))
    X_loaded, _ = registry.load_dataset("adult")
    assert X_loaded.shape == (14, 6)
