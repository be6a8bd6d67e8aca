"""Property-based tests over random small problems (hypothesis).

Set HOAG_SHINE_EXAMPLES to draw more examples than the default 25 per test.
"""
import contextlib
import functools
import io
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from hoag_shine import (HyperOptimizer, InnerProblem, get_initial_matrix, get_method,
                        hypergradient, minimize_lbfgs, solve_and_differentiate)
from hoag_shine.solver.linesearch import strong_wolfe

SETTINGS = settings(max_examples=int(os.environ.get("HOAG_SHINE_EXAMPLES", 25)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, min_n=12, max_n=40, max_p=6):
    """Random binary problems with both classes present at least 3 times each."""
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(min_n, max_n))
    p = draw(st.integers(1, max_p))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * draw(st.sampled_from([1e-2, 1.0, 30.0]))
    if draw(st.booleans()):
        X[:, rng.integers(p)] = 0.0
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    y[:3], y[3:6] = -1.0, 1.0
    rng.shuffle(y)
    if draw(st.booleans()):
        X = sparse.csr_matrix(X)
    return X, y


@SETTINGS
@given(data=problems(), log_alpha=st.floats(-4, 4), fit_intercept=st.booleans())
def test_inner_solution_is_optimal(data, log_alpha, fit_intercept):
    X, y = data
    problem = InnerProblem.from_data(X, y, fit_intercept=fit_intercept)
    fun = problem.fun_and_grad([log_alpha])
    w0 = np.zeros(problem.n_coef)
    tol = 1e-8 * np.linalg.norm(fun(w0)[1])
    res = minimize_lbfgs(fun, w0, tol=tol, max_iter=5000)
    assert res.success
    # optimality condition recomputed independently of the solver's own bookkeeping
    Xd = X.toarray() if sparse.issparse(X) else X
    A = np.c_[Xd, np.ones(len(y))] if fit_intercept else Xd
    z = y * (A @ res.x)
    grad = A.T @ (-y / (1 + np.exp(z))) + problem.penalty.strengths([log_alpha]) * res.x
    assert np.linalg.norm(grad) <= 1.01 * tol + 1e-12


@SETTINGS
@given(data=problems(min_n=30), log_alpha=st.floats(-3, 3), fit_intercept=st.booleans())
def test_exact_hypergradient_matches_finite_differences(data, log_alpha, fit_intercept):
    X, y = data
    n = X.shape[0]
    tr, va = np.arange(n) % 3 != 0, np.arange(n) % 3 == 0
    y[np.flatnonzero(va)[:2]] = [-1.0, 1.0]
    y[np.flatnonzero(tr)[:2]] = [-1.0, 1.0]

    def loss(lam):
        return hypergradient(X[tr], y[tr], X[va], y[va], lam, method="exact",
                             fit_intercept=fit_intercept, inner_tol=1e-12).outer_loss

    res = hypergradient(X[tr], y[tr], X[va], y[va], log_alpha, method="exact",
                        fit_intercept=fit_intercept, inner_tol=1e-12)
    h = 1e-4
    # fourth-order central difference: truncation error O(h^4)
    fd = (-loss(log_alpha + 2 * h) + 8 * loss(log_alpha + h) - 8 * loss(log_alpha - h)
          + loss(log_alpha - 2 * h)) / (12 * h)
    scale = max(abs(fd), 1e-6 * res.outer_loss, 1e-9)
    assert abs(res.grad[0] - fd) <= 1e-4 * scale, (res.grad, fd)


METHODS = ["cg", "shine", "shine-opa", "shine-refine", "jacobian-free"]


@SETTINGS
@given(data=problems(min_n=24), method=st.sampled_from(METHODS),
       reg=st.sampled_from(["scalar", "per-feature"]), lam0=st.floats(-12, 12))
