"""L-BFGS with an exposed inverse Hessian, its line search and its OPA hook."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from hoag_shine import (InnerConvergenceWarning, InnerProblem, InverseHessianOperator,
                        LBFGSMemory, LogisticLoss, OPAUpdates, get_method,
                        minimize_lbfgs)
from hoag_shine.solver.linesearch import strong_wolfe

FORMATS = ["dense", "csr", "csc"]


def _inner(make_data, fmt="dense", fit_intercept=False, log_alpha=0.0, **kwargs):
    data = make_data(fmt=fmt, **kwargs)
    problem = InnerProblem.from_data(data.X, data.y, fit_intercept=fit_intercept)
    return data, problem, problem.fun_and_grad(np.array([log_alpha]))


def _chain(fun_and_grad, x0, n_steps, m):
    """Iterates of ``n_steps`` one-iteration calls, each continuing the previous one."""
    xs, result, memory = [np.array(x0, dtype=float)], None, None
    for _ in range(n_steps):
        result = minimize_lbfgs(fun_and_grad, xs[-1], memory_size=m, tol=0, max_iter=1,
                                memory=memory)
        assert result.n_iter == 1
        xs.append(result.x)
        memory = result.memory
    return xs, result


def _copy_pairs(memory):
    return [(s.copy(), y.copy()) for s, y in memory.pairs]


def _assert_same_pairs(pairs, expected, rtol=0.0):
    assert len(pairs) == len(expected)
    for (s, y), (s_ref, y_ref) in zip(pairs, expected):
        np.testing.assert_allclose(s, s_ref, rtol=rtol, atol=rtol * np.abs(s_ref).max())
        np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=rtol * np.abs(y_ref).max())


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_tol_zero_runs_exactly_max_iter(make_data, fmt, fit_intercept):
    _, problem, fun_and_grad = _inner(make_data, fmt, fit_intercept)
    for max_iter in [0, 1, 6, 30]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # tol=0 asks for no convergence, so no warning
            result = minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), tol=0,
                                    max_iter=max_iter)
        assert result.n_iter == max_iter
        assert not result.success


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_chained_single_iterations_reproduce_one_run(make_data, fmt, fit_intercept,
                                                     relative_error):
    """``x0=result.x, memory=result.memory`` continues a run exactly (m=4 < 15 steps)."""
    _, problem, fun_and_grad = _inner(make_data, fmt, fit_intercept, log_alpha=-2.0)
    x0 = np.zeros(problem.n_coef)
    long_run = minimize_lbfgs(fun_and_grad, x0, memory_size=4, tol=0, max_iter=15)
    _, chained = _chain(fun_and_grad, x0, 15, m=4)
    assert relative_error(chained.x, long_run.x) < 1e-10
    _assert_same_pairs(chained.memory.pairs, long_run.memory.pairs, rtol=1e-10)
    B_long = long_run.inverse_hessian.todense()
    np.testing.assert_allclose(chained.inverse_hessian.todense(), B_long,
                               rtol=1e-9, atol=1e-9 * np.abs(B_long).max())


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_solver_operator_is_bfgs_over_last_m_steps(make_data, fmt, fit_intercept,
                                                   dense_bfgs_inverse):
    """The returned operator is the dense BFGS inverse built from the last ``m``
    steps of the run, in chronological order (the buffer wraps: 12 steps, m=5).

    The iterates come from chained one-iteration calls and the gradients from
    the problem, so the reference pairs do not come from the solver's memory.
    """
    _, problem, fun_and_grad = _inner(make_data, fmt, fit_intercept)
    x0 = np.zeros(problem.n_coef)
    result = minimize_lbfgs(fun_and_grad, x0, memory_size=5, tol=0, max_iter=12)
    xs, _ = _chain(fun_and_grad, x0, 12, m=5)
    grads = [fun_and_grad(x)[1] for x in xs]
    steps = [(xs[k + 1] - xs[k], grads[k + 1] - grads[k]) for k in range(12)]
    assert all(s @ y > 0 for s, y in steps)
    _assert_same_pairs(result.memory.pairs, steps[-5:], rtol=1e-10)
    B = result.inverse_hessian.todense()
    reference = dense_bfgs_inverse(steps[-5:])
    np.testing.assert_allclose(B, reference, rtol=1e-8, atol=1e-8 * np.abs(reference).max())
    np.testing.assert_allclose(B, B.T, rtol=1e-12, atol=1e-12 * np.abs(B).max())
    assert np.linalg.eigvalsh(0.5 * (B + B.T)).min() > 0
    s, y = steps[-1]
    np.testing.assert_allclose(result.inverse_hessian @ y, s, rtol=1e-9,
                               atol=1e-9 * np.abs(s).max())
    V = np.random.default_rng(0).standard_normal((problem.n_coef, 3))
    BV = result.inverse_hessian.matmat(V)
    for k in range(3):
        np.testing.assert_allclose(BV[:, k], result.inverse_hessian.matvec(V[:, k]),
                                   rtol=1e-13, atol=1e-13 * np.abs(BV).max())


def test_result_fields(make_data):
    _, problem, fun_and_grad = _inner(make_data, fit_intercept=True)
    result = minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), tol=1e-8)
    f, g = fun_and_grad(result.x)
    assert result.success and result.grad_norm <= 1e-8
    assert result.fun == pytest.approx(f, rel=1e-14)
    np.testing.assert_allclose(result.grad, g, rtol=1e-12, atol=1e-20)
    assert result.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-12)
    assert result.nfev >= result.n_iter + 1 and result.n_extra == 0
    assert isinstance(result.memory, LBFGSMemory)
    assert isinstance(result.inverse_hessian, InverseHessianOperator)
    assert result.inverse_hessian.shape == (problem.n_coef, problem.n_coef)


def test_quadratic_minimiser(rng):
    A = rng.standard_normal((8, 8))
    A = A @ A.T + np.diag(np.logspace(0, 2, 8))
    b = rng.standard_normal(8)
    result = minimize_lbfgs(lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b),
                            np.zeros(8), memory_size=8, tol=1e-10)
    assert result.success
    np.testing.assert_allclose(result.x, np.linalg.solve(A, b), rtol=1e-9)


def test_warm_memory_is_not_modified_and_operator_is_snapshot(make_data):
    _, problem, fun_and_grad = _inner(make_data, fit_intercept=True)
    first = minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), memory_size=4, tol=0,
                           max_iter=6)
    memory = first.memory
    saved = _copy_pairs(memory)
    B_first = first.inverse_hessian.todense()
    x0 = first.x.copy()
    second = minimize_lbfgs(fun_and_grad, first.x, memory_size=4, tol=0, max_iter=5,
                            memory=memory)
    assert second.n_iter == 5
    np.testing.assert_array_equal(first.x, x0)
    _assert_same_pairs(memory.pairs, saved)
    assert not np.allclose(second.inverse_hessian.todense(), B_first)
    # pushing into (or clearing) the returned memory leaves the returned operator alone
    for s, y in second.memory.pairs[:2]:
        memory.push(-s, -y)
    memory.clear()
    np.testing.assert_array_equal(first.inverse_hessian.todense(), B_first)


def test_warm_memory_is_truncated_to_m(make_data, rng):
    _, problem, fun_and_grad = _inner(make_data)
    first = minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), memory_size=8, tol=0,
                           max_iter=8)
    assert len(first.memory) == 8
    second = minimize_lbfgs(fun_and_grad, first.x, memory_size=3, tol=0, max_iter=0,
                            memory=first.memory)
    _assert_same_pairs(second.memory.pairs, first.memory.pairs[-3:])
    assert len(first.memory) == 8


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_convergence_warns_without_printing(make_data, fmt, capsys):
    _, problem, fun_and_grad = _inner(make_data, fmt)
    with pytest.warns(ConvergenceWarning) as record:
        result = minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), tol=1e-10,
                                max_iter=3)
    assert not result.success and result.n_iter == 3
    assert any(issubclass(w.category, InnerConvergenceWarning) for w in record)
    assert issubclass(InnerConvergenceWarning, ConvergenceWarning)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), tol=1e-10, max_iter=3,
                       warn=False)
        converged = minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), tol=1e-6)
    assert converged.success
    out, err = capsys.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_no_overflow_warnings_on_huge_features(make_data, fmt, fit_intercept):
    """Features scaled by 1e4 put margins in the thousands along the run."""
    _, problem, fun_and_grad = _inner(make_data, fmt, fit_intercept, scale=1e4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = minimize_lbfgs(fun_and_grad, np.ones(problem.n_coef), tol=1e-6)
        margins = problem.datafit.margins(np.ones(problem.n_coef))
    assert np.abs(margins).max() > 1e4
    assert result.success
    assert np.isfinite(result.fun) and np.all(np.isfinite(result.grad))


def test_invalid_arguments():
    def quadratic(x):
        return 0.5 * x @ x, x

    for kwargs in [dict(memory_size=0), dict(tol=-1.0), dict(max_iter=-1), dict(tol=np.nan)]:
        with pytest.raises(ValueError):
            minimize_lbfgs(quadratic, np.ones(2), **kwargs)
    with pytest.raises(FloatingPointError):
        minimize_lbfgs(lambda x: (np.inf, x), np.ones(2))


# ---------------------------------------------------------------- line search

@pytest.mark.parametrize("first_step", [1e-4, 1.0, 1e3])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_line_search_satisfies_strong_wolfe(make_data, first_step, fit_intercept, rng):
    """Far from the minimiser (where the Armijo test is not blurred by rounding),
    accepted steps satisfy both strong Wolfe conditions, whether the first trial
    step is too short (expansion) or too long (zoom)."""
    _, problem, fun_and_grad = _inner(make_data, fit_intercept=fit_intercept)
    c1, c2 = 1e-4, 0.9
    for _ in range(3):
        x = rng.standard_normal(problem.n_coef)
        f0, g0 = fun_and_grad(x)
        for d in [-g0, -g0 + 0.5 * np.linalg.norm(g0) * rng.standard_normal(x.shape)
                  / np.sqrt(x.size)]:
            if g0 @ d >= 0:
                d = -g0
            t, new, n_eval = strong_wolfe(fun_and_grad, x, f0, g0, d, first_step, c1, c2)
            assert t is not None and t > 0 and n_eval >= 1
            x_t, f_t, g_t = new
            np.testing.assert_allclose(x_t, x + t * d, rtol=1e-15, atol=1e-15)
            f_ref, g_ref = fun_and_grad(x_t)
            assert f_t == pytest.approx(f_ref, rel=1e-14)
            assert f_t <= f0 + c1 * t * (g0 @ d)
            assert abs(g_t @ d) <= c2 * abs(g0 @ d)


# ------------------------------------------------------------------------ OPA

class _RecordingHook:
    """Wraps an extra-secant hook; checks ``B y_e = e`` right after each push.

    The solver pushes ``(e, y_e)`` into the memory it handed to the hook, after
    evaluating the gradient at ``x + e`` and before the line search. The
    wrapped ``fun_and_grad`` therefore sees the pushed pair as the newest one
    at its next call, when it applies the memory to ``y_e``.
    """

    def __init__(self, hook, fun_and_grad, outer_gradient):
        self.hook, self._fun_and_grad = hook, fun_and_grad
        self.outer_gradient = outer_gradient
        self.pending, self.memory = None, None
        self.secant_residuals, self.calls, self.directions = [], [], []
        self.alignment, self.points = [], []

    def __call__(self, iteration, x, grad, memory):
        e = self.hook(iteration, x, grad, memory)
        self.calls.append(iteration)
        if e is not None:
            Bv = memory.apply(self.outer_gradient(x))
            self.alignment.append((e @ Bv / (np.linalg.norm(e) * np.linalg.norm(Bv)),
                                   np.linalg.norm(e) / np.linalg.norm(memory.last_step)))
            self.pending, self.memory = np.array(e), memory
            self.directions.append((iteration, np.array(e)))
            self.points.append(np.array(x))
        return e

    def fun_and_grad(self, x):
        if self.pending is not None and len(self.memory):
            s, y = self.memory.pairs[-1]
            if np.array_equal(s, self.pending):
                residual = self.memory.apply(y) - s
                self.secant_residuals.append(np.linalg.norm(residual) / np.linalg.norm(s))
                self.pending = None
        return self._fun_and_grad(x)


def _outer_setup(make_data, fmt, fit_intercept, p=10):
    data = make_data(fmt=fmt, n=100, p=p)
    problem = InnerProblem.from_data(data.X, data.y, fit_intercept=fit_intercept)
    outer = LogisticLoss(data.X_val, data.y_val, fit_intercept)
    return problem, outer


@pytest.mark.parametrize("freq", [1, 3])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_opa_secant_along_outer_direction(make_data, fmt, fit_intercept, freq,
                                          dense_bfgs_inverse):
    problem, outer = _outer_setup(make_data, fmt, fit_intercept)
    fun_and_grad = problem.fun_and_grad(np.array([0.0]))
    hook = get_method("shine-opa", freq=freq).forward_hook(outer.gradient)
    assert isinstance(hook, OPAUpdates)
    recorder = _RecordingHook(hook, fun_and_grad, outer.gradient)
    result = minimize_lbfgs(recorder.fun_and_grad, np.zeros(problem.n_coef), memory_size=100,
                            tol=1e-8, extra_secant=recorder)
    assert result.success
    # an update every freq iterations, none at the cold start's first one
    expected_iters = list(range(freq, result.n_iter, freq))
    assert [k for k, _ in recorder.directions] == expected_iters
    assert result.n_extra == len(expected_iters) > 0
    assert recorder.calls == list(range(result.n_iter))
    # e = B_k grad g(x_k), rescaled to the length of the last step
    for cosine, length_ratio in recorder.alignment:
        assert cosine == pytest.approx(1.0, abs=1e-12)
        assert length_ratio == pytest.approx(1.0, rel=1e-12)
    # secant equation B y_e = e right after every push
    assert len(recorder.secant_residuals) == result.n_extra
    assert max(recorder.secant_residuals) < 1e-10
    # the same, rebuilt from the final memory (no wrap with m=100)
    pairs = result.memory.pairs
    assert len(pairs) == result.n_iter + result.n_extra
    for (_, e), x in zip(recorder.directions, recorder.points):
        index = next(i for i, (s, _) in enumerate(pairs) if np.array_equal(s, e))
        s, y_e = pairs[index]
        B = LBFGSMemory(100, pairs[:index + 1]).as_operator()
        np.testing.assert_allclose(B @ y_e, e, rtol=1e-9, atol=1e-9 * np.abs(e).max())
        np.testing.assert_allclose(B.todense(), dense_bfgs_inverse(pairs[:index + 1]),
                                   rtol=1e-8, atol=1e-8 * np.abs(B.todense()).max())
        np.testing.assert_allclose(y_e, fun_and_grad(x + e)[1] - fun_and_grad(x)[1],
                                   rtol=1e-12, atol=1e-12 * np.abs(y_e).max())


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_opa_run_reaches_the_same_minimiser(make_data, fit_intercept, relative_error):
    """Extra secant pairs only change the memory: both runs reach the same minimiser."""
    problem, outer = _outer_setup(make_data, "dense", fit_intercept)
    fun_and_grad = problem.fun_and_grad(np.array([0.0]))
    plain = minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), memory_size=60, tol=1e-10)
    with_opa = minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), memory_size=60, tol=1e-10,
                              extra_secant=OPAUpdates(outer.gradient, freq=2))
    assert with_opa.n_extra > 0
    assert with_opa.nfev > with_opa.n_extra
    assert relative_error(with_opa.x, plain.x) < 1e-8


def test_extra_pair_with_negative_curvature_is_skipped(make_data):
    """The solver evaluates the gradient at ``x + e`` but skips a pair with ``e^T y_e < 0``."""
    _, problem, fun_and_grad = _inner(make_data)
    state = {}

    def hook(iteration, x, grad, memory):
        if iteration != 3:
            return None
        e = -0.1 * grad
        state["point"], state["grad"], state["e"] = x + e, grad, e
        return e

    def bent(x):
        f, g = fun_and_grad(x)
        if "point" in state and np.array_equal(x, state["point"]):
            return f, state["grad"] - state["e"]  # y_e = -e
        return f, g

    result = minimize_lbfgs(bent, np.zeros(problem.n_coef), memory_size=50, tol=0, max_iter=8,
                            extra_secant=hook)
    assert result.n_extra == 1
    assert len(result.memory) == 8
    assert not any(np.array_equal(s, state["e"]) for s, _ in result.memory.pairs)
    # control: the genuine gradient gives an accepted pair
    state.clear()
    control = minimize_lbfgs(fun_and_grad, np.zeros(problem.n_coef), memory_size=50, tol=0,
                             max_iter=8, extra_secant=hook)
    assert len(control.memory) == 9
    assert any(np.array_equal(s, state["e"]) for s, _ in control.memory.pairs)


def test_opa_rejects_invalid_freq():
    with pytest.raises(ValueError, match="freq"):
        OPAUpdates(lambda w: w, freq=0)
