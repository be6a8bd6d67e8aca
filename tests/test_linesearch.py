"""The strong-Wolfe line search on steep, flat, overflowing and non-finite problems.

References: the exact minimiser of a quadratic (``np.linalg.solve``), scipy's
L-BFGS-B where it resolves the problem, and the strong Wolfe conditions
recomputed in the test from fresh evaluations.
"""
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedShuffleSplit

from hoag_shine import HyperOptimizer, InnerProblem, minimize_lbfgs
from hoag_shine.solver.linesearch import strong_wolfe

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

B = np.array([1.0, 2.0, 3.0])
A = np.diag([1.0, 3.0, 10.0])
CURVATURES = [1e-8, 1e-4, 1.0, 1e4, 1e8, 1e11, 1e12, 1e20, 1e50, 1e100, 1e150]


def _quadratic(c, A=A, b=B):
    def fun(x):
        # far-too-long trial steps overflow to inf, which the line search handles
        with np.errstate(over="ignore", invalid="ignore"):
            return 0.5 * c * x @ A @ x - b @ x, c * A @ x - b

    return fun


@pytest.mark.parametrize("c", CURVATURES)
def test_issue_example_one_step(c):
    """``0.5 c x^T x - b^T x`` from 0: the first step is ``1/||b||`` however large
    ``c`` is. The solver must land on ``b / c`` (scipy's L-BFGS-B needs at most
    two iterations here and loses the solution from c = 1e20 on, where its
    relative-decrease test fires)."""
    res = minimize_lbfgs(_quadratic(c, np.eye(3)), np.zeros(3), tol=1e-5 * np.linalg.norm(B),
                         warn=False)
    assert res.success, res.message
    assert res.n_iter <= 2
    np.testing.assert_allclose(res.x, B / c, rtol=1e-12)


@pytest.mark.parametrize("c", [c for c in CURVATURES if c <= 1e50])
def test_matches_scipy_lbfgsb(c):
    """Ill-conditioned quadratic with ``b`` scaled by ``sqrt(c)`` (values of order
    one, so scipy's own tests stay meaningful up to c = 1e50)."""
    b = B * np.sqrt(c)
    fun = _quadratic(c, A, b)
    gtol = 1e-9 * np.linalg.norm(b)
    ref = minimize(fun, np.zeros(3), jac=True, method="L-BFGS-B",
                   options=dict(gtol=gtol, ftol=0.0, maxiter=1000))
    res = minimize_lbfgs(fun, np.zeros(3), tol=gtol)
    exact = np.linalg.solve(c * A, b)
    assert res.success
    # both solvers meet the same gradient tolerance: the solutions agree to the
    # error that tolerance allows (||x - x*|| <= gtol / (c lambda_min))
    bound = gtol / c
    assert np.linalg.norm(ref.x - exact) <= bound
    assert np.linalg.norm(res.x - exact) <= bound
    assert res.n_iter <= ref.nit + 1


def _check_strong_wolfe(fun, x, d, t, new, c1, c2):
    f0, g0 = fun(x)
    x_t, f_t, g_t = new
    np.testing.assert_array_equal(x_t, x + t * d)
    f_ref, g_ref = fun(x_t)
    assert f_t == f_ref and np.array_equal(g_t, g_ref)
    assert f_t <= f0 + c1 * t * (g0 @ d)
    assert abs(g_ref @ d) <= c2 * abs(g0 @ d)


@pytest.mark.parametrize("c", CURVATURES)
@pytest.mark.parametrize("first_step", ["gradient", 1.0, 1e6])
@pytest.mark.parametrize("c1, c2", [(1e-4, 0.9), (1e-4, 0.1), (0.3, 0.5)])
def test_accepted_steps_satisfy_strong_wolfe(c, first_step, c1, c2):
    b = B * np.sqrt(c)
    fun = _quadratic(c, A, b)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal(3) / np.sqrt(c)
        f0, g0 = fun(x)
        d = -g0 * (1 + 0.3 * rng.random(3))  # a descent direction, not the gradient's
        step = 1.0 / np.linalg.norm(g0) if first_step == "gradient" else first_step
        t, new, n_eval = strong_wolfe(fun, x, f0, g0, d, step, c1, c2)
        assert t is not None and t > 0 and n_eval <= 30
        _check_strong_wolfe(fun, x, d, t, new, c1, c2)