def test_estimator_is_always_finite(data, method, reg, lam0):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        clf = HyperOptimizer(method, regularization=reg, lambda_init=lam0, max_iter=8,
                             validation_fraction=0.4, random_state=0).fit(X, y)
        proba = clf.predict_proba(X)
    for value in (clf.coef_, clf.intercept_, clf.log_alpha_, proba):
        assert np.all(np.isfinite(value))
    assert np.all((-12 <= clf.log_alpha_) & (clf.log_alpha_ <= 12))


junk = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                 st.text(max_size=4), st.lists(st.floats(-1, 1), max_size=3),
                 st.sampled_from([np.nan, np.inf, -np.inf, 1j, np.bool_(True), np.int64(3),
                                  np.array([1, 2]), np.array(2.0), 1e300, -1e-300,
                                  "decreasing", "per-feature", "scalar", object()]))
PARAMS = ["method", "regularization", "max_iter", "tol", "lambda_init", "lambda_bounds",
          "tolerance_init", "tolerance_decrease", "tolerance_factor", "memory_size",
          "opa_freq", "backward_max_iter", "inner_max_iter", "validation_fraction",
          "fit_intercept", "warm_start_memory", "refit", "n_jobs", "random_state",
          "verbose", "cv", "callback", "scoring", "class_weight"]


