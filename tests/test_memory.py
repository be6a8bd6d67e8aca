"""The L-BFGS memory and its inverse-Hessian operator."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator

from hoag_shine import InverseHessianOperator, LBFGSMemory


def _spd(rng, n, low=1.0, high=20.0):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * rng.uniform(low, high, n)) @ Q.T


def _pairs(rng, n, n_pairs, noise=0.0):
    """Secant pairs of a quadratic with Hessian ``A`` (``y = A s``), optionally perturbed.

    A relative perturbation of 0.1 keeps the curvature positive, since the
    eigenvalues of ``A`` are at least 1.
    """
    A = _spd(rng, n)
    pairs = []
    for _ in range(n_pairs):
        s = rng.standard_normal(n) * rng.uniform(0.1, 2.0)
        y = A @ s + noise * np.linalg.norm(s) * rng.standard_normal(n) / np.sqrt(n)
        pairs.append((s, y))
    return pairs


def _close(a, b, rtol=1e-10):
    """Entry-wise agreement relative to the largest entry."""
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


@pytest.mark.parametrize("noise", [0.0, 0.1])
@pytest.mark.parametrize("n_pairs", [1, 3, 6])
def test_operator_equals_dense_bfgs_recursion(n_pairs, noise, dense_bfgs_inverse, rng):
    pairs = _pairs(rng, 6, n_pairs, noise)
    memory = LBFGSMemory(10, pairs)
    operator = memory.as_operator()
    assert isinstance(operator, InverseHessianOperator)
    assert isinstance(operator, LinearOperator)
    assert operator.shape == (6, 6)
    reference = dense_bfgs_inverse(pairs)
    _close(operator.todense(), reference)
    v = rng.standard_normal(6)
    _close(operator.matvec(v), reference @ v)
    _close(operator @ v, reference @ v)


@pytest.mark.parametrize("noise", [0.0, 0.1])
@pytest.mark.parametrize("n_pairs", [1, 4, 8])
def test_operator_is_spd_and_satisfies_newest_secant(n_pairs, noise, rng):
    pairs = _pairs(rng, 6, n_pairs, noise)
    operator = LBFGSMemory(5, pairs).as_operator()
    B = operator.todense()
    _close(B, B.T, rtol=1e-12)
    assert np.linalg.eigvalsh(0.5 * (B + B.T)).min() > 0
    s, y = pairs[-1]
    _close(operator.matvec(y), s, rtol=1e-12)


def test_gamma_is_scaling_of_newest_pair(rng):
    pairs = _pairs(rng, 5, 4, noise=0.1)
    memory = LBFGSMemory(10, pairs)
    s, y = pairs[-1]
    assert memory.gamma == pytest.approx((s @ y) / (y @ y), rel=1e-14)
    # with a single pair, B = gamma I on the orthogonal complement of s and y
    single = LBFGSMemory(3, pairs[:1])
    s0, y0 = pairs[0]
    basis, _ = np.linalg.qr(np.column_stack([s0, y0, rng.standard_normal((5, 3))]))
    u = basis[:, 2]
    _close(single.apply(u), (s0 @ y0) / (y0 @ y0) * u, rtol=1e-12)


def test_matmat_agrees_with_matvec_column_by_column(rng):
    pairs = _pairs(rng, 7, 5, noise=0.1)
    operator = LBFGSMemory(10, pairs).as_operator()
    V = rng.standard_normal((7, 4))
    BV = operator.matmat(V)
    assert BV.shape == (7, 4)
    for k in range(4):
        _close(BV[:, k], operator.matvec(V[:, k]), rtol=1e-13)
    _close(operator @ V, BV, rtol=1e-13)
    _close(operator.todense(), operator.matmat(np.eye(7)), rtol=1e-13)
    # symmetric: the adjoint is the operator itself
    _close(operator.rmatvec(V[:, 0]), operator.matvec(V[:, 0]), rtol=1e-13)
    _close(operator.H @ V, BV, rtol=1e-13)
    column = operator.matvec(V[:, :1])
    assert column.shape == (7, 1)
    _close(column[:, 0], BV[:, 0], rtol=1e-13)


@pytest.mark.parametrize("sy", [-1.0, 0.0, 1e-14, np.nan])
def test_non_positive_curvature_is_skipped(sy, rng):
    """Pairs whose ``s^T y`` is not safely positive are rejected, the memory unchanged."""
    memory = LBFGSMemory(5, _pairs(rng, 4, 2))
    before = [tuple(a.copy() for a in pair) for pair in memory.pairs]
    s = np.array([1.0, 0.0, 0.0, 0.0])
    y = np.array([sy, 1.0, 0.0, 0.0])
    assert memory.push(s, y) is False
    assert len(memory) == 2
    for (s0, y0), (s1, y1) in zip(before, memory.pairs):
        np.testing.assert_array_equal(s0, s1)
        np.testing.assert_array_equal(y0, y1)
    # same through the constructor
    assert len(LBFGSMemory(5, [(s, y)])) == 0


def test_positive_curvature_is_accepted():
    memory = LBFGSMemory(3)
    assert memory.push(np.array([1.0, 0.0]), np.array([0.5, 3.0])) is True
    assert len(memory) == 1


def test_ring_buffer_keeps_last_pairs_in_chronological_order(dense_bfgs_inverse, rng):
    pairs = _pairs(rng, 5, 7, noise=0.1)
    memory = LBFGSMemory(3)
    for k, (s, y) in enumerate(pairs):
        assert memory.push(s, y)
        assert len(memory) == min(k + 1, 3)
    assert len(memory.pairs) == 3
    for (s, y), (s_ref, y_ref) in zip(memory.pairs, pairs[-3:]):
        np.testing.assert_array_equal(s, s_ref)
        np.testing.assert_array_equal(y, y_ref)
    _close(memory.as_operator().todense(), dense_bfgs_inverse(pairs[-3:]))
    np.testing.assert_array_equal(memory.last_step, pairs[-1][0])


def test_operator_is_a_snapshot(rng):
    """Pushing into (or clearing) the memory later leaves an existing operator unchanged."""
    pairs = _pairs(rng, 5, 6, noise=0.1)
    memory = LBFGSMemory(4, pairs[:3])
    operator = memory.as_operator()
    before = operator.todense()
    for s, y in pairs[3:]:
        memory.push(s, y)
    assert not np.allclose(memory.as_operator().todense(), before)
    np.testing.assert_array_equal(operator.todense(), before)
    memory.clear()
    assert len(memory) == 0
    np.testing.assert_array_equal(operator.todense(), before)


def test_copy_is_independent_and_truncates_to_newest(rng):
    pairs = _pairs(rng, 4, 5, noise=0.1)
    memory = LBFGSMemory(5, pairs)
    short = memory.copy(memory_size=2)
    assert short.memory_size == 2
    for (s, _), (s_ref, _) in zip(short.pairs, pairs[-2:]):
        np.testing.assert_array_equal(s, s_ref)
    full = memory.copy()
    full.push(*_pairs(rng, 4, 1)[0])
    full.clear()
    assert len(memory) == 5


def test_pushed_arrays_are_copied(rng):
    s, y = _pairs(rng, 4, 1)[0]
    memory = LBFGSMemory(2)
    memory.push(s, y)
    s_saved = s.copy()
    s *= 100.0
    y[:] = 0.0
    np.testing.assert_array_equal(memory.pairs[0][0], s_saved)
    assert memory.pairs[0][1].any()


def test_adopted_arrays_are_kept_and_judged_as_pushed_ones(rng):
    """adopt stores the solver's own vectors without a copy, and skips what push skips."""
    s, y = _pairs(rng, 4, 1)[0]
    pushed, adopted = LBFGSMemory(2), LBFGSMemory(2)
    assert pushed.push(s, y) is adopted.adopt(s, y) is True
    assert adopted.pairs[0][0] is s and adopted.pairs[0][1] is y
    v = rng.standard_normal(4)
    np.testing.assert_array_equal(adopted.apply(v), pushed.apply(v))
    assert adopted.adopt(s, -y) is False and len(adopted) == 1


