"""Bad input gets one clear error; hard numerics finish finite; a failed fit changes nothing.

Every bad input tried is a row of one of the tables below (``BAD_DATA``,
``BAD_PARAMS``, ``BAD_CV``, ``BAD_HYPERGRADIENT``, ``BAD_LBFGS``), with the
error it gets and a fragment of the message, which names the parameter and
the value. Classes of input covered:

* data: NaN / inf (dense, sparse with explicit NaN, y, X_val, y_val), wrong
  lengths, empty, no feature, complex, 3-d, strings, one class,
  continuous labels, 2-d y, too few samples for the split, features so large
  that their squares overflow;
* numbers: booleans where integers are expected, floats for integers,
  strings for numbers, NaN and inf, zero or negative values, arrays where a
  scalar is expected, values out of range (Wolfe constants outside
  0 < c1 < c2 < 1, n_jobs=0, log_alpha=800);
* labels and indices: fractional group labels, cv as [], an iterator used up
  by a first fit, int < 2, float, bool, str; splits that are not pairs,
  float, out-of-range, negative, duplicated, overlapping or empty indices,
  boolean masks of the wrong length, 2-d index arrays;
* objects: non-callable callback / fun_and_grad / extra_secant, memory of
  the wrong type or size, w0 / x0 of the wrong shape, with NaN or strings.

RuntimeWarnings are errors in this module: none may escape.
"""
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sklearn.utils.validation import check_is_fitted

from hoag_shine import HyperOptimizer, LBFGSMemory, hypergradient, minimize_lbfgs
from hoag_shine.model import problem as inner_module

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

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


def _sparse_nan():
    X = sparse.csr_matrix(X0)
    X.data[3] = np.nan
    return X