def _junk_outcome(call, name):
    """Run ``call``: a ValueError/TypeError naming ``name``, or a result."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return call()
        except (ValueError, TypeError) as exc:
            assert name in str(exc), (name, str(exc))
            return None


@settings(max_examples=int(os.environ.get("HOAG_SHINE_EXAMPLES", 60)), deadline=None)
@given(name=st.sampled_from(PARAMS), value=junk)
def test_bad_parameters_raise_value_or_type_error(name, value):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = np.r_[np.zeros(15, int), np.ones(15, int)]
    params = {name: value, "max_iter": 3} if name != "max_iter" else {name: value}
    with contextlib.redirect_stdout(io.StringIO()):  # verbose values print
        clf = _junk_outcome(lambda: HyperOptimizer(**params).fit(X, y), name)
    if clf is not None:  # accepted values give a usable model
        assert np.all(np.isfinite(clf.coef_))


HYPER_PARAMS = ["log_alpha", "groups", "fit_intercept", "tol", "max_iter", "memory_size",
                "opa_freq", "backward_tol", "backward_max_iter", "w0", "method"]


@settings(max_examples=int(os.environ.get("HOAG_SHINE_EXAMPLES", 60)), deadline=None)
@given(name=st.sampled_from(HYPER_PARAMS), value=junk)
def test_hypergradient_bad_arguments(name, value):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    y = np.r_[np.zeros(15, int), np.ones(15, int)]
    kwargs = {"method": "shine-opa"} if name == "opa_freq" else {}
    kwargs[name] = value
    log_alpha = kwargs.pop("log_alpha", 0.0)
    res = _junk_outcome(lambda: hypergradient(X[:20], y[::-1][:20], X[20:], y[::-1][20:],
                                              log_alpha, inner_max_iter=kwargs.pop("max_iter", 200),
                                              **kwargs), name)
    if res is not None:
        assert res.finite


LBFGS_PARAMS = ["x0", "m", "tol", "max_iter", "memory", "extra_secant", "c1", "c2",
                "max_linesearch", "warn"]


@settings(max_examples=int(os.environ.get("HOAG_SHINE_EXAMPLES", 60)), deadline=None)
@given(name=st.sampled_from(LBFGS_PARAMS), value=junk)
def test_minimize_lbfgs_bad_arguments(name, value):
    def fun(x):  # any length of x
        d = np.arange(1.0, x.size + 1)
        return 0.5 * np.sum(d * x * x), d * x

    kwargs = {name: value, "warn": False} if name != "warn" else {name: value}
    x0 = kwargs.pop("x0", np.ones(3))
    res = _junk_outcome(lambda: minimize_lbfgs(fun, x0, **kwargs), name)
    if res is not None:
        assert np.all(np.isfinite(res.x))


@SETTINGS
@given(log_c=st.floats(-8, 150), cond=st.floats(0, 6), log_step=st.floats(-10, 10),
       seed=st.integers(0, 2**31 - 1), c2=st.sampled_from([0.1, 0.5, 0.9]))
def test_line_search_strong_wolfe_any_curvature(log_c, cond, log_step, seed, c2):
    """Quadratics of curvature 10^log_c (condition number up to 1e6), values of
    order one: accepted steps satisfy both strong Wolfe conditions."""
    rng = np.random.default_rng(seed)
    c = 10.0 ** log_c
    eig = c * np.logspace(0, cond, 4)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    H = (Q * eig) @ Q.T
    b = np.sqrt(c) * rng.standard_normal(4)

    def fun(x):
        with np.errstate(over="ignore", invalid="ignore"):
            return 0.5 * x @ H @ x - b @ x, H @ x - b

    x = rng.standard_normal(4) / np.sqrt(c)
    f0, g0 = fun(x)
    c1 = 1e-4
    t, new, _ = strong_wolfe(fun, x, f0, g0, -g0, 10.0 ** log_step / np.linalg.norm(g0), c1, c2)
    assert t is not None
    x_t, f_t, g_t = new
    f_ref, g_ref = fun(x_t)
    assert f_ref <= f0 + c1 * t * (g0 @ -g0)
    assert abs(g_ref @ -g0) <= c2 * abs(g0 @ -g0)


class _Stop(Exception):
    pass


@settings(max_examples=int(os.environ.get("HOAG_SHINE_EXAMPLES", 10)), deadline=None)
@given(data=problems(min_n=24), at=st.integers(0, 3),
       error=st.sampled_from([KeyboardInterrupt, _Stop]), refit=st.booleans())
def test_interrupted_fit_restores_the_state(data, at, error, refit):
    X, y = data

    reached = []

    def callback(state):
        if state["iteration"] == at:
            reached.append(at)
            raise error
        return False

    clf = HyperOptimizer(max_iter=6, validation_fraction=0.4, random_state=0, refit=refit)
    if refit:  # a previous fit on fewer features
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(np.c_[y, -y], y)
    before = dict(vars(clf))
    clf.set_params(callback=callback)
    before["callback"] = callback
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
    except error:
        pass
    if not reached:  # the run stopped before iteration `at`: a complete fit
        assert at > 0 and clf.n_iter_ <= at
        return
    assert vars(clf).keys() == before.keys()
    assert all(vars(clf)[k] is v for k, v in before.items())


# -- scale invariance ------------------------------------------------------
#
# The training loss is summed over samples: weights times c and strengths
# times c multiply the inner objective by c; column j of X times s_j and its
# strength times s_j^2 divide coefficient j by s_j. Either is the same
# problem, and the solver must take the same steps on it.

#: iterations compared step by step from w = 0: past the first steps, short
#: of the iterates where function values only differ by rounding
SCALED_ITER = 6


@st.composite
def weighted_problems(draw, min_n=15, max_n=40, max_p=5):
    """Random problems of two or three classes with positive sample weights."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    n_classes = draw(st.sampled_from([2, 3]))
    n, p = draw(st.integers(min_n, max_n)), draw(st.integers(1, max_p))
    X = rng.standard_normal((n, p)) * draw(st.sampled_from([1e-2, 1.0, 30.0]))
    y = rng.integers(0, n_classes, n)
    y[:n_classes] = np.arange(n_classes)
    if draw(st.booleans()):
        X = sparse.csr_matrix(X)
    return X, y, rng.uniform(0.1, 3.0, n)


def _solve_from_zero(problem, log_alpha, initial_matrix):
    log_alpha = np.broadcast_to(np.asarray(log_alpha, dtype=float), (problem.n_hyper,))
    initial = get_initial_matrix(initial_matrix)(problem, log_alpha)
    return minimize_lbfgs(problem.fun_and_grad(log_alpha), np.zeros(problem.n_coef), tol=0,
                          max_iter=SCALED_ITER, warn=False, initial_matrix=initial).x


