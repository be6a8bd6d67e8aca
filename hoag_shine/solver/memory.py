"""The L-BFGS memory and the inverse-Hessian operator it defines."""
from collections import deque

import numpy as np
from scipy.linalg.blas import daxpy as _axpy
from scipy.sparse.linalg import LinearOperator

from .initial import ScaledIdentity, gradient_norm, step_norm

# A pair is skipped unless s^T y > CURVATURE_EPS * ||s|| ||y||: the cosine
# between s and y must be safely positive for the update to stay SPD. The two
# norms are the dual pair of the initial matrix's metric, if it has one
# (||s||_{1/m} ||y||_m): in Euclidean norms, a problem whose intercepts and
# coefficients are on very different scales skips good pairs.
CURVATURE_EPS = 1e-10


class LBFGSMemory:
    """The last ``memory_size`` secant pairs ``(s, y)`` in chronological order.

    The arrays of a pair are never modified after they are pushed, so copying
    a memory only copies references: a memory handed to a solver, or an
    operator built from it, never changes when the solver pushes new pairs.

    Parameters
    ----------
    memory_size : int
        Maximum number of pairs kept (the L-BFGS memory size ``m``).
    pairs : iterable of (ndarray, ndarray), optional
        Initial pairs, oldest first. Pairs failing the curvature test are
        skipped as in :meth:`push`.
    initial : ScaledIdentity or InverseDiagonal, optional
        Initial matrix ``H0`` of the two-loop recursion (an object with
        ``diagonal(memory)``, ``trial_step(memory, value, slope)``,
        ``shifted(delta)`` and ``n``); default ``gamma I``
        (:class:`ScaledIdentity`). The solver replaces it at each iterate
        when it is given an ``initial_matrix`` callable.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import LBFGSMemory
    >>> mem = LBFGSMemory(5)
    >>> mem.push(np.array([1.0, 0.0]), np.array([2.0, 0.0]))
    True
    >>> mem.apply(np.array([2.0, 0.0]))  # secant equation: B y = s
    array([1., 0.])
    """

    def __init__(self, memory_size=None, pairs=(), initial=None):
        if memory_size is None:
            raise TypeError("LBFGSMemory needs memory_size, the number of pairs kept")
        if int(memory_size) < 1:
            raise ValueError(f"memory_size must be a positive integer, got {memory_size!r}")
        self.memory_size = int(memory_size)
        self.initial = ScaledIdentity() if initial is None else initial
        self._pairs = deque(maxlen=self.memory_size)
        for s, y in pairs:
            self.push(s, y)

    def __len__(self):
        return len(self._pairs)

    @property
    def pairs(self):
        """Tuple of the stored ``(s, y)`` pairs, oldest first."""
        return tuple((s, y) for s, y, _ in self._pairs)

    def copy(self, memory_size=None):
        """A memory holding the same pairs (the newest ``memory_size`` of them).

        The pairs' arrays are shared, not copied: they are never modified.

        Parameters
        ----------
        memory_size : int, optional
            Maximum number of pairs of the copy (default: this memory's
            ``memory_size``); when smaller than the number of stored pairs,
            only the newest ``memory_size`` are kept.

        Returns
        -------
        LBFGSMemory
            New memory; pushing into it leaves this one unchanged.
        """
        new = LBFGSMemory(self.memory_size if memory_size is None else memory_size,
                          initial=self.initial)
        new._pairs.extend(self._pairs)
        return new

    def push(self, s, y):
        """Append the pair ``(s, y)`` if its curvature is safely positive.

        The pair is skipped unless ``s^T y > 1e-10 ||s|| ||y||`` and its
        ``rho = 1 / s^T y`` and scaling ``gamma`` are finite. When the memory
        is full, the oldest pair is dropped.

        Parameters
        ----------
        s : array-like of shape (n,)
            Step ``x_{k+1} - x_k`` (copied).
        y : array-like of shape (n,)
            Gradient change ``grad_{k+1} - grad_k`` (copied).

        Returns
        -------
        bool
            True if the pair was stored, False if it was skipped.

        Raises
        ------
        ValueError
            When ``s`` and ``y`` are not vectors of one length, that of the
            pairs already stored and of the initial matrix.
        """
        return self._append(np.array(s, dtype=float), np.array(y, dtype=float))

    def adopt(self, s, y):
        """Append the pair ``(s, y)`` as :meth:`push` does, without copying it.

        For a solver whose ``s`` and ``y`` are new float vectors of its own:
        the memory keeps them, and the caller must never modify them.

        Parameters
        ----------
        s, y : ndarray of float of shape (n,)
            Step and gradient change, handed over.

        Returns
        -------
        bool
            True if the pair was stored, False if it was skipped.
        """
        return self._append(s, y)

    @property
    def dimension(self):
        """Length of the vectors the memory applies to (None while it cannot tell)."""
        return self._pairs[0][0].shape[0] if self._pairs else self.initial.n

    def _append(self, s, y):
        # s and y are owned by the memory from here on and never modified
        n = self.dimension
        if s.ndim != 1 or s.shape != y.shape or n not in (None, s.shape[0]):
            length = f"length {n}" if n is not None else "one length"
            raise ValueError(f"a secant pair must be two vectors of {length}, got s of "
                             f"shape {s.shape} and y of shape {y.shape}")
        sy = float(np.dot(s, y))
        bound = CURVATURE_EPS * step_norm(self.initial, s) * gradient_norm(self.initial, y)
        if not (np.isfinite(sy) and sy > bound):
            return False
        with np.errstate(over="ignore", divide="ignore"):
            rho = 1.0 / sy
        if not (np.isfinite(rho) and np.isfinite(1.0 / (rho * np.dot(y, y)))):
            return False  # subnormal curvature: rho or gamma would overflow
        self._pairs.append((s, y, rho))
        return True

    def clear(self):
        """Forget every pair."""
        self._pairs.clear()

    def shifted(self, delta):
        """Pairs re-targeted to a Hessian shifted by ``diag(delta)``.

        When the l2 strengths change by ``delta`` (per coefficient), the
        Hessian of the inner problem changes by exactly ``diag(delta)`` for
        the same ``w``, so ``y + delta * s`` is the secant pair of the new
        problem over the same segment. Pairs whose curvature is no longer
        safely positive are dropped. The initial matrix is shifted too
        (``initial.shifted(delta)``: exact for a Hessian diagonal taken at
        the same point; ``gamma I`` follows the shifted newest pair).

        Parameters
        ----------
        delta : float or ndarray of shape (n,)
            Change of the per-coefficient strengths.

        Returns
        -------
        LBFGSMemory
            New memory with the same ``memory_size``; this one is unchanged.
        """
        new = LBFGSMemory(self.memory_size, initial=self.initial.shifted(delta))
        for s, y, _ in self._pairs:
            new._append(s, y + delta * s)  # s is shared: pairs are immutable
        return new

    @property
    def gamma(self):
        """Scaling ``s^T y / y^T y`` of the newest pair (1 if the memory is empty)."""
        if not self._pairs:
            return 1.0
        s, y, rho = self._pairs[-1]
        return 1.0 / (rho * np.dot(y, y))

    @property
    def newest_pair(self):
        """The newest ``(s, y)``, or None when the memory is empty (no tuple of all pairs)."""
        return self._pairs[-1][:2] if self._pairs else None

    @property
    def last_step(self):
        """The newest ``s``, or None when the memory is empty."""
        return self._pairs[-1][0] if self._pairs else None

    def apply(self, V):
        """Apply the L-BFGS inverse-Hessian estimate by the two-loop recursion.

        Parameters
        ----------
        V : ndarray of shape (n,) or (n, k)
            Vector, or matrix whose columns are vectors.

        Returns
        -------
        ndarray of the same shape as ``V``
            ``B V``, the inverse-Hessian estimate ``B`` applied to ``V`` (to
            each column of a matrix), with the memory's initial matrix ``H0``
            between the two loops.

        Raises
        ------
        ValueError
            When ``V``'s length is not the memory's :attr:`dimension`.
        """
        V = np.asarray(V, dtype=float)
        if V.ndim not in (1, 2) or self.dimension not in (None, V.shape[0]):
            raise ValueError(f"the memory applies to vectors of length {self.dimension}, "
                             f"got an array of shape {V.shape}")
        if V.ndim == 1:
            return self._apply_vector(V)
        Q = V.reshape(V.shape[0], -1).copy()
        # one temporary for every pair's update: this is the solver's hot
        # loop, and fresh arrays cost page faults where the allocator returns
        # freed memory to the system
        product = np.empty_like(Q)
        coefs = []
        for s, y, rho in reversed(self._pairs):
            a = rho * (s @ Q)
            Q -= np.multiply(y[:, None], a, out=product)
            coefs.append(a)
        h0 = np.asarray(self.initial.diagonal(self))
        Q *= h0[:, None] if h0.ndim else h0
        for (s, y, rho), a in zip(self._pairs, reversed(coefs)):
            b = rho * (y @ Q)
            Q += np.multiply(s[:, None], a - b, out=product)
        return Q.reshape(V.shape)

    def _apply_vector(self, v):
        """The two-loop recursion on one vector, updated in place by BLAS ``axpy``.

        On large problems the recursion is bound by memory traffic: ``axpy``
        reads each pair's vector and ``q`` once and writes ``q`` once, where
        a product into a temporary followed by a subtraction moves twice as
        much data.
        """
        q = np.array(v, dtype=float)
        coefs = []
        for s, y, rho in reversed(self._pairs):
            a = rho * float(s @ q)
            q = _axpy(y, q, a=-a)
            coefs.append(a)
        q *= np.asarray(self.initial.diagonal(self))
        for (s, y, rho), a in zip(self._pairs, reversed(coefs)):
            b = rho * float(y @ q)
            q = _axpy(s, q, a=a - b)
        return q

    def as_operator(self, n=None):
        """The current estimate as an :class:`InverseHessianOperator`.

        Parameters
        ----------
        n : int, optional
            Dimension; needed only when the memory is empty and its initial
            matrix is ``gamma I`` (the operator is then the identity).
            Otherwise it must match the pairs' (or the initial matrix's)
            dimension.

        Returns
        -------
        InverseHessianOperator
            Operator of shape ``(n, n)`` built on a copy of the memory: pairs
            pushed afterwards do not change it.
        """
        return InverseHessianOperator(self, n)


