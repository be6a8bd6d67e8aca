"""The inner problem: value, derivatives, solution, numerical safety."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from hoag_shine import InnerProblem, LogisticLoss, minimize_lbfgs
from hoag_shine.model.penalty import L2Penalty

FORMATS = ["dense", "csr", "csc"]
STRENGTHS = ["scalar", "per-feature", "grouped"]


def _problem(make_data, make_strengths, fmt, fit_intercept, strength, base=0.0,
             seed=0, n=80, p=7):
    data = make_data(seed=seed, n=n, p=p, fmt=fmt)
    groups, _, log_alpha, per_coef = make_strengths(strength, p, base, seed)
    problem = InnerProblem.from_data(data.X, data.y, groups, fit_intercept)
    return data, problem, log_alpha, per_coef


def _reference_value(X, y, w, per_coef, fit_intercept):
    """``sum log(1 + exp(-y (X w + b))) + 1/2 sum alpha_j w_j^2``, written out."""
    coef = w[:-1] if fit_intercept else w
    intercept = w[-1] if fit_intercept else 0.0
    z = y * (X @ coef + intercept)
    return np.sum(np.log1p(np.exp(-z))) + 0.5 * np.sum(np.exp(per_coef) * coef ** 2)


def _central(fun, x, direction, step):
    return (fun(x + step * direction) - fun(x - step * direction)) / (2 * step)


def _sklearn_solution(X, y, per_coef, fit_intercept, fmt):
    """Inner solution from sklearn, with per-feature strengths folded into ``X``.

    With ``w_j = u_j / sqrt(alpha_j)`` the penalty becomes ``1/2 ||u||^2`` and
    the data term sees the columns ``X_j / sqrt(alpha_j)``: sklearn with
    ``C = 1`` on the rescaled columns solves the same problem. For a single
    shared strength this is ``C = 1 / alpha`` on the original data.
    """
    scale = np.exp(-0.5 * per_coef)
    if np.all(per_coef == per_coef[0]):
        X_fit, C, scale = X, float(np.exp(-per_coef[0])), np.ones_like(scale)
    elif fmt == "dense":
        X_fit, C = X * scale, 1.0
    else:
        X_fit, C = (X @ sp.diags(scale)).asformat(fmt), 1.0
    clf = LogisticRegression(C=C, fit_intercept=fit_intercept, tol=1e-12,
                             solver="newton-cholesky", max_iter=1000)
    clf.fit(X_fit, y)
    coef = clf.coef_.ravel() * scale
    return np.append(coef, clf.intercept_) if fit_intercept else coef


@pytest.mark.parametrize("strength", STRENGTHS)
@pytest.mark.parametrize("base", [-3.0, 0.0, 3.0])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_inner_solution_matches_sklearn(make_data, make_strengths, fmt,
                                        fit_intercept, base, strength,
                                        relative_error):
    """L-BFGS on the summed loss equals sklearn's solution with C = 1 / alpha."""
    data, problem, log_alpha, per_coef = _problem(
        make_data, make_strengths, fmt, fit_intercept, strength, base)
    result = minimize_lbfgs(problem.fun_and_grad(log_alpha),
                            np.zeros(problem.n_coef), tol=1e-10)
    assert result.success
    reference = _sklearn_solution(data.X, data.y, per_coef, fit_intercept, fmt)
    assert relative_error(result.x, reference) < 1e-6


@pytest.mark.parametrize("strength", STRENGTHS)
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_value_and_gradient(make_data, make_strengths, fmt, fit_intercept,
                            strength, rng):
    data, problem, log_alpha, per_coef = _problem(
        make_data, make_strengths, fmt, fit_intercept, strength)
    w = 0.3 * rng.standard_normal(problem.n_coef)
    value, grad = problem.value_and_gradient(w, log_alpha)
    expected = _reference_value(data.X_dense, data.y, w, per_coef, fit_intercept)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert problem.value(w, log_alpha) == pytest.approx(expected, rel=1e-12)
    # the solver's callable evaluates the same function at a frozen copy of the strengths
    fun_and_grad = problem.fun_and_grad(log_alpha)
    saved = log_alpha.copy()
    log_alpha += 1.0
    value_frozen, grad_frozen = fun_and_grad(w)
    log_alpha[:] = saved
    assert value_frozen == value
    np.testing.assert_array_equal(grad_frozen, grad)

    def fun(v):
        return problem.value(v, log_alpha)

    fd = np.array([_central(fun, w, e, 1e-5) for e in np.eye(problem.n_coef)])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7 * np.linalg.norm(grad))