@SETTINGS
@given(data=weighted_problems(), log_c=st.floats(-6, 6), log_alpha=st.floats(-3, 3),
       fit_intercept=st.booleans(), groups=st.sampled_from([None, "per-feature"]),
       initial_matrix=st.sampled_from(["gamma", "hessian-diagonal"]))
def test_inner_steps_do_not_depend_on_the_scale_of_the_weights(
        data, log_c, log_alpha, fit_intercept, groups, initial_matrix):
    X, y, weights = data
    c = 10.0 ** log_c
    w = [_solve_from_zero(InnerProblem.from_data(X, y, groups, fit_intercept,
                                                 n_classes=int(y.max()) + 1,
                                                 sample_weight=factor * weights),
                          log_alpha + np.log(factor), initial_matrix)
         for factor in (1.0, c)]
    # a first step of another length ends elsewhere: 1e-2 relative or more
    assert np.linalg.norm(w[1] - w[0]) <= 1e-8 * np.linalg.norm(w[0])


@SETTINGS
@given(data=weighted_problems(), log_scales=st.lists(st.floats(-2, 2), min_size=5, max_size=5),
       log_alpha=st.floats(-3, 3), fit_intercept=st.booleans())
def test_inner_steps_do_not_depend_on_the_scale_of_the_columns(
        data, log_scales, log_alpha, fit_intercept):
    """Per-feature strengths with the Hessian diagonal as initial matrix: a
    diagonal rescaling of the coefficients. (Scales within 1e-2 .. 1e2: the
    diagonal's entries stay above its floor of 1e-12 times the largest.)"""
    X, y, weights = data
    s = 10.0 ** np.array(log_scales[:X.shape[1]])
    coefs = []
    for scale in (np.ones_like(s), s):
        problem = InnerProblem.from_data(X @ sparse.diags(scale), y, "per-feature",
                                         fit_intercept, n_classes=int(y.max()) + 1,
                                         sample_weight=weights)
        coef, intercept = problem.split_coef(_solve_from_zero(
            problem, log_alpha + 2 * np.log(scale), "hessian-diagonal"))
        coefs.append(np.append(np.asarray(coef) * scale, intercept))
    assert np.linalg.norm(coefs[1] - coefs[0]) <= 1e-8 * np.linalg.norm(coefs[0])


@SETTINGS
@given(data=weighted_problems(), log_s=st.floats(-3, 3), log_alpha=st.floats(-3, 3),
       method=st.sampled_from(["shine", "shine-opa"]))
def test_inner_steps_do_not_depend_on_the_scale_of_the_columns_with_an_intercept(
        data, log_s, log_alpha, method):
    """One strength and intercepts: ``X`` times ``s``, the strength times
    ``s^2``. The intercepts multiply a column of ones that does not scale; in
    the problem's intercept metric the steps, where the solver stops and OPA's
    extra pairs are the same (with ``gamma I`` and Euclidean norms, 1e-3 to
    1e-1 relative apart after a few steps)."""
    X, y, weights = data
    s = 10.0 ** log_s
    coefs = []
    for scale in (1.0, s):
        problem = InnerProblem.from_data(X * scale, y, None, True, n_classes=int(y.max()) + 1,
                                         sample_weight=weights)
        la = np.array([log_alpha + 2 * np.log(scale)])
        res = solve_and_differentiate(
            problem, problem.datafit, la, get_method(method, freq=2) if method == "shine-opa"
            else get_method(method), inner_tol=1e-3 * np.linalg.norm(problem.value_and_gradient(
                np.zeros(problem.n_coef), la)[1] * np.sqrt(problem.intercept_metric)),
            inner_max_iter=SCALED_ITER, warn=False)
        coef, intercept = problem.split_coef(res.w)
        coefs.append(np.append(np.asarray(coef) * scale, intercept))
    assert np.linalg.norm(coefs[1] - coefs[0]) <= 1e-8 * np.linalg.norm(coefs[0])


