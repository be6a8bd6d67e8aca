"""Behaviour found wrong once, kept right."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.utils.validation import check_is_fitted

from hoag_shine import (HyperOptimizer, InnerConvergenceWarning, InnerProblem, LBFGSMemory,
                        get_method, hoag, hypergradient, minimize_lbfgs)
from hoag_shine.solver.initial import InverseDiagonal


@pytest.fixture(scope="module")
def split():
    X, y = make_classification(300, 20, random_state=0)
    return X[:200], y[:200], X[200:], y[200:]


def test_warm_start_at_the_solution_keeps_tolerance_reachable(split):
    """The inner tolerance is relative to ||grad h(0)||, not to ||grad h(w0)||."""
    exact = hypergradient(*split, 0.0, method="exact")
    again = hypergradient(*split, 0.0, method="shine", w0=exact.w)
    assert again.n_inner_iter < 50
    np.testing.assert_allclose(again.grad, exact.grad, rtol=1e-6)


@pytest.mark.parametrize("method", ["shine", "shine-opa"])
def test_shine_without_pairs_falls_back_to_cg(split, method):
    """No inner iteration and no memory: no estimate to share, so CG is used."""
    exact = hypergradient(*split, 0.0, method="exact")
    res = hypergradient(*split, 0.0, method=method, w0=exact.w, inner_tol=1e-3)
    assert res.n_inner_iter == 0 and res.n_hvp > 0
    np.testing.assert_allclose(res.grad, exact.grad, rtol=1e-6)
    jf = hypergradient(*split, 0.0, method="jacobian-free", w0=exact.w, inner_tol=1e-3)
    assert not np.allclose(jf.grad, exact.grad, rtol=0.1)


def test_callback_cannot_corrupt_the_run(split):
    X, y = np.r_[split[0], split[2]], np.r_[split[1], split[3]]

    def vandal(state):
        state["coef"] *= 0.0

    a = HyperOptimizer("shine", random_state=0, max_iter=10).fit(X, y)
    b = HyperOptimizer("shine", random_state=0, max_iter=10, callback=vandal).fit(X, y)
    np.testing.assert_array_equal(a.log_alpha_, b.log_alpha_)
    assert [r["n_inner_iter"] for r in a.history_] == [r["n_inner_iter"] for r in b.history_]


def test_hoag_validates_its_arguments():
    with pytest.raises(ValueError, match="max_iter"):
        hoag(None, np.zeros(1), max_iter=0)
    with pytest.raises(ValueError, match="tolerance_decrease"):
        hoag(None, np.zeros(1), tolerance_decrease="linear")
    with pytest.raises(ValueError, match="low < high"):
        hoag(None, np.zeros(1), bounds=(1.0, -1.0))


def test_get_method_rejects_unknown_options():
    with pytest.raises(ValueError, match="unknown method options"):
        get_method("cg", max_iters=5)
    assert get_method("cg", max_iter=5.0).max_iter == 5


def test_failed_line_search_keeps_the_pairs():
    """A noisy objective makes the line search fail: the memory survives the failure."""
    rng = np.random.default_rng(0)
    A = np.diag(np.linspace(1.0, 50.0, 10))

    def noisy(x):
        return 0.5 * x @ A @ x + 1e-6 * rng.standard_normal(), A @ x

    res = minimize_lbfgs(noisy, np.ones(10), tol=0, max_iter=200, warn=False)
    assert "line search" in res.message
    assert len(res.memory) > 0
    assert not np.allclose(res.inverse_hessian.todense(), np.eye(10))


def test_tiny_curvature_pairs_are_skipped():
    """Iterates shrinking to subnormal sizes never give an infinite rho or gamma."""
    A = np.diag([1.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = minimize_lbfgs(lambda x: (0.5 * x @ A @ x + 1.0, A @ x), np.array([1e3, 1e3]),
                             tol=0, max_iter=60, warn=False)
        B = res.inverse_hessian.todense()
    assert np.all(np.isfinite(B))
    assert np.all(np.linalg.eigvalsh(0.5 * (B + B.T)) > 0)
    mem = LBFGSMemory(2)
    assert not mem.push(np.array([1e-160, 0.0]), np.array([1e-160, 0.0]))


def test_shifted_memory_shares_steps():
    s, y = np.array([1.0, 2.0]), np.array([3.0, 1.0])
    mem = LBFGSMemory(3, [(s, y)])
    shifted = mem.shifted(0.5)
    assert shifted.pairs[0][0] is mem.pairs[0][0]
    np.testing.assert_allclose(shifted.pairs[0][1], y + 0.5 * s)


def test_opa_decreasing_schedule_follows_the_outer_loop():
    from hoag_shine.implicit.methods import ShineOPA

    method = ShineOPA("decreasing")
    assert [method.forward_hook(np.ones, (k, 30)).freq for k in (0, 3, 29, 35)] == [30, 27, 1, 1]
    with pytest.raises(ValueError, match="outside the HOAG loop"):
        method.forward_hook(np.ones)
    with pytest.raises(ValueError, match="freq"):
        ShineOPA("often")


def test_opa_decreasing_schedule_in_the_estimator(split):
    """Later outer steps make more OPA updates per inner iteration."""
    X, y = np.r_[split[0], split[2]], np.r_[split[1], split[3]]
    seen = []
    fixed = HyperOptimizer("shine-opa", opa_freq=5, random_state=0).fit(X, y)
    decreasing = HyperOptimizer("shine-opa", opa_freq="decreasing", random_state=0,
                                callback=lambda s: seen.append(s) and False).fit(X, y)
    assert len(seen) == decreasing.n_iter_
    assert np.all(np.isfinite(decreasing.coef_))
    # the validation loss is flat near its optimum: compare losses, not strengths
    np.testing.assert_allclose(decreasing.best_score_, fixed.best_score_, rtol=1e-3)
    with pytest.raises(ValueError, match="opa_freq"):
        HyperOptimizer("shine-opa", opa_freq="sometimes").fit(X, y)


def test_refit_is_polished_on_nearly_separable_data():
    """The refit's Newton steps reach their tolerance when the objective's rounding hides the decrease.

    Fifteen points in thirty dimensions, three classes, rows repeated (the
    data of scikit-learn's sample-weight check): the answer is at the lower
    bound, where the final Newton steps predict decreases of 1e-14 on an
    objective whose rounding is about as large, and the Hessian's smallest
    eigenvalue is 1e-6. The steps stopped at a relative gradient of 5e-11,
    1e-4 away from the solution in the decision function, which then
    depended on how the rows were given; an exact Newton step from the
    answer must now be negligible.
    """
    rng = np.random.RandomState(42)
    X, y, weights = rng.rand(15, 30), rng.randint(0, 3, size=15), rng.randint(0, 5, size=15)
    groups = np.repeat([0, 1, 2], [weights.sum(), 15, 15])
    X, y = np.vstack([X.repeat(weights, axis=0), X, X]), np.r_[y.repeat(weights), y, y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the answer is at the bound, and the fit says so
        warnings.simplefilter("error", InnerConvergenceWarning)  # but the refit converges
        clf = HyperOptimizer(cv=list(LeaveOneGroupOut().split(X, y, groups)),
                             random_state=0).fit(X, y)
    problem = InnerProblem.from_data(X, np.searchsorted(clf.classes_, y), None, True,
                                     n_classes=3)
    fun = problem.fun_and_grad(clf.log_alpha_)
    g0 = np.linalg.norm(fun(np.zeros(problem.n_coef))[1])
    w = np.vstack([clf.coef_.T, clf.intercept_[None, :]]).ravel()
    gradient = fun(w)[1]
    assert np.linalg.norm(gradient) <= 1e-13 * g0
    hessian = problem.hessian_operator(w, clf.log_alpha_) @ np.eye(problem.n_coef)
    newton_step = np.linalg.solve(hessian, gradient)
    assert np.linalg.norm(newton_step) <= 1e-9 * np.linalg.norm(w)


class _Snapshots:
    """Callback pickling the estimator it watches after every outer iteration."""

    def __init__(self):
        self.estimator, self.pickles = None, []

    def __call__(self, state):
        self.pickles.append(pickle.dumps(self.estimator))

    def __getstate__(self):  # the copies do not carry the snapshots
        return {"estimator": None, "pickles": []}


@pytest.mark.parametrize("previous", [None, "array", "frame"])
def test_a_copy_taken_during_a_fit_is_never_half_fitted(previous):
    """Unfitted copies until the fit ends, or copies of the previous fit, which
    predicts as it did (classes_ and n_features_in_ of the new fit were set
    first: check_is_fitted passed, then predict failed)."""
    X, y = make_classification(80, 5, random_state=0)
    old_X = X[:, :3] + 1.0
    snapshots = _Snapshots()
    clf = HyperOptimizer(max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if previous is not None:
            pd = pytest.importorskip("pandas")
            data = pd.DataFrame(old_X, columns=list("abc")) if previous == "frame" else old_X
            expected = clf.fit(data, y).predict_proba(data)
        snapshots.estimator = clf
        clf.set_params(callback=snapshots).fit(X, y)
    assert len(snapshots.pickles) == clf.n_iter_
    for blob in snapshots.pickles:
        copy = pickle.loads(blob)
        if previous is None:
            with pytest.raises(NotFittedError):
                check_is_fitted(copy)
        else:
            np.testing.assert_array_equal(copy.predict_proba(data), expected)
    assert not hasattr(clf, "feature_names_in_")  # the new fit's X has no names
    assert clf.n_features_in_ == 5


@pytest.mark.parametrize("gradient, shape", [
    (lambda x: 2.0, r"\(\)"),
    (lambda x: 2 * x[:2], r"\(2,\)"),
    (lambda x: 2 * x[:, None], r"\(3, 1\)"),
    (lambda x: 2 * x[None, :], r"\(1, 3\)"),
])
def test_a_gradient_of_the_wrong_shape_is_named(gradient, shape):
    """A scalar, a vector too short, a column: the gradient's shape is named (it
    was an IndexError or a broadcasting error from inside the solver)."""
    with pytest.raises(ValueError, match=f"gradient of shape {shape} for x of shape"):
        minimize_lbfgs(lambda x: (float(x @ x), gradient(x)), np.ones(3))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(fun_and_grad=lambda x: 2 * x), TypeError, "must return a pair"),
    (dict(fun_and_grad=lambda x: (x * x, 2 * x)), ValueError, "one value, got an array"),
    (dict(extra_secant=lambda i, x, g, memory: np.ones((3, 1))), ValueError,
     r"extra_secant returned a direction of shape \(3, 1\)"),
    (dict(initial_matrix=lambda x, current: InverseDiagonal(np.ones(2))), ValueError,
     "dimension 2 for 3 unknowns"),
    (dict(initial_matrix=lambda x, current: None), TypeError, "must return an initial"),
])
def test_what_the_solver_is_given_back_is_checked(kwargs, error, message):
    kwargs = dict(dict(fun_and_grad=lambda x: (float(x @ x), 2 * x)), **kwargs)
    with pytest.raises(error, match=message):
        minimize_lbfgs(kwargs.pop("fun_and_grad"), np.ones(3), tol=0, max_iter=3, **kwargs)


@pytest.mark.parametrize("pairs, push, message", [
    ([], (np.ones(3), np.ones(2)), "two vectors of one length, got s of shape \\(3,\\)"),
    ([], (np.ones((3, 1)), np.ones((3, 1))), "got s of shape \\(3, 1\\)"),
    ([(np.ones(3), 2 * np.ones(3))], (np.ones(2), np.ones(2)), "two vectors of length 3"),
])
def test_a_pair_of_the_wrong_shape_is_named(pairs, push, message):
    with pytest.raises(ValueError, match=message):
        LBFGSMemory(3, pairs).push(*push)


@pytest.mark.parametrize("memory", [
    LBFGSMemory(3, [(np.ones(3), 2 * np.ones(3))]),
    LBFGSMemory(3, initial=InverseDiagonal(np.ones(3))),
])
def test_a_vector_of_the_wrong_length_is_named(memory):
    with pytest.raises(ValueError, match=r"vectors of length 3, got an array of shape \(2,\)"):
        memory.apply(np.ones(2))