BAD_DATA = [
    ("nan in X", _with(X=_nan_X()), "Input X contains NaN"),
    ("inf in X", _with(X=_inf_X()), "Input X contains infinity"),
    ("nan in y", _with(y=_nan_y()), "Input y contains NaN"),
    ("lengths", _with(y=y0[:-3]), "inconsistent numbers of samples"),
    ("empty X", (np.empty((0, 4)), np.empty(0)), r"0 sample\(s\)"),
    ("no feature", (np.empty((40, 0)), y0), r"0 feature\(s\)"),
    ("one class", _with(y=np.ones(40)), "one class"),
    ("continuous y", _with(y=rng.standard_normal(40)), "Unknown label type"),
    ("non-numeric X", (np.array([["a", "b"]] * 40), y0), "could not convert"),
    ("complex X", _with(X=X0 + 1j), "Complex data not supported"),
    ("3-d X", _with(X=X0[:, :, None]), "Found array with dim 3"),
    ("sparse X with explicit NaN", _with(X=_sparse_nan()), "Input X contains NaN"),
    ("sparse X with explicit inf", _with(X=sparse.csc_matrix(_inf_X())), "Input X contains inf"),
    ("2-d y", _with(y=np.c_[y0, y0]), "y should be a 1d array"),
    ("labels None", _with(y=[None] * 40), "Unknown label type"),
    ("features of size 1e300", _with(X=X0 * 1e300), "X holds values up to .* Rescale"),
    ("two samples", (X0[:2], np.array([0, 1])), "validation_fraction=0.25 of 2 samples"),
    ("four samples", (X0[:4], np.array([0, 1, 0, 1])), "validation_fraction=0.25 of 4"),
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
    ({"method": ["cg"]}, ValueError, "method must be one of"),
    ({"method": None}, ValueError, "method must be one of"),
    ({"memory_size": -3}, ValueError, "memory_size must be an integer >= 1"),
    ({"memory_size": True}, TypeError, "memory_size must be an integer >= 1 or None, got True"),
    ({"memory_size": 5.0}, TypeError, "memory_size must be an integer"),
    ({"lambda_bounds": (4, -4)}, ValueError, "low < high"),
    ({"lambda_bounds": (-1e3, 1e3)}, ValueError, "lambda_bounds must be"),
    ({"lambda_bounds": 3.0}, ValueError, "lambda_bounds must be"),
    ({"lambda_bounds": ("a", "b")}, ValueError, "lambda_bounds must be .* got \\('a', 'b'\\)"),
    ({"lambda_bounds": (np.nan, 1.0)}, ValueError, "lambda_bounds must be"),
    ({"lambda_bounds": (-1.0, 2.0, 3.0)}, ValueError, "lambda_bounds must be"),
    ({"lambda_bounds": (False, True)}, ValueError, "lambda_bounds must be"),
    ({"validation_fraction": 0.0}, ValueError, r"validation_fraction must be .* in \(0, 1\)"),
    ({"validation_fraction": 1.5}, ValueError, r"validation_fraction must be .* in \(0, 1\)"),
    ({"validation_fraction": True}, TypeError, "validation_fraction must be"),
    ({"validation_fraction": np.nan}, ValueError, "validation_fraction must be"),
    ({"regularization": "lasso"}, ValueError, "regularization must be"),
    ({"regularization": [0, 1]}, ValueError, "one label per feature"),
    ({"regularization": [0.1, 1, 10, 1]}, ValueError, r"integer or string labels, got \[0.1\]"),
    ({"regularization": [0, 1, np.nan, 1]}, ValueError, "integer or string labels, got \\[nan\\]"),
    ({"regularization": [True, False, True, False]}, TypeError, "dtype bool"),
    ({"regularization": [[0, 1, 0, 1]]}, ValueError, "1-d array of group labels"),
    ({"regularization": [1j, 0, 1, 0]}, TypeError, "dtype complex"),
    ({"max_iter": 0}, ValueError, "max_iter must be an integer >= 1, got 0"),
    ({"max_iter": 2.5}, TypeError, "max_iter must be an integer >= 1, got 2.5"),
    ({"max_iter": True}, TypeError, "max_iter must be an integer >= 1, got True"),
    ({"max_iter": "10"}, TypeError, "max_iter must be an integer"),
    ({"inner_max_iter": np.array([5])}, TypeError, "inner_max_iter must be an integer"),
    ({"opa_freq": 0}, ValueError, "opa_freq must be an integer >= 1"),
    ({"opa_freq": "sometimes"}, ValueError, "opa_freq must be an integer >= 1 or 'decreasing'"),
    ({"backward_max_iter": -1}, ValueError, "backward_max_iter must be an integer >= 0"),
    ({"tol": -1.0}, ValueError, "tol must be a finite real number >= 0, got -1.0"),
    ({"tol": np.nan}, ValueError, "tol must be .* got nan"),
    ({"tol": np.inf}, ValueError, "tol must be .* got inf"),
    ({"tol": "1e-3"}, TypeError, "tol must be a finite real number >= 0, got '1e-3'"),
    ({"tolerance_decrease": "linear"}, ValueError, "tolerance_decrease must be one of"),
    ({"tolerance_decrease": ["exponential"]}, ValueError, "tolerance_decrease must be one of"),
    ({"tolerance_factor": 0.0}, ValueError, r"tolerance_factor must be .* in \(0, 1\]"),
    ({"tolerance_factor": 2.0}, ValueError, r"tolerance_factor must be .* in \(0, 1\]"),
    ({"tolerance_factor": True}, TypeError, "tolerance_factor must be"),
    ({"tolerance_init": -1.0}, ValueError, "tolerance_init must be a finite real number > 0"),
    ({"tolerance_init": np.inf}, ValueError, "tolerance_init must be"),
    ({"lambda_init": [0.0, 1.0]}, ValueError, "lambda_init must be"),
    ({"lambda_init": "a"}, TypeError, "lambda_init must hold real numbers"),
    ({"lambda_init": np.nan}, ValueError, "lambda_init must hold finite numbers"),
    ({"lambda_init": 1j}, TypeError, "lambda_init must hold real numbers"),
    ({"lambda_init": [[0.0]]}, ValueError, "lambda_init must have"),
    ({"lambda_init": True}, TypeError, "lambda_init must hold real numbers"),
    ({"fit_intercept": "yes"}, TypeError, "fit_intercept must be True or False, got 'yes'"),
    ({"fit_intercept": 1}, TypeError, "fit_intercept must be True or False, got 1"),
    ({"warm_start_memory": None}, TypeError, "warm_start_memory must be True or False"),
    ({"refit": "no"}, TypeError, "refit must be True or False"),
    ({"n_jobs": 0}, ValueError, "n_jobs must be .* got 0"),
    ({"n_jobs": 1.5}, TypeError, "n_jobs must be an integer or None, got 1.5"),
    ({"n_jobs": True}, TypeError, "n_jobs must be an integer"),
    ({"random_state": "abc"}, ValueError, "random_state must be .* got 'abc'"),
    ({"random_state": -1}, ValueError, "random_state must be .* got -1"),
    ({"random_state": 1.5}, ValueError, "random_state must be .* got 1.5"),
    ({"verbose": np.array([1, 2])}, TypeError, "verbose must be an integer >= 0"),
    ({"verbose": -1}, ValueError, "verbose must be an integer >= 0, got -1"),
    ({"verbose": "loud"}, TypeError, "verbose must be an integer"),
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


_TRAIN, _TEST = np.arange(20), np.arange(20, 40)
_Y_CV = np.r_[np.zeros(10, int), np.ones(10, int), np.zeros(10, int), np.ones(10, int)]

BAD_CV = [
    ("empty list", [], ValueError, r"cv holds no split, got \[\]"),
    ("int 1", 1, ValueError, "cv must be None, an integer >= 2"),
    ("int 0", 0, ValueError, "cv must be None, an integer >= 2"),
    ("bool", True, TypeError, "cv must be None, an integer >= 2"),
    ("float", 2.5, TypeError, "cv must be .* got 2.5"),
    ("string", "ab", TypeError, "cv must be .* got 'ab'"),
    ("object", object(), TypeError, "cv must be"),
    ("float indices", [(_TRAIN * 1.0, _TEST)], TypeError,
     "training indices of split 0 of cv must be integers, got dtype float64"),
    ("index past the end", [(_TRAIN, np.r_[_TEST, 40])], ValueError,
     r"held-out indices of split 0 of cv must lie in \[0, 39\] .* got \[40\]"),
    ("negative index", [(np.r_[-1, _TRAIN[1:]], _TEST)], ValueError, r"got \[-1\]"),
    ("duplicated index", [(np.r_[0, _TRAIN], _TEST)], ValueError, r"hold duplicates: \[0\]"),
    ("overlap", [(np.r_[_TRAIN, 20], _TEST)], ValueError,
     r"training and held-out indices of split 0 of cv overlap: \[20\]"),
    ("empty part", [(np.arange(40), [])], ValueError,
     "held-out indices of split 0 of cv are empty"),
    ("not a pair", [np.arange(40)], ValueError, "split 0 of cv must be a pair"),
    ("triple", [(_TRAIN, _TEST, _TEST)], ValueError, "split 0 of cv must be a pair"),
    ("short mask", [(np.arange(39) < 20, np.arange(40) >= 20)], ValueError,
     "boolean mask of length 39, X has 40 samples"),
    ("2-d indices", [(_TRAIN.reshape(4, 5), _TEST)], ValueError,
     r"must be a 1-d array, got shape \(4, 5\)"),
    ("second split bad", [(_TRAIN, _TEST), (_TEST, np.r_[_TRAIN, 99])], ValueError,
     "held-out indices of split 1"),
    ("0-d array", np.array(2.0), TypeError, "cv must be None, an integer"),
]


@pytest.mark.parametrize("name, cv, error, match", BAD_CV, ids=[b[0] for b in BAD_CV])
def test_bad_cv(name, cv, error, match):
    with pytest.raises(error, match=match):
        HyperOptimizer(cv=cv, max_iter=2).fit(X0, _Y_CV)


def test_cv_boolean_masks_are_index_sets():
    masks = [(np.arange(40) < 20, np.arange(40) >= 20)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = HyperOptimizer(cv=masks, max_iter=3).fit(X0, _Y_CV)
        b = HyperOptimizer(cv=[(_TRAIN, _TEST)], max_iter=3).fit(X0, _Y_CV)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_cv_iterator_used_up_by_a_first_fit():
    clf = HyperOptimizer(cv=((tr, te) for tr, te in [(_TRAIN, _TEST)]), max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X0, _Y_CV)
    coef = clf.coef_
    with pytest.raises(ValueError, match="iterator or generator of splits is used up"):
        clf.fit(X0, _Y_CV)
    assert clf.coef_ is coef  # the failed fit left the first one in place


def _hg(**kwargs):
    data = dict(X=X0, y=y0, X_val=X0, y_val=y0, log_alpha=0.0)
    data.update(kwargs)
    return lambda: hypergradient(**data)


BAD_HYPERGRADIENT = [
    ("unseen labels", dict(y_val=y0 + 5), ValueError, "not among the classes"),
    ("log_alpha length", dict(log_alpha=np.zeros(3)), ValueError, "log_alpha has 3 entries"),
    ("X_val width", dict(X_val=X0[:, :3]), ValueError, "X_val has 3 features"),
    ("unknown method", dict(method="adam"), ValueError, "unknown method"),
    ("method int", dict(method=3), ValueError, "unknown method 3"),
    ("log_alpha 800", dict(log_alpha=800.0), ValueError,
     r"log_alpha must lie in \[-100, 100\] .* got \[800.0\]"),
    ("log_alpha -800", dict(log_alpha=-800.0), ValueError, "log_alpha must lie in"),
    ("log_alpha NaN", dict(log_alpha=np.nan), ValueError, "log_alpha must hold finite numbers"),
    ("log_alpha string", dict(log_alpha="a"), TypeError, "log_alpha must hold real numbers"),
    ("log_alpha complex", dict(log_alpha=1j), TypeError, "log_alpha must hold real numbers"),
    ("log_alpha bool", dict(log_alpha=True), TypeError, "log_alpha must hold real numbers"),
    ("log_alpha 2-d", dict(log_alpha=[[0.0]]), ValueError, "log_alpha must have"),
    ("log_alpha empty", dict(log_alpha=[]), ValueError, "log_alpha has 0 entries"),
    ("fractional groups", dict(groups=[0.1, 1, 10, 1], log_alpha=[0, 0, 0]), ValueError,
     r"groups must hold integer or string labels, got \[0.1\]"),
    ("groups length", dict(groups=[0, 1]), ValueError, "groups must hold one label per feature"),
    ("fit_intercept string", dict(fit_intercept="no"), TypeError,
     "fit_intercept must be True or False"),
    ("inner_tol negative", dict(inner_tol=-1.0), ValueError,
     "inner_tol must be a finite real number >= 0, got -1.0"),
    ("inner_tol string", dict(inner_tol="1"), TypeError, "inner_tol must be"),
    ("inner_tol NaN", dict(inner_tol=np.nan), ValueError, "inner_tol must be .* got nan"),
    ("inner_max_iter bool", dict(inner_max_iter=True), TypeError,
     "inner_max_iter must be an integer >= 0, got True"),
    ("inner_max_iter float", dict(inner_max_iter=2.5), TypeError,
     "inner_max_iter must be an integer"),
    ("former name", dict(inner_tol=1e-3, tol=1e-4), TypeError,
     "unexpected keyword argument 'tol'"),
    ("memory_size 0", dict(memory_size=0), ValueError, "memory_size must be an integer >= 1"),
    ("opa_freq 0", dict(method="shine-opa", opa_freq=0), ValueError, "opa_freq must be"),
    ("opa_freq decreasing", dict(method="shine-opa", opa_freq="decreasing"), TypeError,
     "opa_freq must be an integer >= 1 or None"),
    ("backward_tol inf", dict(backward_tol=np.inf), ValueError, "backward_tol must be .* got inf"),
    ("backward_max_iter -1", dict(backward_max_iter=-1), ValueError, "backward_max_iter must be"),
    ("w0 shape", dict(w0=np.zeros(3)), ValueError, r"w0 must have shape \(4,\), got \(3,\)"),
    ("w0 NaN", dict(w0=np.full(4, np.nan)), ValueError, "w0 must hold finite numbers"),
    ("w0 strings", dict(w0=list("abcd")), TypeError, "w0 must hold real numbers"),
    ("X_val NaN", dict(X_val=np.where(X0 > 2, np.nan, X0)), ValueError, "Input X_val contains NaN"),
    ("y_val NaN", dict(y_val=np.where(y0 == 1, np.nan, 0.0)), ValueError,
     "Input y_val contains NaN"),
    ("continuous y", dict(y=rng.standard_normal(40)), ValueError, "Unknown label type"),
    ("empty X", dict(X=np.empty((0, 4)), y=[]), ValueError, r"0 sample\(s\)"),
    ("X of size 1e300", dict(X=X0 * 1e300), ValueError, "X holds values up to"),
    ("X_val of size 1e300", dict(X_val=X0 * 1e300), ValueError, "X_val holds values up to"),
    ("X of +-1e308", dict(X=np.sign(X0) * 1e308), ValueError, "X holds values up to 1e"),
]


@pytest.mark.parametrize("name, kwargs, error, match", BAD_HYPERGRADIENT,
                         ids=[b[0] for b in BAD_HYPERGRADIENT])
def test_bad_hypergradient_input(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        _hg(**kwargs)()


def _quadratic(x):
    return 0.5 * x @ x, x


_MEMORY3 = LBFGSMemory(3, [(np.ones(3), np.ones(3))])

BAD_LBFGS = [
    ("fun not callable", dict(fun_and_grad=3), TypeError, "fun_and_grad must be callable"),
    ("x0 empty", dict(x0=np.ones(0)), ValueError, "x0 must hold at least one entry"),
    ("x0 2-d", dict(x0=np.ones((2, 2))), ValueError, "x0 must have 1 dimension"),
    ("x0 scalar", dict(x0=1.0), ValueError, "x0 must have 1 dimension"),
    ("x0 NaN", dict(x0=[np.nan, 1.0]), ValueError, "x0 must hold finite numbers"),
    ("x0 complex", dict(x0=[1j, 1.0]), TypeError, "x0 must hold real numbers"),
    ("x0 strings", dict(x0=["a", "b"]), TypeError, "x0 must hold real numbers"),
    ("memory_size 0", dict(memory_size=0), ValueError, "memory_size must be an integer >= 1, got 0"),
    ("memory_size float", dict(memory_size=1.5), TypeError,
     "memory_size must be an integer >= 1, got 1.5"),
    ("memory_size bool", dict(memory_size=True), TypeError,
     "memory_size must be an integer >= 1, got True"),
    ("tol negative", dict(tol=-1.0), ValueError, "tol must be"),
    ("tol NaN", dict(tol=np.nan), ValueError, "tol must be"),
    ("tol inf", dict(tol=np.inf), ValueError, "tol must be .* got inf"),
    ("max_iter -1", dict(max_iter=-1), ValueError, "max_iter must be an integer >= 0"),
    ("max_iter float", dict(max_iter=2.5), TypeError, "max_iter must be an integer"),
    ("memory list", dict(memory=[]), TypeError, "memory must be an LBFGSMemory or None"),
    ("memory of another size", dict(memory=_MEMORY3), ValueError,
     r"memory applies to vectors of length 3, x0 has shape \(2,\)"),
    ("extra_secant int", dict(extra_secant=3), TypeError, "extra_secant must be callable"),
    ("c1 0", dict(c1=0.0), ValueError, r"c1 must be .* in \(0, 1\), got 0.0"),
    ("c2 1", dict(c2=1.0), ValueError, r"c2 must be .* in \(0, 1\), got 1.0"),
    ("c1 > c2", dict(c1=0.9, c2=0.1), ValueError, "0 < c1 < c2 < 1, got c1=0.9, c2=0.1"),
    ("c1 = c2", dict(c1=0.5, c2=0.5), ValueError, "0 < c1 < c2 < 1"),
    ("c1 NaN", dict(c1=np.nan), ValueError, "c1 must be"),
    ("c2 string", dict(c2="0.9"), TypeError, "c2 must be"),
    ("max_linesearch 0", dict(max_linesearch=0), ValueError,
     "max_linesearch must be an integer >= 1"),
    ("max_linesearch float", dict(max_linesearch=2.5), TypeError, "max_linesearch must be"),
    ("warn None", dict(warn=None), TypeError, "warn must be True or False"),
]


@pytest.mark.parametrize("name, kwargs, error, match", BAD_LBFGS, ids=[b[0] for b in BAD_LBFGS])
def test_bad_lbfgs_input(name, kwargs, error, match):
    args = dict(fun_and_grad=_quadratic, x0=np.ones(2))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        minimize_lbfgs(args.pop("fun_and_grad"), args.pop("x0"), **args)


def test_minimize_lbfgs_non_finite_start():
    with pytest.raises(FloatingPointError, match="not finite at x0"):
        minimize_lbfgs(lambda x: (np.nan, x), np.ones(2))


@pytest.mark.parametrize("nan", [False, True])
def test_infinite_gradient_region(nan):
    """Beyond x_0 = 0.5 the gradient is inf (or NaN): the minimiser (0.5, 0) on
    the edge of that region is approached without any warning."""
    def fun(x):
        if x[0] > 0.5:
            return 0.5 * x @ x - 2 * x[0], np.array([np.nan if nan else np.inf, np.inf])
        return 0.5 * x @ x - 2 * x[0], x - [2.0, 0.0]

    res = minimize_lbfgs(fun, np.array([0.0, 1.0]), max_iter=200, warn=False)
    assert np.isfinite(res.fun) and np.all(np.isfinite(res.x)) and res.x[0] <= 0.5
    # the objective decreased towards its value on the edge, -0.875
    assert res.fun < fun(np.array([0.0, 1.0]))[0]


# -- an interrupted or failed fit changes nothing ------------------------------------

class _Interrupt:
    """Callback raising ``error`` at outer iteration ``at``."""

    def __init__(self, at, error=KeyboardInterrupt):
        self.at, self.error = at, error

    def __call__(self, state):
        if state["iteration"] == self.at:
            raise self.error("stop")
        return False


def _state(clf):
    return dict(vars(clf))


def test_interrupted_first_fit_leaves_the_estimator_unfitted():
    clf = HyperOptimizer(callback=_Interrupt(2), max_iter=10)
    before = _state(clf)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X0, y0)
    assert _state(clf) == before
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    with pytest.raises(NotFittedError):
        clf.predict(X0)


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError, MemoryError])
def test_interrupted_refit_on_other_data_keeps_the_previous_fit(error):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = HyperOptimizer(max_iter=5, random_state=0).fit(X0, y0)
    before = _state(clf)
    expected = clf.predict_proba(X0)
    wider = np.c_[X0, rng.standard_normal((40, 2))]
    clf.set_params(callback=_Interrupt(1, error))
    with pytest.raises(error):
        clf.fit(wider, y0)
    after = _state(clf)
    assert after.pop("callback") is not before.pop("callback")
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert after[name] is value, name
    assert clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.predict_proba(X0), expected)


