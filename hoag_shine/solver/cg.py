"""Conjugate gradient on a symmetric positive definite operator, counting its products."""
import numpy as np
from scipy.sparse.linalg import LinearOperator, cg


class _CountingOperator(LinearOperator):
    """Wrap a LinearOperator and count its products with vectors."""

    def __init__(self, op):
        super().__init__(dtype=op.dtype, shape=op.shape)
        self.op = op
        self.count = 0

    def _matvec(self, v):
        self.count += 1
        return self.op.matvec(v)

    def _matmat(self, V):
        self.count += V.shape[1]
        return self.op.matmat(V)


class _Scaled(LinearOperator):
    """``diag(left) A diag(right)``."""

    def __init__(self, op, left, right):
        super().__init__(dtype=op.dtype, shape=op.shape)
        self.op, self.left, self.right = op, left, right

    def _matvec(self, v):
        return self.left * self.op.matvec(self.right * np.ravel(v))

    def _matmat(self, V):
        return self.left[:, None] * self.op.matmat(self.right[:, None] * V)


def conjugate_gradient(hessian, rhs, x0=None, tol=1e-10, max_iter=None,
                       preconditioner=None, metric=None):
    """Solve ``H q = rhs`` by (preconditioned) CG to relative tolerance ``tol``.

    Parameters
    ----------
    hessian : LinearOperator
        Symmetric positive definite operator.
    rhs : ndarray
        Right-hand side.
    x0 : ndarray, optional
        Starting point (warm start).
    tol : float, default=1e-10
        Stop when ``||H q - rhs|| <= tol * ||rhs||``.
    max_iter : int, optional
        Iteration cap (default ``10 * n``).
    preconditioner : LinearOperator, optional
        SPD approximation of ``H^{-1}``.
    metric : ndarray of shape (n,), optional
        Positive diagonal ``m``: CG then runs in the variables ``q' = q /
        m^(1/2)`` (on ``T H T q' = T rhs``, ``T = diag(m)^(1/2)``) and the
        residual is measured in the metric, ``||T (H q - rhs)|| <= tol ||T
        rhs||``, so that its iterates do not change when the variables are
        rescaled with the metric (the inner solver's
        :class:`~hoag_shine.solver.initial.ScaledIdentity` metric).

    Returns
    -------
    q : ndarray
        Approximate solution.
    n_hvp : int
        Hessian-vector products used (including the residual of ``x0``).
    """
    if max_iter is not None and not max_iter >= 0:
        raise ValueError(f"max_iter must be None or >= 0, got {max_iter!r}")
    if not (np.all(np.isfinite(rhs)) and (x0 is None or np.all(np.isfinite(x0)))):
        raise ValueError("rhs and x0 must be finite")
    counted = _CountingOperator(hessian)
    if max_iter is None:
        max_iter = 10 * hessian.shape[0]
    if max_iter == 0:
        return (np.zeros_like(rhs) if x0 is None else np.array(x0, dtype=float)), 0
    if metric is None:
        q, _ = cg(counted, rhs, x0=x0, rtol=tol, atol=0.0, maxiter=max_iter,
                  M=preconditioner)
        return q, counted.count
    t = np.sqrt(metric)
    q, _ = cg(_Scaled(counted, t, t), t * rhs, x0=None if x0 is None else x0 / t, rtol=tol,
              atol=0.0, maxiter=max_iter,
              M=None if preconditioner is None else _Scaled(preconditioner, 1 / t, 1 / t))
    return t * q, counted.count