@pytest.mark.parametrize("strength", STRENGTHS)
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_hessian_vector_products(make_data, make_strengths, fmt, fit_intercept,
                                 strength, rng):
    _, problem, log_alpha, _ = _problem(
        make_data, make_strengths, fmt, fit_intercept, strength)
    w = 0.3 * rng.standard_normal(problem.n_coef)
    hessian = problem.hessian_operator(w, log_alpha)
    assert hessian.shape == (problem.n_coef, problem.n_coef)

    def grad(v):
        return problem.value_and_gradient(v, log_alpha)[1]

    V = rng.standard_normal((problem.n_coef, 3))
    for v in V.T:
        fd = _central(grad, w, v, 1e-5)
        hv = hessian.matvec(v)
        np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-7 * np.linalg.norm(hv))
    HV = hessian.matmat(V)
    for k in range(V.shape[1]):
        np.testing.assert_allclose(HV[:, k], hessian.matvec(V[:, k]), rtol=1e-13,
                                   atol=1e-13 * np.abs(HV).max())
    H = hessian @ np.eye(problem.n_coef)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12 * np.abs(H).max())
    assert np.linalg.eigvalsh(H).min() > 0


@pytest.mark.parametrize("strength", STRENGTHS)
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_cross_derivative(make_data, make_strengths, fmt, fit_intercept, strength,
                          rng):
    """``cross_vjp`` is ``(d/dlog_alpha grad_w h)^T q``, checked by central differences."""
    _, problem, log_alpha, _ = _problem(
        make_data, make_strengths, fmt, fit_intercept, strength)
    w = rng.standard_normal(problem.n_coef)
    q = rng.standard_normal(problem.n_coef)
    cross = problem.cross_vjp(w, log_alpha, q)
    assert cross.shape == (problem.n_hyper,) == log_alpha.shape

    def grad_q(la):
        return problem.value_and_gradient(w, la)[1] @ q

    fd = np.array([_central(grad_q, log_alpha, e, 1e-5)
                   for e in np.eye(log_alpha.shape[0])])
    np.testing.assert_allclose(cross, fd, rtol=1e-7, atol=1e-8 * np.abs(cross).max())