def test_empty_memory_is_identity():
    memory = LBFGSMemory(3)
    assert memory.gamma == 1.0
    assert memory.last_step is None
    operator = memory.as_operator(4)
    np.testing.assert_array_equal(operator.todense(), np.eye(4))
    with pytest.raises(ValueError, match="n is required"):
        memory.as_operator()


def test_invalid_arguments(rng):
    with pytest.raises(ValueError, match="memory_size"):
        LBFGSMemory(0)
    memory = LBFGSMemory(3, _pairs(rng, 4, 2))
    with pytest.raises(ValueError, match="does not match"):
        InverseHessianOperator(memory, n=5)


# the fixture is a pure function, safe to share between examples
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2 ** 32 - 1), n_pairs=st.integers(1, 12),
       maxlen=st.integers(1, 6), n=st.integers(1, 6))
def test_memory_property(seed, n_pairs, maxlen, n, dense_bfgs_inverse):
    """Random streams with bad pairs mixed in: the memory holds the newest ``maxlen``
    accepted pairs and its operator equals the dense recursion over them."""
    rng = np.random.default_rng(seed)
    accepted = []
    memory = LBFGSMemory(maxlen)
    for s, y in _pairs(rng, n, n_pairs, noise=0.1):
        if rng.random() < 0.3:
            y = -y  # negative curvature
        ok = memory.push(s, y)
        assert ok == (s @ y > 0)
        if ok:
            accepted.append((s, y))
    kept = accepted[-maxlen:]
    assert len(memory) == len(kept)
    for (s, y), (s_ref, y_ref) in zip(memory.pairs, kept):
        np.testing.assert_array_equal(s, s_ref)
        np.testing.assert_array_equal(y, y_ref)
    B = memory.as_operator(n).todense()
    if kept:
        _close(B, dense_bfgs_inverse(kept), rtol=1e-9)
        assert np.linalg.eigvalsh(0.5 * (B + B.T)).min() > 0
    else:
        np.testing.assert_array_equal(B, np.eye(n))


@pytest.mark.parametrize("initial", ["gamma", "diagonal"])
@pytest.mark.parametrize("n_pairs", [0, 1, 5])
def test_vector_two_loop_equals_the_matrix_one(initial, n_pairs, rng):
    """The in-place ``axpy`` recursion on one vector is the matrix recursion's column."""
    from hoag_shine.solver.initial import InverseDiagonal

    pairs = _pairs(rng, 9, n_pairs, noise=0.1)
    h0 = None if initial == "gamma" else InverseDiagonal(rng.uniform(0.5, 3.0, 9))
    memory = LBFGSMemory(10, pairs, initial=h0)
    v = rng.standard_normal(9)
    before = v.copy()
    Bv = memory.apply(v)
    np.testing.assert_array_equal(v, before)  # the input is not modified
    assert Bv.shape == (9,) and Bv is not v
    _close(Bv, memory.apply(v[:, None])[:, 0], rtol=1e-14)
    # and a strided vector (a column of a C-ordered matrix)
    column = np.ascontiguousarray(np.column_stack([v, v]))[:, 1]
    assert not column.flags.c_contiguous
    _close(memory.apply(column), Bv, rtol=1e-14)
