"""Multinomial logistic regression and sample weights, against independent references.

The references are written here: the multinomial objective and its
derivatives by hand (log-sum-exp on dense arrays) and by central finite
differences, scikit-learn's LogisticRegression (multinomial for more than
two classes) for the inner solutions and the held-out losses of the
grid searches.
"""
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit

from hoag_shine import (HyperOptimizer, InnerProblem, LogisticLoss, hypergradient,
                        minimize_lbfgs)
from hoag_shine.model.datafit import MultinomialLoss, make_datafit
from hoag_shine.implicit.hypergradient import DEFAULT_MEMORY_BYTES, default_memory_size
from hoag_shine.implicit.methods import get_method

DATA_HOME = Path(__file__).resolve().parents[2] / "shared" / "datasets"
ALL_METHODS = ["exact", "cg", "shine", "shine-opa", "shine-refine", "shine-pcg",
               "jacobian-free"]


def _data(seed=0, n=90, p=6, K=4, fmt="dense", n_val=50):
    """Random softmax-model data with every class in both parts."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_val, p))
    if fmt != "dense":
        X *= rng.random(X.shape) < 0.6
    W = rng.standard_normal((p, K))
    logits = X @ W + rng.gumbel(size=(n + n_val, K))
    y = np.argmax(logits, axis=1)
    y[:K] = np.arange(K)
    y[n:n + K] = np.arange(K)
    convert = np.asarray if fmt == "dense" else sp.csr_matrix
    return convert(X[:n]), y[:n], convert(X[n:]), y[n:], X[:n], X[n:]


def _groups(kind, p):
    if kind == "scalar":
        return None, np.zeros(p, dtype=int), 1
    if kind == "per-feature":
        return "per-feature", np.arange(p), p
    index = np.arange(p) % 3
    return index, index, 3


def _reference_objective(X, y, w, per_feature_alpha, K, fit_intercept, sw):
    """Weighted multinomial loss plus the l2 penalty, written out on dense arrays."""
    p = X.shape[1]
    W = w.reshape(p + int(fit_intercept), K)
    z = X @ W[:p] + (W[p] if fit_intercept else 0.0)
    loss = logsumexp(z, axis=1) - z[np.arange(len(y)), y]
    return np.dot(sw, loss) + 0.5 * np.sum(per_feature_alpha[:, None] * W[:p] ** 2)


def _central(fun, x, direction, step=1e-5):
    return (fun(x + step * direction) - fun(x - step * direction)) / (2 * step)


def _relative(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b)


@pytest.mark.parametrize("kind", ["scalar", "per-feature", "grouped"])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_derivatives_against_references(fmt, fit_intercept, kind):
    X, y, _, _, X_dense, _ = _data(fmt=fmt)
    K, p = 4, X.shape[1]
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.2, 3.0, y.shape[0])
    groups, index, n_hyper = _groups(kind, p)
    problem = InnerProblem.from_data(X, y, groups, fit_intercept, n_classes=K,
                                     sample_weight=sw)
    assert problem.n_coef == (p + fit_intercept) * K and problem.n_hyper == n_hyper
    log_alpha = rng.uniform(-1.0, 1.0, n_hyper)
    w = 0.4 * rng.standard_normal(problem.n_coef)
    if fit_intercept:  # the objective's shift term vanishes on centred intercepts
        w[-K:] -= w[-K:].mean()
    alpha = np.exp(log_alpha)[index]
    value, grad = problem.value_and_gradient(w, log_alpha)
    assert value == pytest.approx(
        _reference_objective(X_dense, y, w, alpha, K, fit_intercept, sw), rel=1e-12)

    def objective(v):
        return problem.value(v, log_alpha)

    for _ in range(3):
        d = rng.standard_normal(problem.n_coef)
        assert np.dot(grad, d) == pytest.approx(_central(objective, w, d), rel=1e-7)
        hd = _central(lambda v: problem.value_and_gradient(v, log_alpha)[1], w, d)
        assert _relative(problem.hessian_operator(w, log_alpha) @ d, hd) < 1e-7
    H = problem.hessian_operator(w, log_alpha).matmat(np.eye(problem.n_coef))
    np.testing.assert_allclose(np.diag(H), problem.hessian_diagonal(w, log_alpha),
                               rtol=1e-12, atol=1e-12)
    assert np.linalg.eigvalsh(H).min() > 0  # the shift term makes it definite
    q = rng.standard_normal(problem.n_coef)
    cross = np.array([
        _central(lambda la: np.dot(problem.value_and_gradient(w, la)[1], q), log_alpha, e)
        for e in np.eye(n_hyper)])
    assert _relative(problem.cross_vjp(w, log_alpha, q), cross) < 1e-7


def _sklearn_solution(X, y, alpha, fit_intercept, fmt):
    """scikit-learn's multinomial solution, per-feature strengths folded into X."""
    scale = np.exp(-0.5 * np.log(alpha))
    X_fit = X * scale if fmt == "dense" else (X @ sp.diags(scale)).tocsr()
    clf = LogisticRegression(C=1.0, fit_intercept=fit_intercept, tol=1e-12,
                             solver="newton-cholesky", max_iter=1000).fit(X_fit, y)
    coef = clf.coef_ * scale
    intercept = clf.intercept_ - clf.intercept_.mean() if fit_intercept else None
    return coef, intercept