@pytest.mark.parametrize("scale", [1.0, 1e20, 1e50, 1e100, 1e150])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_logistic_loss_with_huge_features(scale, fit_intercept):
    """Far from its kinks the logistic loss is linear: the steps found there
    satisfy the strong Wolfe conditions, and the solve reaches the optimum
    (checked by the gradient recomputed densely)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 4)) * scale
    y = np.where(X[:, 0] + scale * rng.standard_normal(50) > 0, 1.0, -1.0)
    problem = InnerProblem.from_data(X, y, fit_intercept=fit_intercept)
    fun = problem.fun_and_grad([0.0])
    w0 = np.zeros(problem.n_coef)
    f0, g0 = fun(w0)
    t, new, _ = strong_wolfe(fun, w0, f0, g0, -g0, 1.0 / np.linalg.norm(g0))
    _check_strong_wolfe(fun, w0, -g0, t, new, 1e-4, 0.9)
    tol = 1e-6 * np.linalg.norm(g0)
    res = minimize_lbfgs(fun, w0, tol=tol, max_iter=5000)
    A_ = np.c_[X, np.ones(50)] if fit_intercept else X
    z = y * (A_ @ res.x)
    grad = (A_.T @ (-y / (1 + np.exp(np.clip(z, -700, 700))))
            + problem.penalty.strengths([0.0]) * res.x)
    assert np.linalg.norm(grad) <= 1.01 * tol


def _bounded(radius, c=1.0, nan=False):
    """A quadratic that is +inf (gradient inf or NaN) outside a ball."""
    b = np.array([2.0, -1.0])
    inner = _quadratic(c, np.eye(2), b)

    def fun(x):
        if np.linalg.norm(x) >= radius:
            return np.inf, np.full(2, np.nan if nan else np.inf)
        return inner(x)

    return fun, b / c


@pytest.mark.parametrize("radius", [3.0, 1e-3, 1e-60])
@pytest.mark.parametrize("nan", [False, True])
def test_non_finite_region_is_left_out(radius, nan):
    """The minimiser ``b / c`` lies inside the finite region; every trial step
    beyond it is non-finite. No warning escapes, the solution is exact."""
    c = 1.0 if radius > 1 else 10.0 / radius
    fun, exact = _bounded(radius, c, nan)
    res = minimize_lbfgs(fun, np.zeros(2), tol=1e-8 * np.linalg.norm(exact) * c)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, exact, rtol=1e-7)


def test_step_leaving_the_floats_is_not_evaluated():
    """A trial point that overflows is shortened before any call."""
    calls = []

    def fun(x):
        calls.append(np.all(np.isfinite(x)))
        with np.errstate(over="ignore"):
            return 0.5 * x @ x - x.sum(), x - 1.0

    x = np.zeros(2)
    f0, g0 = fun(x)
    d = -g0 * 1e300
    calls.clear()
    t, new, n_eval = strong_wolfe(fun, x, f0, g0, d, 1e10)
    assert all(calls) and n_eval == len(calls)
    _check_strong_wolfe(fun, x, d, t, new, 1e-4, 0.9)


def _split(X, y):
    train, _ = next(StratifiedShuffleSplit(1, test_size=0.25, random_state=0).split(X, y))
    return X[train], np.where(y[train] == 1, 1.0, -1.0)


@pytest.mark.parametrize("fit_intercept, initial_matrix", [
    (False, "auto"), (True, "hessian-diagonal"), (True, "gamma")])
def test_large_initial_strength_moves(fit_intercept, initial_matrix):
    """log(alpha) = 30: inner curvature ~1e13, a far-too-long first inner step.
    The strengths must move. Without intercept the first inner solve must also
    reach its tolerance (gradient recomputed densely on the split, rebuilt in
    the test); with an unpenalised intercept the inner problem has a condition
    number of ~1e12, which the inverse Hessian diagonal as initial matrix
    resolves, and gamma I from a first step scaled by the objective (a unit
    first step stalled there)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 5))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0, 1.0]) + 0.5 * rng.standard_normal(80) > 0).astype(int)
    states = []
    clf = HyperOptimizer(lambda_init=30.0, lambda_bounds=(-50.0, 50.0), random_state=0,
                         fit_intercept=fit_intercept, initial_matrix=initial_matrix,
                         callback=lambda s: states.append(s) and False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.log_alpha_[0] < 29.0
    assert states[0]["n_inner_iter"] >= 1
    if fit_intercept:
        return
    Xt, yt = _split(X, y)
    coef = states[0]["coef"]
    grad = Xt.T @ (-yt / (1 + np.exp(yt * (Xt @ coef)))) + np.exp(30.0) * coef
    grad0 = Xt.T @ (-yt / 2)
    # the HOAG tolerance of the first solve: 1e-3 of the gradient at w = 0
    assert np.linalg.norm(grad) <= 1e-3 * np.linalg.norm(grad0)


def test_inner_solves_short_of_their_tolerance_are_reported():
    """Inner solves cut by inner_max_iter at the final strengths: the fit says so."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 5))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0, 1.0]) + 0.5 * rng.standard_normal(80) > 0).astype(int)
    clf = HyperOptimizer(lambda_init=-8.0, inner_max_iter=2, max_iter=3, random_state=0,
                         refit=False)
    with pytest.warns(ConvergenceWarning, match="inner solver did not reach its tolerance"):
        clf.fit(X, y)


@pytest.mark.parametrize("scale", [1e-12, 1e-10, 1e-6, 1.0, 1e6, 1e12])
def test_rounding_band_scales_with_the_function(scale):
    """``scale * (exp(x) - x)`` from x = 1: the trial step 2.6 raises the value by 5 %.
    The band where values count as rounding is relative to the value at the
    start, so the step is refused and the same step accepted at every scale
    (a band of at least 1e-10 accepted it below a scale of 1e-9)."""
    def fun(x):
        return scale * float(np.sum(np.exp(x) - x)), scale * (np.exp(x) - 1.0)

    x, d = np.ones(1), -np.ones(1)
    f0, g0 = fun(x)
    t, (x_t, f_t, g_t), _ = strong_wolfe(fun, x, f0, g0, d, 2.6)
    _check_strong_wolfe(fun, x, d, t, (x_t, f_t, g_t), 1e-4, 0.9)
    # the step accepted at scale 1
    assert t == pytest.approx(1.0424201688357, rel=1e-12)