@pytest.mark.parametrize("strength", STRENGTHS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_intercept_is_unpenalised_and_last(make_data, make_strengths, fmt,
                                           strength, rng):
    """The last entry of ``w`` is the intercept: it shifts every margin and is not penalised."""
    data, problem, log_alpha, _ = _problem(make_data, make_strengths, fmt, True, strength)
    w = rng.standard_normal(problem.n_coef)
    grad = problem.value_and_gradient(w, log_alpha)[1]
    grad_strong = problem.value_and_gradient(w, log_alpha + 5.0)[1]
    assert grad[-1] == pytest.approx(grad_strong[-1], rel=1e-13)
    assert np.all(np.abs(grad[:-1] - grad_strong[:-1]) > 0)
    np.testing.assert_allclose(problem.datafit.margins(w),
                               data.y * (data.X_dense @ w[:-1] + w[-1]), rtol=1e-12)
    # cross derivative ignores the intercept entry of q
    q = rng.standard_normal(problem.n_coef)
    q_shifted = q.copy()
    q_shifted[-1] += 10.0
    np.testing.assert_array_equal(problem.cross_vjp(w, log_alpha, q),
                                  problem.cross_vjp(w, log_alpha, q_shifted))
    # the intercept's Hessian column: [X^T d, sum d], no strength on the diagonal
    z = data.y * (data.X_dense @ w[:-1] + w[-1])
    d = 1.0 / (1.0 + np.exp(-z)) / (1.0 + np.exp(z))
    column = problem.hessian_operator(w, log_alpha).matvec(np.eye(problem.n_coef)[-1])
    np.testing.assert_allclose(column, np.append(data.X_dense.T @ d, d.sum()), rtol=1e-10)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("margin", [1e4, 1e6])
def test_no_overflow_at_huge_margins(make_data, fmt, fit_intercept, margin):
    """Margins of +-``margin`` give exact finite values and gradients, and no warning.

    ``log(1 + exp(-z))`` is ``-z`` to machine precision for ``z = -margin`` and
    exactly 0 for ``z = +margin``; ``sigma(z)(1 - sigma(z))`` vanishes.
    """
    data = make_data(n=40, p=5, fmt="dense")
    rng = np.random.default_rng(1)
    coef = rng.standard_normal(5)
    intercept = 0.7 if fit_intercept else 0.0
    w = np.append(coef, intercept) if fit_intercept else coef
    target = margin * np.where(np.arange(40) % 2, 1.0, -1.0)
    # row i is a multiple c_i of a random direction, chosen to hit target_i
    directions = data.X_dense
    c = (target / data.y - intercept) / (directions @ coef)
    X = directions * c[:, None]
    X_fmt = X if fmt == "dense" else getattr(sp, f"{fmt}_matrix")(X)
    problem = InnerProblem.from_data(X_fmt, data.y, fit_intercept=fit_intercept)
    log_alpha = np.array([0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = problem.datafit.margins(w)
        value, grad = problem.value_and_gradient(w, log_alpha)
        value_only = problem.value(w, log_alpha)
        hv = problem.hessian_operator(w, log_alpha).matvec(np.ones_like(w))
    np.testing.assert_allclose(z, target, rtol=1e-8)
    negative = z < 0
    np.testing.assert_allclose(value, -z[negative].sum() + 0.5 * coef @ coef, rtol=1e-12)
    assert value_only == value
    expected_grad = problem.datafit.rmatvec(-data.y * negative) + \
        problem.penalty.strengths(log_alpha) * w
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)
    np.testing.assert_allclose(hv, problem.penalty.strengths(log_alpha), atol=1e-12)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_hessian_operator_is_not_tied_to_later_changes_of_w(make_data, fit_intercept):
    """The Hessian built at ``w`` stays the Hessian at ``w`` when the caller reuses ``w``.

    ``hessian_operator`` computes the sample weights lazily at the first
    product, from the array it was given; updating that array in place (as an
    optimiser reusing a buffer would) must not change the operator.
    """
    data = make_data(n=40, p=4)
    problem = InnerProblem.from_data(data.X, data.y, fit_intercept=fit_intercept)
    log_alpha = np.array([0.0])
    w = np.zeros(problem.n_coef)
    expected = problem.hessian_operator(w.copy(), log_alpha) @ np.eye(problem.n_coef)
    hessian = problem.hessian_operator(w, log_alpha)
    w += 5.0
    np.testing.assert_allclose(hessian @ np.eye(problem.n_coef), expected, rtol=1e-12)


def test_problem_construction_checks_intercept_consistency(make_data):
    data = make_data(n=30, p=3)
    with pytest.raises(ValueError, match="fit_intercept"):
        InnerProblem(LogisticLoss(data.X, data.y, fit_intercept=True),
                     L2Penalty.scalar(3, fit_intercept=False))
    problem = InnerProblem.from_data(data.X, data.y, np.array([0, 1, 1]), True)
    assert (problem.n_coef, problem.n_hyper) == (4, 2)


def test_methods_do_not_modify_inputs(make_data, rng):
    data = make_data(n=30, p=4)
    problem = InnerProblem.from_data(data.X, data.y, "per-feature", True)
    w = rng.standard_normal(5)
    log_alpha = rng.standard_normal(4)
    q = rng.standard_normal(5)
    copies = [a.copy() for a in (w, log_alpha, q, data.X, data.y)]
    problem.value_and_gradient(w, log_alpha)
    problem.hessian_operator(w, log_alpha).matvec(q)
    problem.cross_vjp(w, log_alpha, q)
    for before, after in zip(copies, (w, log_alpha, q, data.X, data.y)):
        np.testing.assert_array_equal(before, after)