@pytest.mark.parametrize("base", [-2.0, 1.0, 4.0])
@pytest.mark.parametrize("kind", ["scalar", "per-feature"])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_inner_solution_matches_sklearn(fmt, fit_intercept, kind, base):
    X, y, _, _, _, _ = _data(seed=2, fmt=fmt, K=3)
    p = X.shape[1]
    groups, index, n_hyper = _groups(kind, p)
    log_alpha = base + np.linspace(-1.0, 1.0, n_hyper) * (n_hyper > 1)
    problem = InnerProblem.from_data(X, y, groups, fit_intercept, n_classes=3)
    result = minimize_lbfgs(problem.fun_and_grad(log_alpha), np.zeros(problem.n_coef),
                            tol=1e-10, max_iter=10000)
    assert result.success
    coef, intercept = problem.split_coef(result.x)
    ref_coef, ref_intercept = _sklearn_solution(X, y, np.exp(log_alpha)[index],
                                                fit_intercept, fmt)
    assert coef.shape == (3, p)
    assert _relative(coef, ref_coef) < 1e-6
    if fit_intercept:
        assert abs(intercept.sum()) < 1e-8 * np.abs(intercept).max()
        assert _relative(intercept, ref_intercept) < 1e-6


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("method", ["exact", "cg"])
def test_exact_hypergradients_match_finite_differences(method, fit_intercept):
    X, y, X_val, y_val, _, _ = _data(seed=3)
    rng = np.random.default_rng(3)
    sw, sw_val = rng.uniform(0.5, 2.0, y.shape[0]), rng.uniform(0.5, 2.0, y_val.shape[0])
    log_alpha = np.array([0.5, -0.5, 1.0])
    groups = np.arange(X.shape[1]) % 3
    options = dict(groups=groups, fit_intercept=fit_intercept, inner_tol=1e-13,
                   sample_weight=sw, sample_weight_val=sw_val)
    res = hypergradient(X, y, X_val, y_val, log_alpha, method=method, **options)
    assert res.coef.shape == (4, X.shape[1])

    def outer(la):
        return hypergradient(X, y, X_val, y_val, la, method="cg", **options).outer_loss

    fd = np.array([_central(outer, log_alpha, e, 1e-4) for e in np.eye(3)])
    assert _relative(res.grad, fd) < 1e-6, (res.grad, fd)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_every_method_runs_on_multinomial(method):
    X, y, X_val, y_val, _, _ = _data(seed=4, n=200, p=12, K=5)
    exact = hypergradient(X, y, X_val, y_val, 0.0, method="exact", fit_intercept=True)
    res = hypergradient(X, y, X_val, y_val, 0.0, method=method, fit_intercept=True)
    assert res.finite and res.grad.shape == (1,)
    assert res.outer_loss == pytest.approx(exact.outer_loss, rel=1e-8)
    if method != "jacobian-free":  # its q is not H^-1 v
        assert np.sign(res.grad) == np.sign(exact.grad)
    if method in ("exact", "cg", "shine-pcg"):
        assert res.grad == pytest.approx(exact.grad, rel=1e-6)