class InverseHessianOperator(LinearOperator):
    """L-BFGS inverse-Hessian estimate as a symmetric positive definite operator.

    The operator takes a snapshot of the memory: pairs pushed into the memory
    afterwards do not change it.

    Parameters
    ----------
    memory : LBFGSMemory
        Pairs defining the two-loop recursion, oldest first, and its
        initial matrix (``gamma I`` unless the memory says otherwise).
    n : int, optional
        Dimension; required when the memory is empty and its initial
        matrix has no dimension of its own (``gamma I``).

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import LBFGSMemory
    >>> B = LBFGSMemory(3, [(np.array([1.0, 1.0]), np.array([2.0, 1.0]))]).as_operator()
    >>> np.allclose(B @ np.array([2.0, 1.0]), [1.0, 1.0])
    True
    """

    def __init__(self, memory, n=None):
        self.memory = memory.copy()
        for name, size in (("pairs'", memory.pairs[0][0].shape[0] if len(memory) else None),
                           ("initial matrix's", memory.initial.n)):
            if size is None:
                continue
            if n is not None and n != size:
                raise ValueError(f"n={n} does not match the {name} dimension {size}")
            n = size
        if n is None:
            raise ValueError("n is required for an operator built from an empty memory "
                             "with initial matrix gamma I")
        super().__init__(dtype=np.dtype(float), shape=(int(n), int(n)))

    def _matvec(self, v):
        return self.memory.apply(np.ravel(v)).reshape(np.shape(v))

    def _matmat(self, V):
        return self.memory.apply(V)

    def _rmatvec(self, v):
        return self._matvec(v)

    def _adjoint(self):
        return self

    def todense(self):
        """Dense matrix of the operator (for tests and small problems).

        Returns
        -------
        ndarray of shape (n, n)
            The estimate applied to the identity matrix.
        """
        return self.memory.apply(np.eye(self.shape[0]))
