"""Initial matrices of the two-loop recursion: the inverse Hessian diagonal."""
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from hoag_shine import (HeldOutCriterion, HyperOptimizer, InnerProblem, LBFGSMemory,
                        LogisticLoss, get_initial_matrix, get_method, hypergradient,
                        minimize_lbfgs, solve_and_differentiate)
from hoag_shine.model.datafit import MultinomialLoss
from hoag_shine.solver.initial import InverseDiagonal, ScaledIdentity, hessian_diagonal_initial

FORMATS = ["dense", "csr", "csc"]


def _dense_bfgs_from(H0, pairs):
    """BFGS inverse from the given dense ``H0``, every pair applied oldest first."""
    H = np.array(H0, dtype=float)
    identity = np.eye(H.shape[0])
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        left = identity - rho * np.outer(s, y)
        H = left @ H @ left.T + rho * np.outer(s, s)
    return H


def _dense_hessian(X, y, w, strengths, fit_intercept):
    """``X1^T diag(d) X1 + diag(strengths)`` built densely (``X1`` with a column of ones)."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    if fit_intercept:
        X = np.hstack([X, np.ones((X.shape[0], 1))])
    z = y * (X @ w)
    d = expit(z) * expit(-z)
    return X.T @ (d[:, None] * X) + np.diag(strengths)


def _close(a, b, rtol):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


def _quadratic_pairs(rng, n, n_pairs):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * rng.uniform(1.0, 20.0, n)) @ Q.T
    pairs = []
    for _ in range(n_pairs):
        s = rng.standard_normal(n)
        pairs.append((s, A @ s))
    return pairs


@pytest.mark.parametrize("n_pairs", [0, 1, 3, 7])
def test_two_loop_with_diagonal_equals_dense_bfgs(n_pairs, rng):
    n = 7
    pairs = _quadratic_pairs(rng, n, n_pairs)
    h = rng.uniform(0.5, 30.0, n)
    memory = LBFGSMemory(10, pairs, initial=InverseDiagonal(h))
    reference = _dense_bfgs_from(np.diag(1.0 / h), pairs)
    B = memory.as_operator()
    assert B.shape == (n, n)
    _close(B.todense(), reference, 1e-10)
    V = rng.standard_normal((n, 3))
    _close(B.matmat(V), reference @ V, 1e-10)
    _close(B @ V[:, 0], reference @ V[:, 0], 1e-10)
    if n_pairs:
        s, y = pairs[-1]
        _close(B @ y, s, 1e-10)  # the newest secant equation holds for any H0


def test_ring_buffer_with_diagonal_keeps_newest_pairs(rng):
    pairs = _quadratic_pairs(rng, 5, 9)
    h = rng.uniform(1.0, 5.0, 5)
    memory = LBFGSMemory(4, pairs, initial=InverseDiagonal(h))
    _close(memory.as_operator().todense(), _dense_bfgs_from(np.diag(1.0 / h), pairs[-4:]),
           1e-10)


def test_scaled_identity_is_gamma_of_newest_pair(rng):
    pairs = _quadratic_pairs(rng, 4, 3)
    memory = LBFGSMemory(5, pairs)
    assert isinstance(memory.initial, ScaledIdentity)
    s, y = pairs[-1]
    assert ScaledIdentity().diagonal(memory) == pytest.approx(s @ y / (y @ y), rel=1e-14)
    assert ScaledIdentity().diagonal(LBFGSMemory(3)) == 1.0


def test_copy_clear_and_snapshot_keep_the_initial_matrix(rng):
    pairs = _quadratic_pairs(rng, 4, 3)
    h = rng.uniform(1.0, 5.0, 4)
    memory = LBFGSMemory(5, pairs, initial=InverseDiagonal(h))
    operator = memory.as_operator()
    copy = memory.copy(memory_size=2)
    _close(copy.as_operator().todense(), _dense_bfgs_from(np.diag(1.0 / h), pairs[-2:]), 1e-10)
    memory.initial = InverseDiagonal(2.0 * h)
    memory.clear()
    _close(operator.todense(), _dense_bfgs_from(np.diag(1.0 / h), pairs), 1e-10)
    _close(memory.as_operator().todense(), np.diag(0.5 / h), 1e-14)


def test_shifted_memory_shifts_the_diagonal(rng):
    pairs = _quadratic_pairs(rng, 5, 3)
    h = rng.uniform(1.0, 5.0, 5)
    delta = rng.uniform(-0.5, 3.0, 5)
    shifted = LBFGSMemory(5, pairs, initial=InverseDiagonal(h)).shifted(delta)
    moved = [(s, y + delta * s) for s, y in pairs]
    _close(shifted.as_operator().todense(), _dense_bfgs_from(np.diag(1.0 / (h + delta)), moved),
           1e-10)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_hessian_diagonal_matches_dense_hessian(make_data, fmt, fit_intercept, make_strengths,
                                                rng):
    data = make_data(fmt=fmt)
    for kind in ["scalar", "per-feature", "grouped"]:
        groups, _, log_alpha, per_coef = make_strengths(kind, data.X.shape[1], base=-1.0)
        problem = InnerProblem.from_data(data.X, data.y, groups, fit_intercept)
        w = rng.standard_normal(problem.n_coef)
        strengths = np.exp(per_coef)
        if fit_intercept:
            strengths = np.append(strengths, 0.0)
        H = _dense_hessian(data.X_dense, data.y, w, strengths, fit_intercept)
        _close(problem.hessian_diagonal(w, log_alpha), np.diag(H), 1e-12)
        # the shift of InverseDiagonal is the diagonal at the new strengths
        initial = hessian_diagonal_initial(problem, log_alpha)(w, ScaledIdentity())
        new = log_alpha + 0.7
        delta = problem.penalty.strengths(new) - problem.penalty.strengths(log_alpha)
        _close(initial.shifted(delta).hessian_diagonal, problem.hessian_diagonal(w, new), 1e-12)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_preconditioned_solver_reaches_sklearn_minimiser(make_data, fmt, fit_intercept):
    data = make_data(fmt=fmt)
    log_alpha = np.array([-1.0])
    problem = InnerProblem.from_data(data.X, data.y, fit_intercept=fit_intercept)
    result = minimize_lbfgs(problem.fun_and_grad(log_alpha), np.zeros(problem.n_coef),
                            tol=1e-10,
                            initial_matrix=hessian_diagonal_initial(problem, log_alpha, 0.0))
    assert result.success
    clf = LogisticRegression(C=float(np.exp(-log_alpha[0])), fit_intercept=fit_intercept,
                             tol=1e-12, max_iter=10000).fit(data.X_dense, data.y)
    reference = np.append(clf.coef_.ravel(), clf.intercept_) if fit_intercept \
        else clf.coef_.ravel()
    _close(result.x, reference, 1e-6)
    # with refresh=0 the exposed operator carries H0 at the returned point
    assert result.memory.initial.point is result.x
    _close(result.memory.initial.hessian_diagonal,
           problem.hessian_diagonal(result.x, log_alpha), 1e-14)


@pytest.mark.parametrize("refresh", [0.0, 0.1])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_preconditioned_chain_reproduces_one_run(make_data, fmt, fit_intercept, refresh):
    """One-iteration calls chained through ``memory=`` give the long run's iterates
    and operator, and the operator is the dense BFGS recursion over the last
    ``m`` steps from ``H0`` the inverse Hessian diagonal at the iterate where
    it was last refreshed."""
    data = make_data(fmt=fmt)
    log_alpha = np.array([-2.0])
    problem = InnerProblem.from_data(data.X, data.y, fit_intercept=fit_intercept)
    fun_and_grad = problem.fun_and_grad(log_alpha)
    initial = hessian_diagonal_initial(problem, log_alpha, refresh)
    x0 = np.zeros(problem.n_coef)
    n_steps, m = 12, 4
    long_run = minimize_lbfgs(fun_and_grad, x0, memory_size=m, tol=0, max_iter=n_steps,
                              initial_matrix=initial)
    xs, memory = [x0], None
    for _ in range(n_steps):
        step = minimize_lbfgs(fun_and_grad, xs[-1], memory_size=m, tol=0, max_iter=1, memory=memory,
                              initial_matrix=initial)
        assert step.n_iter == 1
        xs.append(step.x)
        memory = step.memory
    _close(step.x, long_run.x, 1e-10)
    grads = [fun_and_grad(x)[1] for x in xs]
    pairs = [(xs[k + 1] - xs[k], grads[k + 1] - grads[k]) for k in range(n_steps)]
    # the refresh rule, replayed on the iterates
    ref = xs[0]
    for x in xs[1:]:
        if np.linalg.norm(x - ref) > refresh * np.linalg.norm(x):
            ref = x
    if refresh == 0:
        assert ref is xs[-1]
    H0 = np.diag(1.0 / problem.hessian_diagonal(ref, log_alpha))
    reference = _dense_bfgs_from(H0, pairs[-m:])
    _close(long_run.inverse_hessian.todense(), reference, 1e-8)
    _close(step.inverse_hessian.todense(), reference, 1e-8)


def test_first_step_is_the_diagonal_newton_step(make_data):
    data = make_data()
    log_alpha = np.array([0.0])
    problem = InnerProblem.from_data(data.X, data.y)
    fun_and_grad = problem.fun_and_grad(log_alpha)
    x0 = np.zeros(problem.n_coef)
    result = minimize_lbfgs(fun_and_grad, x0, tol=0, max_iter=1,
                            initial_matrix=hessian_diagonal_initial(problem, log_alpha))
    d = -fun_and_grad(x0)[1] / problem.hessian_diagonal(x0, log_alpha)
    step = result.x - x0
    # the step lies along -H0 g
    assert step @ d == pytest.approx(np.linalg.norm(step) * np.linalg.norm(d), rel=1e-12)


def test_trial_step_is_sqrt_of_the_pair_scaling(rng):
    pairs = _quadratic_pairs(rng, 5, 2)
    h = rng.uniform(50.0, 100.0, 5)  # H0 = diag(1/h) underestimates: tau > 1
    s, y = pairs[-1]
    tau = (s @ y) / (y @ (y / h))
    assert InverseDiagonal(h).trial_step(LBFGSMemory(3, pairs), 1.0, -1.0) == 1.0
    h_small = rng.uniform(0.01, 0.02, 5)  # overestimates: tau < 1
    tau = (s @ y) / (y @ (y / h_small))
    assert tau < 1
    assert InverseDiagonal(h_small).trial_step(LBFGSMemory(3, pairs), 1.0, -1.0) == \
        pytest.approx(np.sqrt(tau), rel=1e-14)
    assert InverseDiagonal(h_small).trial_step(LBFGSMemory(3), 2.0, -25.0) == 1.0
    assert ScaledIdentity().trial_step(LBFGSMemory(3, pairs), 2.0, -25.0) == 1.0


@pytest.mark.parametrize("value, slope, expected", [
    (2.0, -25.0, 0.08),      # the linear model reaches 0 at 2 / 25
    (-3.0, -4.0, 0.75),      # a negative value: its magnitude
    (0.0, -25.0, 0.2),       # no value to go by: a step of length 1 along -g
    (2e-300, -1e300, 1e-150),  # the ratio underflows: length 1 again
])
def test_first_gamma_step_reaches_zero_on_the_linear_model(value, slope, expected):
    assert ScaledIdentity().trial_step(LBFGSMemory(3), value, slope) == \
        pytest.approx(expected, rel=1e-14)


def test_refresh_rule_keeps_a_close_diagonal(make_data):
    data = make_data()
    problem = InnerProblem.from_data(data.X, data.y)
    log_alpha = np.array([0.0])
    initial = hessian_diagonal_initial(problem, log_alpha, refresh=0.1)
    w = np.ones(problem.n_coef)
    first = initial(w, ScaledIdentity())
    assert first.point is w
    assert initial(1.05 * w, first) is first
    moved = initial(1.2 * w, first)
    assert moved is not first
    _close(moved.hessian_diagonal, problem.hessian_diagonal(1.2 * w, log_alpha), 1e-14)
    # a diagonal of another size is never kept
    assert initial(w, InverseDiagonal(np.ones(3), np.ones(3))).n == problem.n_coef
    with pytest.raises(ValueError, match="refresh must be a non-negative number"):
        hessian_diagonal_initial(problem, log_alpha, refresh=-1.0)


def test_unreached_features_are_inverted_exactly(make_data, rng):
    """On features no training row touches, H = alpha exactly; there ``B v = v / alpha``
    with the Hessian diagonal, and ``gamma v`` with gamma I."""
    data = make_data(p=10)
    X = np.hstack([data.X_dense, np.zeros((data.X_dense.shape[0], 5))])
    log_alpha = np.array([-3.0])
    problem = InnerProblem.from_data(X, data.y)
    fun_and_grad = problem.fun_and_grad(log_alpha)
    H = _dense_hessian
    res = {}
    for name in ["gamma", "hessian-diagonal"]:
        initial = get_initial_matrix(name)(problem, log_alpha)
        res[name] = minimize_lbfgs(fun_and_grad, np.zeros(15), memory_size=30, tol=1e-9,
                                   initial_matrix=initial)
    assert isinstance(res["hessian-diagonal"].memory.initial, InverseDiagonal)
    v = rng.standard_normal(15)
    for name, r in res.items():
        q_star = np.linalg.solve(H(X, data.y, r.x, np.full(15, np.exp(-3.0)), False), v)
        q = r.inverse_hessian @ v
        if name == "hessian-diagonal":
            _close(q[10:], q_star[10:], 1e-12)
        else:
            _close(q[10:], r.memory.gamma * v[10:], 1e-12)
            assert np.linalg.norm(q[10:] - q_star[10:]) > 0.5 * np.linalg.norm(q_star[10:])


def test_hypergradient_and_criterion_use_the_initial_matrix(make_data):
    data = make_data()
    res = hypergradient(data.X, data.y, data.X_val, data.y_val, -1.0, method="shine",
                        initial_matrix="hessian-diagonal", inner_tol=1e-8)
    problem = InnerProblem.from_data(data.X, data.y)
    outer = LogisticLoss(data.X_val, data.y_val)
    initial = res.inner.memory.initial
    assert isinstance(initial, InverseDiagonal)
    _close(initial.hessian_diagonal, problem.hessian_diagonal(initial.point, np.array([-1.0])),
           1e-14)
    assert np.linalg.norm(initial.point - res.w) <= 0.1 * np.linalg.norm(res.w)
    _close(res.q, res.inner.inverse_hessian @ outer.gradient(res.w), 1e-14)
    criterion = HeldOutCriterion([(problem, outer)], get_method("shine-opa"),
                                 initial_matrix="hessian-diagonal")
    states = criterion.initial_state(np.array([0.0]))
    *_, results, states = criterion.evaluate(np.array([0.0]), 1e-6, states)
    assert isinstance(results[0].inner.memory.initial, InverseDiagonal)
    # the carried memory is shifted with its diagonal: exact at its point
    *_, results, _ = criterion.evaluate(np.array([-1.0]), 1e-6, states)
    initial = results[0].inner.memory.initial
    _close(initial.hessian_diagonal, problem.hessian_diagonal(initial.point, np.array([-1.0])),
           1e-12)
    gamma = solve_and_differentiate(problem, outer, np.array([-1.0]), get_method("shine"),
                                    inner_tol=1e-6)
    assert isinstance(gamma.inner.memory.initial, ScaledIdentity)


def test_estimator_fits_with_each_initial_matrix(make_data):
    data = make_data()
    for name in ["gamma", "hessian-diagonal"]:
        est = HyperOptimizer(initial_matrix=name, max_iter=3, random_state=0)
        est.fit(data.X_dense, data.y)
        assert np.isfinite(est.log_alpha_).all()


def test_invalid_initial_matrices(rng):
    with pytest.raises(ValueError, match="initial_matrix must be one of"):
        get_initial_matrix("identity")
    with pytest.raises(TypeError, match="initial_matrix must be a string or a callable"):
        get_initial_matrix(3)
    with pytest.raises(ValueError, match="initial_matrix must be one of"):
        HyperOptimizer(initial_matrix="bogus").fit(rng.standard_normal((20, 3)),
                                                   np.arange(20) % 2)
    for bad in [[1.0, -1.0], [np.nan, 1.0], [0.0, 0.0], []]:
        with pytest.raises(ValueError, match="hessian_diagonal must be finite"):
            InverseDiagonal(bad)
    with pytest.raises(ValueError, match="two vectors of length 3, got s of shape"):
        LBFGSMemory(3, _quadratic_pairs(rng, 4, 1), initial=InverseDiagonal(np.ones(3)))
    memory = LBFGSMemory(3, _quadratic_pairs(rng, 4, 1))
    memory.initial = InverseDiagonal(np.ones(3))
    with pytest.raises(ValueError, match="initial matrix's dimension 3"):
        memory.as_operator()
    assert LBFGSMemory(3, initial=InverseDiagonal(np.ones(3))).as_operator().shape == (3, 3)


def test_tiny_diagonal_entries_are_floored():
    initial = InverseDiagonal([1.0, 0.0])
    assert np.all(np.isfinite(initial.diagonal(LBFGSMemory(2))))
    assert initial.hessian_diagonal[1] == pytest.approx(1e-12)


def test_auto_takes_the_diagonal_for_several_strengths(make_data, make_strengths):
    data = make_data()
    for kind, expected in [("scalar", ScaledIdentity), ("per-feature", InverseDiagonal),
                           ("grouped", InverseDiagonal)]:
        groups, _, log_alpha, _ = make_strengths(kind, data.X.shape[1], base=-1.0)
        problem = InnerProblem.from_data(data.X, data.y, groups)
        outer = LogisticLoss(data.X_val, data.y_val)
        res = solve_and_differentiate(problem, outer, log_alpha, get_method("shine"),
                                      inner_tol=1e-6)
        assert isinstance(res.inner.memory.initial, expected)


def test_scaled_identity_with_a_metric_is_gamma_i_in_the_rescaled_variables(rng):
    """``gamma diag(m)`` on pairs ``(s, y)`` is ``T (gamma' I) T`` on the pairs
    ``(T^-1 s, T y)``, ``T = diag(m)^(1/2)``: the two-loop matrices agree, and so
    do the gradient and step norms with the Euclidean ones of the new variables."""
    n = 6
    pairs = _quadratic_pairs(rng, n, 3)
    metric = rng.uniform(0.01, 100.0, n)
    T = np.sqrt(metric)
    B = LBFGSMemory(5, pairs, initial=ScaledIdentity(metric)).as_operator().todense()
    rescaled = LBFGSMemory(5, [(s / T, y * T) for s, y in pairs]).as_operator().todense()
    _close(B, T[:, None] * rescaled * T[None, :], 1e-10)
    s, y = pairs[-1]
    _close(ScaledIdentity(metric).diagonal(LBFGSMemory(5, pairs)),
           (s @ y) / (y @ (metric * y)) * metric, 1e-14)
    _close(ScaledIdentity(metric).diagonal(LBFGSMemory(5)), metric, 0.0)
    g = rng.standard_normal(n)
    assert ScaledIdentity(metric).gradient_norm(g) == pytest.approx(np.linalg.norm(T * g))
    assert ScaledIdentity(metric).step_norm(g) == pytest.approx(np.linalg.norm(g / T))
    assert ScaledIdentity().gradient_norm(g) == pytest.approx(np.linalg.norm(g))
    for bad in ([], [1.0, 0.0], [1.0, -2.0], [np.inf], [np.nan]):
        with pytest.raises(ValueError, match="metric"):
            ScaledIdentity(bad)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fmt", FORMATS)
def test_intercept_metric_is_the_largest_mean_squared_column_on_the_intercepts(make_data, fmt,
                                                                       n_classes, rng):
    data = make_data()
    dense = np.asarray(data.X.toarray() if sp.issparse(data.X) else data.X)
    X = dense if fmt == "dense" else getattr(sp, f"{fmt}_matrix")(dense)
    y = rng.integers(0, n_classes, X.shape[0])
    y[:n_classes] = np.arange(n_classes)
    weights = rng.uniform(0.5, 2.0, X.shape[0])
    problem = InnerProblem.from_data(X, y, None, True, n_classes=n_classes,
                                     sample_weight=weights)
    expected = (weights @ dense ** 2).max() / weights.sum()
    metric = problem.intercept_metric
    K = 1 if n_classes == 2 else n_classes
    _close(metric[-K:], np.full(K, expected), 1e-12)
    _close(metric[:-K], np.ones(problem.n_coef - K), 0.0)
    assert InnerProblem.from_data(X, y, None, False, n_classes=n_classes).intercept_metric \
        is None
    assert InnerProblem.from_data(0.0 * dense, y, None, True,
                                  n_classes=n_classes).intercept_metric is None
    res = solve_and_differentiate(problem, MultinomialLoss(X, y, n_classes, True)
                                  if n_classes > 2 else LogisticLoss(X, 2.0 * y - 1, True),
                                  np.array([0.0]), get_method("shine"), inner_tol=1e-6)
    assert isinstance(res.inner.memory.initial, ScaledIdentity)
    _close(res.inner.memory.initial.metric, metric, 0.0)
    # the solver stops on the gradient's norm in the metric
    assert res.inner.grad_norm == pytest.approx(np.sqrt(res.inner.grad ** 2 @ metric))


def test_conjugate_gradient_in_a_metric_is_plain_cg_in_the_rescaled_variables(rng):
    """CG with ``metric=m`` on ``H q = v``, from ``x0`` and with a preconditioner
    ``M``, is plain CG on ``T H T q' = T v`` from ``x0 / t`` with ``T^-1 M T^-1``;
    so its iterates do not move when the variables are rescaled with ``m``."""
    from scipy.sparse.linalg import aslinearoperator
    from hoag_shine.solver.cg import conjugate_gradient
    n = 8
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    H = (Q * rng.uniform(1.0, 50.0, n)) @ Q.T
    v, x0 = rng.standard_normal(n), rng.standard_normal(n)
    M = np.diag(rng.uniform(0.05, 1.0, n))
    metric = rng.uniform(0.01, 100.0, n)
    t = np.sqrt(metric)
    for iters in (1, 3, n):
        for pre in (None, M):
            q, count = conjugate_gradient(aslinearoperator(H), v, x0, 0.0, iters,
                                          None if pre is None else aslinearoperator(pre),
                                          metric=metric)
            plain, _ = conjugate_gradient(
                aslinearoperator(t[:, None] * H * t), t * v, x0 / t, 0.0, iters,
                None if pre is None else aslinearoperator(pre / t[:, None] / t))
            _close(q, t * plain, 1e-9)
            assert count == iters + 1  # the residual of x0, then one per iteration
    # the residual test is in the metric: tol reached in it, not in the Euclidean norm
    q, _ = conjugate_gradient(aslinearoperator(H), v, tol=1e-6, metric=metric)
    assert np.linalg.norm(t * (H @ q - v)) <= 1e-6 * np.linalg.norm(t * v)


@pytest.mark.parametrize("method", ["cg", "shine-refine", "shine-opa"])
def test_hypergradient_with_an_intercept_does_not_depend_on_the_scale_of_x(method, rng):
    """``hypergradient`` on ``(s X, strength + 2 log s)``: the same loss, loss
    uncertainty and hypergradient (before the metric, cg's differed by 1.4 at
    s = 100)."""
    X = rng.standard_normal((120, 6)) * rng.uniform(0.2, 5.0, 6)
    y = (X @ rng.standard_normal(6) + rng.standard_normal(120) > 0).astype(float) * 2 - 1
    results = []
    for s in (1.0, 100.0, 0.01):
        res = hypergradient(s * X[:80], y[:80], s * X[80:], y[80:], -1.0 + 2 * np.log(s),
                            method=method, fit_intercept=True, inner_tol=1e-4,
                            backward_tol=1e-4)
        results.append((res.outer_loss, res.loss_uncertainty, res.grad[0]))
    for other in results[1:]:
        _close(np.array(other), np.array(results[0]), 1e-6)