def _invariance_data(n_classes, seed):
    X, y = make_classification(90, 5, n_informative=3, n_redundant=0, n_classes=n_classes,
                               random_state=seed)
    return X, y, np.random.default_rng(seed).uniform(0.5, 2.0, y.shape[0])


#: (HyperOptimizer parameters, number of classes, data seed, what is scaled)
SCALED_FITS = {
    "three-classes": (dict(), 3, 3, "weights"),
    "per-feature": (dict(regularization="per-feature"), 2, 4, "weights"),
    "columns": (dict(fit_intercept=False), 2, 3, "columns"),
    "columns-intercept": (dict(), 3, 5, "columns"),
}


@functools.lru_cache(maxsize=None)
def _scaled_fit(case, log_scale):
    """``(log_alpha_ - shift, predict_proba)`` of a fit on scaled data.

    ``log_scale`` None normalises the weights to sum to 1.
    """
    params, n_classes, seed, scaled = SCALED_FITS[case]
    X, y, weights = _invariance_data(n_classes, seed)
    c, s = 1.0, 1.0
    if log_scale is None:
        c = 1.0 / weights.sum()
    elif scaled == "weights":
        c = 10.0 ** log_scale
    else:
        s = 10.0 ** log_scale
    shift = np.log(c) + 2.0 * np.log(s)
    clf = HyperOptimizer(lambda_init=shift, lambda_bounds=(shift - 12.0, shift + 12.0),
                         random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # per-feature: at a bound
        clf.fit(X * s, y, sample_weight=c * weights)
    return clf.log_alpha_ - shift, clf.predict_proba(X * s)


@SETTINGS
@pytest.mark.parametrize("case", sorted(SCALED_FITS))
@given(log_scale=st.one_of(st.floats(-6, 6), st.none()))
def test_fit_does_not_depend_on_the_scale_of_the_problem(case, log_scale):
    """The chosen strengths shift with the scale and the model stays the same:
    to 5e-9 in log(alpha) over 300 scales measured; before the first steps were
    scale-free, 1e-4 to 4e-2 below c = 1."""
    log_alpha, proba = _scaled_fit(case, log_scale)
    ref_log_alpha, ref_proba = _scaled_fit(case, 0.0)
    np.testing.assert_allclose(log_alpha, ref_log_alpha, rtol=0, atol=1e-6)
    np.testing.assert_allclose(proba, ref_proba, rtol=0, atol=1e-9)


@pytest.mark.parametrize("method", ["shine", "cg"])
def test_per_feature_fit_does_not_depend_on_the_scale_of_each_column(method):
    """Per-feature strengths: column ``j`` times ``s_j`` and its strength times
    ``s_j^2`` is the same problem. The steps already were the same (the Hessian
    diagonal as initial matrix); the stopping tests, CG, OPA and the refit now
    measure in that diagonal's metric too (with Euclidean norms, standardised
    breast cancer times 1e3 moved a strength by 6.5 and the loss by 1.2e-3).
    Scales within 1e-2 .. 1e2: the diagonal's entries stay above its floor of
    1e-12 times the largest."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:300, :10]
    y = y[:300]
    s = 10.0 ** np.random.default_rng(0).uniform(-2, 2, X.shape[1])
    fits = []
    for scale in (np.ones_like(s), s):
        shift = 2 * np.log(scale)
        clf = HyperOptimizer(method, regularization="per-feature", cv=3, lambda_init=shift,
                             lambda_bounds=(-60.0, 60.0), random_state=0, check_fraction=0.0,
                             max_iter=15)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X * scale, y)
        fits.append((clf.log_alpha_ - shift, clf.predict_proba(X * scale)))
    np.testing.assert_allclose(fits[1][0], fits[0][0], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fits[1][1], fits[0][1], rtol=0, atol=1e-6)