def test_two_classes_keep_the_binary_formulation():
    X, y, X_val, y_val, _, _ = _data(seed=5, K=2)
    res = hypergradient(X, y, X_val, y_val, 0.0, method="cg", fit_intercept=True)
    assert res.w.shape == (X.shape[1] + 1,) and res.coef.shape == (X.shape[1],)
    datafit = make_datafit(X, y, 2, True)
    assert isinstance(datafit, LogisticLoss)
    np.testing.assert_array_equal(datafit.y, np.where(y == 1, 1.0, -1.0))
    assert isinstance(make_datafit(X, y % 2 + 1, 3), MultinomialLoss)


def test_integer_weights_equal_repeated_rows():
    X, y, X_val, y_val, _, _ = _data(seed=6, K=3)
    rng = np.random.default_rng(6)
    sw = rng.integers(0, 4, y.shape[0])
    sw[:3] = 1  # every class keeps a sample
    sw_val = rng.integers(1, 3, y_val.shape[0])
    kwargs = dict(method="exact", groups=np.arange(X.shape[1]) % 2, fit_intercept=True,
                  inner_tol=1e-13)
    weighted = hypergradient(X, y, X_val, y_val, [0.2, -0.4], sample_weight=sw,
                             sample_weight_val=sw_val, **kwargs)
    repeated = hypergradient(np.repeat(X, sw, axis=0), np.repeat(y, sw),
                             np.repeat(X_val, sw_val, axis=0), np.repeat(y_val, sw_val),
                             [0.2, -0.4], **kwargs)
    assert weighted.outer_loss == pytest.approx(repeated.outer_loss, rel=1e-10)
    assert _relative(weighted.w, repeated.w) < 1e-8
    assert _relative(weighted.grad, repeated.grad) < 1e-8


def test_default_memory_is_capped_in_bytes():
    shine = get_method("shine")
    assert default_memory_size(shine, 1000) == shine.default_memory
    n_coef = 20 * 130107  # 20 newsgroups' 20 classes
    m = default_memory_size(shine, n_coef)
    assert 3 <= m < shine.default_memory and 16 * m * n_coef <= DEFAULT_MEMORY_BYTES
    assert default_memory_size(shine, 10 ** 9) == 3


def _heldout_loss(X, y, train, test, log_alpha, fit_intercept, clf=None):
    """Summed multinomial loss on ``test`` of scikit-learn's fit on ``train``.

    Newton-Cholesky on dense data (digits: 650 coefficients), lbfgs on sparse
    data with many features.
    """
    if clf is None:
        dense = not sp.issparse(X)
        clf = LogisticRegression(tol=1e-10 if dense else 1e-8, max_iter=100 if dense else 10000,
                                 fit_intercept=fit_intercept, warm_start=True,
                                 solver="newton-cholesky" if dense else "lbfgs")
    clf.set_params(C=float(np.exp(-log_alpha)))
    clf.fit(X[train], y[train])
    z = clf.decision_function(X[test])
    index = np.searchsorted(clf.classes_, y[test])
    return float(np.sum(logsumexp(z, axis=1) - z[np.arange(len(test)), index])), clf


