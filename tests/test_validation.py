"""Bad input gets one clear error; hard numerics finish finite.

Every bad input tried, and the error it gets (each row is a test below):

=========================================  ==========  =========================================
input                                      error       message contains
=========================================  ==========  =========================================
NaN in X                                   ValueError  "Input X contains NaN"
inf in X                                   ValueError  "Input X contains infinity"
NaN in y                                   ValueError  "Input y contains NaN"
X and y of different lengths               ValueError  "inconsistent numbers of samples"
empty X                                    ValueError  "0 sample(s)"
X with no feature                          ValueError  "0 feature(s)"
a single class                             ValueError  "one class"
three classes                              ValueError  "Only binary classification is supported"
continuous y                               ValueError  "Unknown label type"
validation split with one class            ValueError  "holds a single class"
cv fold with one class                     ValueError  "holds a single class"
non-numeric X                              ValueError  "could not convert"
unknown method                             ValueError  "method must be one of"
negative memory_size                       ValueError  "memory_size must be an integer >= 1"
inverted lambda_bounds                     ValueError  "low < high"
lambda_bounds beyond +-100                 ValueError  "lambda_bounds must be"
validation_fraction 0 or 1.5               ValueError  "validation_fraction must be in (0, 1)"
unknown regularization                     ValueError  "regularization must be"
group labels of the wrong length           ValueError  "one label per feature"
max_iter 0 / float                         ValueError  "max_iter must be an integer"
tolerance_decrease unknown                 ValueError  "tolerance_decrease must be one of"
tolerance_factor 0 or 2                    ValueError  "tolerance_factor must be in (0, 1]"
lambda_init of the wrong length            ValueError  "lambda_init must be"
callback not callable                      TypeError   "callback must be callable"
predict with the wrong number of features  ValueError  "features"
predict before fit                         NotFittedError
hypergradient: labels of X_val unseen      ValueError  "not among the classes"
hypergradient: wrong number of log_alpha   ValueError  "log_alpha has"
hypergradient: X_val feature mismatch      ValueError  "X_val has"
minimize_lbfgs: non-finite start           FloatingPointError  "not finite at x0"
=========================================  ==========  =========================================
"""
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from hoag_shine import HyperOptimizer, hypergradient, minimize_lbfgs

rng = np.random.default_rng(0)
X0 = rng.standard_normal((40, 4))
y0 = (X0[:, 0] + 0.5 * rng.standard_normal(40) > 0).astype(int)


def _with(X=None, y=None):
    return (X0 if X is None else X), (y0 if y is None else y)


def _nan_X():
    X = X0.copy()
    X[3, 1] = np.nan
    return X


def _inf_X():
    X = X0.copy()
    X[0, 0] = np.inf
    return X


def _nan_y():
    y = y0.astype(float)
    y[5] = np.nan
    return y


BAD_DATA = [
    ("nan in X", _with(X=_nan_X()), "Input X contains NaN"),
    ("inf in X", _with(X=_inf_X()), "Input X contains infinity"),
    ("nan in y", _with(y=_nan_y()), "Input y contains NaN"),
    ("lengths", _with(y=y0[:-3]), "inconsistent numbers of samples"),
    ("empty X", (np.empty((0, 4)), np.empty(0)), r"0 sample\(s\)"),
    ("no feature", (np.empty((40, 0)), y0), r"0 feature\(s\)"),
    ("one class", _with(y=np.ones(40)), "one class"),
    ("three classes", _with(y=np.arange(40) % 3), "Only binary classification is supported"),
    ("continuous y", _with(y=rng.standard_normal(40)), "Unknown label type"),
    ("non-numeric X", (np.array([["a", "b"]] * 40), y0), "could not convert"),
]


@pytest.mark.parametrize("name, data, match", BAD_DATA, ids=[b[0] for b in BAD_DATA])
def test_bad_data(name, data, match):
    with pytest.raises(ValueError, match=match):
        HyperOptimizer().fit(*data)


def test_validation_split_with_one_class():
    y = np.zeros(40, dtype=int)
    y[:2] = 1  # two positives: a 5% validation split cannot hold one on each side
    with pytest.raises(ValueError, match="holds a single class"):
        HyperOptimizer(validation_fraction=0.05).fit(X0, y)


def test_cv_fold_with_one_class():
    y = np.r_[np.zeros(20, int), np.ones(20, int)]
    folds = [(np.arange(20, 40), np.arange(20))]
    with pytest.raises(ValueError, match="holds a single class"):
        HyperOptimizer(cv=folds).fit(X0, y)


BAD_PARAMS = [
    ({"method": "newton"}, ValueError, "method must be one of"),
    ({"memory_size": -3}, ValueError, "memory_size must be an integer >= 1"),
    ({"lambda_bounds": (4, -4)}, ValueError, "low < high"),
    ({"lambda_bounds": (-1e3, 1e3)}, ValueError, "lambda_bounds must be"),
    ({"lambda_bounds": 3.0}, ValueError, "lambda_bounds must be"),
    ({"validation_fraction": 0.0}, ValueError, r"validation_fraction must be in \(0, 1\)"),
    ({"validation_fraction": 1.5}, ValueError, r"validation_fraction must be in \(0, 1\)"),
    ({"regularization": "lasso"}, ValueError, "regularization must be"),
    ({"regularization": [0, 1]}, ValueError, "one label per feature"),
    ({"max_iter": 0}, ValueError, "max_iter must be an integer"),
    ({"max_iter": 2.5}, ValueError, "max_iter must be an integer"),
    ({"tolerance_decrease": "linear"}, ValueError, "tolerance_decrease must be one of"),
    ({"tolerance_factor": 0.0}, ValueError, r"tolerance_factor must be in \(0, 1\]"),
    ({"tolerance_factor": 2.0}, ValueError, r"tolerance_factor must be in \(0, 1\]"),
    ({"tolerance_init": -1.0}, ValueError, "tolerance_init must be a positive"),
    ({"lambda_init": [0.0, 1.0]}, ValueError, "lambda_init must be"),
    ({"callback": 3}, TypeError, "callback must be callable"),
]