def test_failure_inside_the_inner_solver_restores_the_state(monkeypatch):
    """An error raised by the objective during an inner solve (here at its
    25th evaluation) propagates unchanged and leaves the previous fit."""
    import pandas as pd

    frame = pd.DataFrame(X0, columns=list("abcd"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = HyperOptimizer(max_iter=5, random_state=0).fit(frame, y0)
    before = _state(clf)
    original = inner_module.InnerProblem.fun_and_grad
    calls = []

    def failing(self, log_alpha):
        fun = original(self, log_alpha)

        def wrapped(w):
            calls.append(1)
            if len(calls) == 25:
                raise ArithmeticError("objective failed")
            return fun(w)

        return wrapped

    monkeypatch.setattr(inner_module.InnerProblem, "fun_and_grad", failing)
    with pytest.raises(ArithmeticError, match="objective failed"):
        clf.fit(X0 * 2.0, y0)  # no feature names: fit would delete feature_names_in_
    assert len(calls) == 25
    assert _state(clf).keys() == before.keys()
    assert all(vars(clf)[k] is v for k, v in before.items())
    np.testing.assert_array_equal(clf.feature_names_in_, list("abcd"))


def test_failed_validation_after_a_fit_keeps_it():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = HyperOptimizer(max_iter=3, random_state=0).fit(X0, y0)
    before = _state(clf)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(_nan_X(), y0)
    assert _state(clf) == before


# -- fit never modifies its input; the same seed gives the same bits ---------------------

@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_fit_does_not_modify_the_data_and_is_deterministic(fmt):
    X = X0 if fmt == "dense" else getattr(sparse, f"{fmt}_matrix")(X0 * (np.abs(X0) > 0.5))
    y = y0.astype(np.float64)
    X_copy, y_copy = X.copy(), y.copy()
    fits = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(HyperOptimizer(max_iter=6, random_state=3, cv=None).fit(X, y))
    if fmt == "dense":
        np.testing.assert_array_equal(X, X_copy)
    else:
        for name in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(X, name), getattr(X_copy, name))
    np.testing.assert_array_equal(y, y_copy)
    a, b = fits
    for name in ("coef_", "intercept_", "log_alpha_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert [r["outer_loss"] for r in a.history_] == [r["outer_loss"] for r in b.history_]


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


def test_predict_on_huge_features():
    """Margins that overflow are infinite, not warnings: the prediction follows
    their sign, the probabilities stay in [0, 1]."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = HyperOptimizer(max_iter=3, random_state=0).fit(X0, y0)
    Z = np.full((3, 4), 1e308) * np.array([[1.0], [-1.0], [1.0]])
    sign = np.sign(Z[:, 0]) * np.sign(clf.coef_[0].sum())
    np.testing.assert_array_equal(clf.predict(Z), clf.classes_[(sign > 0).astype(int)])
    proba = clf.predict_proba(Z)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("call, old", [
    (lambda X, y: hypergradient(X[:60], y[:60], X[60:], y[60:], 0.0, tol=1e-6), "tol"),
    (lambda X, y: hypergradient(X[:60], y[:60], X[60:], y[60:], 0.0, max_iter=50),
     "max_iter"),
    (lambda X, y: minimize_lbfgs(lambda w: (0.5 * w @ w, w), np.ones(3), m=3), "m"),
    (lambda X, y: LBFGSMemory(maxlen=3), "maxlen"),
    (lambda X, y: LBFGSMemory(3).copy(maxlen=2), "maxlen"),
])
def test_former_parameter_names_are_refused(call, old):
    """One name per concept: the spellings removed in 0.5.0 are unknown keywords."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 4))
    y = (X[:, 0] + 0.3 * rng.standard_normal(100) > 0).astype(int)
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{old}'"):
        call(X, y)