def _optimum(X, y, train, test, fit_intercept, grid):
    """The held-out loss minimised over log(alpha): a grid, then a bounded scalar search."""
    clf, values = None, []
    for lam in grid:
        loss, clf = _heldout_loss(X, y, train, test, lam, fit_intercept, clf)
        values.append(loss)
    k = int(np.argmin(values))
    assert 0 < k < len(grid) - 1, "the grid must bracket the optimum"
    res = minimize_scalar(lambda lam: _heldout_loss(X, y, train, test, lam,
                                                    fit_intercept, clf)[0],
                          bounds=(grid[k - 1], grid[k + 1]), method="bounded",
                          options=dict(xatol=1e-3))
    return min(res.fun, values[k]), res.x


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    train, test = next(StratifiedShuffleSplit(1, test_size=0.3, random_state=0).split(X, y))
    best = _optimum(X, y, train, test, True, np.arange(-4.0, 6.01, 1.0))
    return X, y, train, test, best


@pytest.mark.parametrize("method", ["cg", "shine-opa"])
def test_digits_reaches_the_optimum(digits, method):
    X, y, train, test, (best, best_lam) = digits
    clf = HyperOptimizer(method, cv=[(train, test)], lambda_init=2.0).fit(X, y)
    assert clf.coef_.shape == (10, 64) and clf.intercept_.shape == (10,)
    assert abs(clf.intercept_.sum()) < 1e-6 * np.abs(clf.intercept_).max()
    loss, _ = _heldout_loss(X, y, train, test, clf.log_alpha_[0], True)
    assert loss <= best * (1 + 1e-3), (clf.log_alpha_, best_lam, loss, best)
    assert -clf.best_score_ * len(test) == pytest.approx(loss, rel=1e-4)
    proba = clf.predict_proba(X[:50])
    assert proba.shape == (50, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X[:50]), clf.classes_[proba.argmax(axis=1)])


@pytest.fixture(scope="module")
def news20_multiclass():
    home = DATA_HOME / "scikit_learn_data"
    if not home.exists():
        pytest.skip(f"20news cache not found under {home}")
    from sklearn.datasets import fetch_20newsgroups_vectorized
    data = fetch_20newsgroups_vectorized(subset="all", data_home=str(home),
                                         download_if_missing=False)
    keep = np.flatnonzero(np.isin(data.target, [0, 1, 2, 3]))[::2]  # 4 groups, half
    X, y = data.data.tocsr()[keep], data.target[keep]
    used = np.flatnonzero(X.getnnz(axis=0))
    X = X[:, used]
    train, test = next(StratifiedShuffleSplit(1, test_size=0.25, random_state=0).split(X, y))
    best = _optimum(X, y, train, test, False, np.arange(-7.0, 0.01, 1.0))
    return X, y, train, test, best


@pytest.mark.parametrize("method", ["cg", "shine-opa"])
def test_news20_multiclass_reaches_the_optimum(news20_multiclass, method):
    X, y, train, test, (best, best_lam) = news20_multiclass
    clf = HyperOptimizer(method, cv=[(train, test)], fit_intercept=False,
                         lambda_init=-2.0, refit=False).fit(X, y)
    loss, _ = _heldout_loss(X, y, train, test, clf.log_alpha_[0], False)
    assert loss <= best * (1 + 1e-3), (clf.log_alpha_, best_lam, loss, best)


def test_estimator_weights_equal_repeated_rows():
    rng = np.random.default_rng(7)
    X, y, _, _, _, _ = _data(seed=7, n=60, K=3)
    sw = rng.integers(1, 3, y.shape[0])  # 1 or 2: each weight-2 row appears twice
    train = np.arange(40)
    test = np.arange(40, 60)
    X_rep, y_rep = np.repeat(X, sw, axis=0), np.repeat(y, sw)
    owner = np.repeat(np.arange(60), sw)
    cv_rep = [(np.flatnonzero(owner < 40), np.flatnonzero(owner >= 40))]
    # one strength: the outer path does not amplify rounding (see the user guide)
    options = dict(method="cg", tol=1e-6)
    a = HyperOptimizer(cv=[(train, test)], **options).fit(X, y, sample_weight=sw)
    b = HyperOptimizer(cv=cv_rep, **options).fit(X_rep, y_rep)
    assert a.stop_reason_ == b.stop_reason_ == "tol"
    np.testing.assert_allclose(a.log_alpha_, b.log_alpha_, rtol=1e-8)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-8, atol=1e-12)
    assert a.best_score_ == pytest.approx(b.best_score_, rel=1e-8)