@pytest.mark.parametrize("params, error, match", BAD_PARAMS,
                         ids=[str(p[0]) for p in BAD_PARAMS])
def test_bad_parameters(params, error, match):
    with pytest.raises(error, match=match):
        HyperOptimizer(**params).fit(X0, y0)


def test_predict_wrong_number_of_features_and_unfitted():
    with pytest.raises(NotFittedError):
        HyperOptimizer().predict(X0)
    clf = HyperOptimizer(max_iter=3).fit(X0, y0)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X0[:, :3])


def test_hypergradient_input_errors():
    with pytest.raises(ValueError, match="not among the classes"):
        hypergradient(X0, y0, X0, y0 + 5, 0.0)
    with pytest.raises(ValueError, match="log_alpha has 3 entries"):
        hypergradient(X0, y0, X0, y0, np.zeros(3))
    with pytest.raises(ValueError, match="X_val has 3 features"):
        hypergradient(X0, y0, X0[:, :3], y0, 0.0)
    with pytest.raises(ValueError, match="unknown method"):
        hypergradient(X0, y0, X0, y0, 0.0, method="adam")


def test_minimize_lbfgs_non_finite_start():
    with pytest.raises(FloatingPointError, match="not finite at x0"):
        minimize_lbfgs(lambda x: (np.nan, x), np.ones(2))


# -- numerical robustness ---------------------------------------------------------

def _fit_quietly(clf, X, y):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    return clf, [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def _assert_finite(clf):
    for name in ("coef_", "intercept_", "log_alpha_", "alpha_"):
        assert np.all(np.isfinite(getattr(clf, name))), name
    for rec in clf.history_:
        if rec["accepted"]:
            assert np.isfinite(rec["outer_loss"]) and np.all(np.isfinite(rec["grad"]))


@pytest.mark.parametrize("method", ["shine", "cg", "shine-opa"])
def test_separable_data_goes_to_lower_bound_with_warning(method):
    X = np.r_[rng.standard_normal((30, 3)) + 4, rng.standard_normal((30, 3)) - 4]
    y = np.r_[np.ones(30), np.zeros(30)]
    clf, caught = _fit_quietly(HyperOptimizer(method, random_state=0, max_iter=60), X, y)
    _assert_finite(clf)
    assert clf.score(X, y) == 1.0
    # the held-out loss keeps decreasing as the penalty vanishes
    assert clf.log_alpha_[0] < -4
    if np.isclose(clf.log_alpha_[0], -12):
        assert any("lower bound" in str(w.message) for w in caught)


def test_duplicated_zero_and_badly_scaled_columns():
    X = np.c_[X0, X0[:, :1], np.zeros(40), 1e4 * X0[:, 1], 1e-4 * X0[:, 2]]
    clf, _ = _fit_quietly(HyperOptimizer("cg", random_state=0, inner_max_iter=5000), X, y0)
    _assert_finite(clf)
    assert clf.coef_[0, 5] == 0.0  # an all-zero column gets no weight
    np.testing.assert_allclose(clf.coef_[0, 0], clf.coef_[0, 4], rtol=1e-5)


def test_lambda_at_upper_bound_warns():
    """Random labels: the best model is the most penalised one."""
    y = rng.integers(0, 2, 40)
    y[:2] = [0, 1]
    clf, caught = _fit_quietly(HyperOptimizer("cg", lambda_bounds=(-2.0, 2.0),
                                              lambda_init=1.9, random_state=1,
                                              max_iter=50), rng.standard_normal((40, 4)), y)
    _assert_finite(clf)
    if np.isclose(clf.log_alpha_[0], 2.0):
        assert any("upper bound" in str(w.message) for w in caught)


def test_inner_iteration_cap_warns():
    clf, caught = _fit_quietly(HyperOptimizer("shine", inner_max_iter=1, random_state=0,
                                              max_iter=3), X0, y0)
    _assert_finite(clf)
    assert any("inner solver" in str(w.message) for w in caught)


# -- sparse data stays sparse --------------------------------------------------------

class DensifyGuard(sparse.csr_matrix):
    """CSR matrix that refuses to be densified."""

    def toarray(self, *args, **kwargs):
        raise AssertionError("a sparse matrix was densified")

    todense = toarray


@pytest.mark.parametrize("method", ["cg", "shine-opa", "shine-pcg", "shine-refine"])
@pytest.mark.parametrize("cv", [None, 2])
def test_sparse_is_never_densified(method, cv, monkeypatch):
    X = sparse.random(60, 30, density=0.2, format="csr", random_state=0)
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    for cls in (sparse.csr_matrix, sparse.csc_matrix, sparse.coo_matrix,
                sparse.csr_array, sparse.csc_array, sparse.coo_array):
        monkeypatch.setattr(cls, "toarray", DensifyGuard.toarray)
        monkeypatch.setattr(cls, "todense", DensifyGuard.toarray)
    clf = HyperOptimizer(method, cv=cv, max_iter=5, random_state=0).fit(DensifyGuard(X), y)
    clf.predict_proba(DensifyGuard(X))
    with pytest.raises(AssertionError, match="densified"):
        DensifyGuard(X).toarray()