def test_estimator_refuses_bad_weights_and_missing_classes():
    X, y, _, _, _, _ = _data(seed=8, n=60, K=3)
    clf = HyperOptimizer(max_iter=2)
    with pytest.raises(ValueError, match="non-negative"):
        clf.fit(X, y, sample_weight=np.full(60, -1.0))
    with pytest.raises(ValueError, match="finite"):
        clf.fit(X, y, sample_weight=np.r_[np.nan, np.ones(59)])
    with pytest.raises(ValueError, match="shape"):
        clf.fit(X, y, sample_weight=np.ones(59))
    with pytest.raises(ValueError, match="weight 0"):
        clf.fit(X, y, sample_weight=(y != 2).astype(float))
    others = np.flatnonzero(y != 2)
    train, test = others[5:], np.r_[np.flatnonzero(y == 2), others[:5]]
    with pytest.raises(ValueError, match="training part of split 0 holds 2 of the 3"):
        HyperOptimizer(cv=[(train, test)]).fit(X, y)
    with pytest.raises(ValueError, match="held-out part of split 0 holds a single class"):
        HyperOptimizer(cv=[(np.arange(50), np.flatnonzero(y[50:] == y[50]) + 50)]).fit(X, y)


def test_zero_weights_drop_their_samples():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1e150, 0.0]])
    loss = LogisticLoss(X, np.array([1.0, -1.0, -1.0]), sample_weight=[1.0, 1.0, 0.0])
    value, grad = loss.value_and_gradient(np.array([1e160, 0.0]))  # sample 3 overflows
    assert value == pytest.approx(np.log(2.0)) and np.all(np.isfinite(grad))
    multi = MultinomialLoss(X, np.array([0, 1, 0]), 3, sample_weight=[1.0, 0.0, 1.0])
    assert multi.X.shape[0] == 2 and multi.total_weight == 2.0


@pytest.mark.parametrize("labels, message", [
    ([-1, 1, 1], r"class indices must lie in \[0, 1\]"),
    ([0, 1, 2.7], "integer class indices"),
    ([0, 1], "vector of 3 integer class indices"),
])
def test_multinomial_loss_refuses_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        MultinomialLoss(np.eye(3), np.array(labels))


def test_hypergradient_refuses_a_class_of_zero_weight():
    X, y, X_val, y_val, _, _ = _data(seed=9, K=3)
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] has sample_weight 0"):
        hypergradient(X, y, X_val, y_val, 0.0, fit_intercept=True,
                      sample_weight=np.where(y == 2, 0.0, 1.0))


def test_multiclass_prediction_refuses_overflowing_scores():
    X, y, _, _, _, _ = _data(seed=10, n=60, K=3)
    clf = HyperOptimizer(max_iter=3).fit(X, y)
    clf.coef_ = clf.coef_ * 1e300
    with pytest.raises(ValueError, match="overflows"):
        clf.predict_proba(X[:2] * 1e10)


def test_weights_too_large_or_all_zero_are_refused():
    X, y, X_val, y_val, _, _ = _data(seed=11, K=3)
    with pytest.raises(ValueError, match="rescale the weights"):
        HyperOptimizer(max_iter=2).fit(X, y, sample_weight=np.full(y.shape[0], 1e160))
    with pytest.raises(ValueError, match="rescale the weights"):
        hypergradient(X, y, X_val, y_val, 0.0, sample_weight=np.full(y.shape[0], 1e300))
    with pytest.raises(ValueError, match="zero for every sample"):
        MultinomialLoss(X, y, 4, sample_weight=np.zeros(y.shape[0]))
