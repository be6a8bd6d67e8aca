"""How the backward pass obtains ``q ~ H^{-1} grad g``: one small class per method.

Every method has the same two-part interface:

* ``forward_hook(outer_gradient)`` returns an extra-secant hook for the inner
  L-BFGS solve (only OPA uses it) or None;
* ``solve(hessian, rhs, inverse_hessian, q0, tol)`` returns ``(q, n_hvp)``,
  the approximate solution of ``H q = rhs`` and the number of Hessian-vector
  products it cost; ``tol``, when given, overrides the relative tolerance of
  the iterative methods (the HOAG loop tightens it along the run).

Adding a method is one class and one entry in :data:`METHODS`.
"""
import inspect
import numbers

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ..solver.cg import conjugate_gradient
from ..solver.opa import OPAUpdates


def _check_tol(name, value):
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")


def _check_iter(name, value):
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and value >= 0 and int(value) == value):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _metric(inverse_hessian):
    """The metric of the inner solver's initial matrix, which CG then runs in; or None."""
    memory = getattr(inverse_hessian, "memory", None)
    return getattr(getattr(memory, "initial", None), "metric", None)


def _pick(override, default):
    return default if override is None else override


class HypergradientMethod:
    """Base class of the backward-pass methods.

    Subclasses set ``name`` (their key in :data:`METHODS`) and
    ``default_memory`` (the L-BFGS memory size they are used with by
    default), implement :meth:`solve` and, for OPA, override
    :meth:`forward_hook`.
    """

    name = "base"
    default_memory = 30

    def forward_hook(self, outer_gradient, outer_step=None):
        """Extra-secant hook for the inner solver, or None.

        Parameters
        ----------
        outer_gradient : callable
            ``w -> grad g(w)``, the gradient of the outer loss.
        outer_step : tuple of int, optional
            ``(iteration, max_iter)`` of the outer loop, None outside it.

        Returns
        -------
        callable or None
            The ``extra_secant`` hook of :func:`minimize_lbfgs`; None here,
            the base class makes no extra secant updates.
        """
        return None

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        """Approximate ``H^{-1} rhs``; return ``(q, n_hvp)``.

        Parameters
        ----------
        hessian : LinearOperator
            Hessian of the inner problem at its solution.
        rhs : ndarray
            Gradient of the outer loss.
        inverse_hessian : LinearOperator
            L-BFGS inverse-Hessian estimate of the inner solve.
        q0 : ndarray, optional
            Previous solution, for warm starts.
        tol : float, optional
            Relative residual tolerance overriding the method's own.

        Returns
        -------
        q : ndarray of shape (n_coef,)
            Approximate solution of ``H q = rhs``.
        n_hvp : int
            Number of Hessian-vector products used.
        """
        raise NotImplementedError

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class Exact(HypergradientMethod):
    """Dense Cholesky solve of ``H q = rhs``; small problems and tests only."""

    name = "exact"
    default_memory = 10

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        """Solve ``H q = rhs`` by a Cholesky factorisation of the dense Hessian.

        The dense Hessian is formed by applying ``hessian`` to the identity,
        then symmetrised.

        Parameters
        ----------
        hessian : LinearOperator
            Hessian of the inner problem at its solution.
        rhs : ndarray of shape (n_coef,)
            Gradient of the outer loss.
        inverse_hessian : LinearOperator
            Unused.
        q0 : ndarray, optional
            Unused.
        tol : float, optional
            Unused: the solve is exact.

        Returns
        -------
        q : ndarray of shape (n_coef,)
            Solution of ``H q = rhs``.
        n_hvp : int
            ``n_coef``, the Hessian-vector products that form the matrix.
        """
        n = hessian.shape[0]
        H = hessian.matmat(np.eye(n))
        return cho_solve(cho_factor(0.5 * (H + H.T)), rhs), n


class _Iterative(HypergradientMethod):
    """Methods that run CG: a relative tolerance and an iteration cap."""

    def __init__(self, tol=1e-10, max_iter=None):
        _check_tol("tol", tol)
        if max_iter is not None:
            _check_iter("max_iter", max_iter)
            max_iter = int(max_iter)
        self.tol, self.max_iter = tol, max_iter


class ConjugateGradient(_Iterative):
    """HOAG's backward pass: CG on ``H q = rhs``, warm-started at ``q0``.

    Parameters
    ----------
    tol : float, default=1e-10
        Relative residual tolerance.
    max_iter : int, optional
        Iteration cap (default ``10 * n``).
    warm_start : bool, default=True
        Start from ``q0`` (the previous outer step's solution) when given.
    """

    name = "cg"
    default_memory = 10

    def __init__(self, tol=1e-10, max_iter=None, warm_start=True):
        super().__init__(tol, max_iter)
        self.warm_start = warm_start

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        """Solve ``H q = rhs`` by CG, started at ``q0`` when ``warm_start`` is True.

        Parameters
        ----------
        hessian : LinearOperator
            Hessian of the inner problem at its solution.
        rhs : ndarray of shape (n_coef,)
            Gradient of the outer loss.
        inverse_hessian : LinearOperator
            L-BFGS inverse-Hessian estimate; only its metric is used (CG
            runs in it, see :func:`~hoag_shine.solver.cg.conjugate_gradient`).
        q0 : ndarray of shape (n_coef,), optional
            Previous solution, the starting point when ``warm_start`` is
            True (zero otherwise).
        tol : float, optional
            Relative residual tolerance overriding ``self.tol``.

        Returns
        -------
        q : ndarray of shape (n_coef,)
            Approximate solution of ``H q = rhs``.
        n_hvp : int
            Hessian-vector products used by CG.
        """
        x0 = q0 if self.warm_start else None
        return conjugate_gradient(hessian, rhs, x0, _pick(tol, self.tol), self.max_iter,
                                  metric=_metric(inverse_hessian))


class Shine(HypergradientMethod):
    """SHINE: ``q = B rhs`` with the inner solver's L-BFGS inverse estimate.

    When the inner solve leaves no secant pair (it made no iteration and
    was given no memory), there is no estimate to share: ``B`` would be the
    identity and SHINE would silently become Jacobian-free. ``q`` is then
    obtained by CG to the relative tolerance ``tol`` (1e-10 when not given),
    and the Hessian-vector products are counted.
    """

    name = "shine"

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        """Return ``q = B rhs``, or solve ``H q = rhs`` by CG when ``B`` has no pair.

        Parameters
        ----------
        hessian : LinearOperator
            Hessian of the inner problem at its solution; used only when
            ``inverse_hessian`` holds no secant pair.
        rhs : ndarray of shape (n_coef,)
            Gradient of the outer loss.
        inverse_hessian : InverseHessianOperator
            L-BFGS inverse-Hessian estimate ``B`` of the inner solve.
        q0 : ndarray of shape (n_coef,), optional
            Starting point of the CG fallback.
        tol : float, optional
            Relative residual tolerance of the CG fallback (default 1e-10).

        Returns
        -------
        q : ndarray of shape (n_coef,)
            Approximate solution of ``H q = rhs``.
        n_hvp : int
            0, or the Hessian-vector products of the CG fallback.
        """
        if not len(inverse_hessian.memory):
            return conjugate_gradient(hessian, rhs, q0, _pick(tol, 1e-10),
                                      metric=_metric(inverse_hessian))
        return inverse_hessian.matvec(rhs), 0


class ShineOPA(Shine):
    """SHINE after an inner solve that made OPA extra secant updates.

    Parameters
    ----------
    freq : int or "decreasing", default=5
        An OPA update every ``freq`` inner iterations. "decreasing" is the
        schedule of the SHINE paper's code: at outer iteration ``k`` of
        ``max_iter``, ``freq = max_iter - k``, so that the updates become
        more frequent as the strengths converge (it needs the outer loop).
    """

    name = "shine-opa"
    default_memory = 60

    def __init__(self, freq=5):
        if not (isinstance(freq, str) and freq == "decreasing"):
            _check_iter("freq", freq)
            if freq < 1:
                raise ValueError(f"freq must be a positive integer or 'decreasing', "
                                 f"got {freq!r}")
        self.freq = freq

    def forward_hook(self, outer_gradient, outer_step=None):
        """Hook making an OPA update every ``freq`` inner iterations.

        Parameters
        ----------
        outer_gradient : callable
            ``w -> grad g(w)``, the gradient of the outer loss.
        outer_step : tuple of int, optional
            ``(iteration, max_iter)`` of the outer loop; required by
            ``freq="decreasing"``.

        Returns
        -------
        OPAUpdates
            The ``extra_secant`` hook of :func:`minimize_lbfgs`.
        """
        if self.freq != "decreasing":
            return OPAUpdates(outer_gradient, self.freq)
        if outer_step is None:
            raise ValueError("freq='decreasing' follows the outer loop's iteration count; "
                             "outside the HOAG loop give an integer freq")
        iteration, max_iter = outer_step
        return OPAUpdates(outer_gradient, max(max_iter - iteration, 1))


class ShineRefine(_Iterative):
    """CG started from the SHINE estimate, with a small iteration budget.

    Parameters
    ----------
    tol : float, default=1e-10
        Relative residual tolerance.
    max_iter : int, default=5
        CG iteration budget.
    """

    name = "shine-refine"

    def __init__(self, tol=1e-10, max_iter=5):
        super().__init__(tol, max_iter)

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        """Refine the SHINE estimate ``B rhs`` by at most ``max_iter`` CG iterations.

        Parameters
        ----------
        hessian : LinearOperator
            Hessian of the inner problem at its solution.
        rhs : ndarray of shape (n_coef,)
            Gradient of the outer loss.
        inverse_hessian : LinearOperator
            L-BFGS inverse-Hessian estimate ``B``; CG starts from ``B rhs``.
        q0 : ndarray, optional
            Unused: CG starts from ``B rhs``.
        tol : float, optional
            Relative residual tolerance overriding ``self.tol``.

        Returns
        -------
        q : ndarray of shape (n_coef,)
            Approximate solution of ``H q = rhs``.
        n_hvp : int
            Hessian-vector products used by CG.
        """
        return conjugate_gradient(hessian, rhs, inverse_hessian.matvec(rhs),
                                  _pick(tol, self.tol), self.max_iter,
                                  metric=_metric(inverse_hessian))


class ShinePCG(_Iterative):
    """CG preconditioned by the L-BFGS inverse estimate.

    Parameters
    ----------
    tol : float, default=1e-10
        Relative residual tolerance.
    max_iter : int, optional
        Iteration cap (default ``10 * n``).

    Notes
    -----
    CG starts from the SHINE estimate ``B rhs``, so that with a budget of
    zero iterations the method reduces to SHINE.
    """

    name = "shine-pcg"

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        """Solve ``H q = rhs`` by CG preconditioned by ``B``, started from ``B rhs``.

        Parameters
        ----------
        hessian : LinearOperator
            Hessian of the inner problem at its solution.
        rhs : ndarray of shape (n_coef,)
            Gradient of the outer loss.
        inverse_hessian : LinearOperator
            L-BFGS inverse-Hessian estimate ``B``: the preconditioner, and
            the starting point ``B rhs``.
        q0 : ndarray, optional
            Unused: CG starts from ``B rhs``.
        tol : float, optional
            Relative residual tolerance overriding ``self.tol``.

        Returns
        -------
        q : ndarray of shape (n_coef,)
            Approximate solution of ``H q = rhs``.
        n_hvp : int
            Hessian-vector products used by CG.
        """
        return conjugate_gradient(hessian, rhs, inverse_hessian.matvec(rhs),
                                  _pick(tol, self.tol), self.max_iter,
                                  preconditioner=inverse_hessian,
                                  metric=_metric(inverse_hessian))


class JacobianFree(HypergradientMethod):
    """Jacobian-free backpropagation: ``H^{-1}`` replaced by the identity."""

    name = "jacobian-free"
    default_memory = 10

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        """Return ``q = rhs``: the inverse Hessian is replaced by the identity.

        Parameters
        ----------
        hessian : LinearOperator
            Unused.
        rhs : ndarray of shape (n_coef,)
            Gradient of the outer loss.
        inverse_hessian : LinearOperator
            Unused.
        q0 : ndarray, optional
            Unused.
        tol : float, optional
            Unused.

        Returns
        -------
        q : ndarray of shape (n_coef,)
            A float copy of ``rhs``.
        n_hvp : int
            0: no Hessian-vector product is used.
        """
        return np.array(rhs, dtype=float), 0


class Refined(HypergradientMethod):
    """Another method's estimate refined by CG with an iteration budget.

    The forward pass is the base method's (OPA's extra secant updates
    included); the backward pass starts CG on ``H q = rhs`` from the base
    method's ``q``. This is the step up the outer loop takes when an
    approximate hypergradient led to a failed step (see
    :class:`hoag_shine.outer.escalation.BackwardEscalation`).

    Parameters
    ----------
    base : HypergradientMethod
        Method whose estimate CG starts from.
    max_iter : int or None
        CG iteration budget; None runs CG to its tolerance.
    tol : float, default=1e-10
        Relative residual tolerance (the outer loop overrides it with its
        current tolerance).

    Examples
    --------
    >>> from hoag_shine.implicit.methods import Refined, Shine
    >>> Refined(Shine(), 10).name
    'shine+cg10'
    """

    def __init__(self, base, max_iter, tol=1e-10):
        if not isinstance(base, HypergradientMethod):
            raise TypeError(f"base must be a HypergradientMethod, got {base!r}")
        if max_iter is not None:
            _check_iter("max_iter", max_iter)
            max_iter = int(max_iter)
        _check_tol("tol", tol)
        self.base, self.max_iter, self.tol = base, max_iter, tol

    @property
    def name(self):
        """The base method's name and the CG budget, e.g. ``"shine+cg10"``."""
        budget = "" if self.max_iter is None else str(self.max_iter)
        return f"{self.base.name}+cg{budget}"

    @property
    def default_memory(self):
        """The base method's memory size."""
        return self.base.default_memory

    def forward_hook(self, outer_gradient, outer_step=None):
        """The base method's extra-secant hook.

        Parameters
        ----------
        outer_gradient : callable
            ``w -> grad g(w)``, the gradient of the outer loss.
        outer_step : tuple of int, optional
            ``(iteration, max_iter)`` of the outer loop.

        Returns
        -------
        callable or None
            Whatever ``base.forward_hook`` returns.
        """
        return self.base.forward_hook(outer_gradient, outer_step)

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        """CG on ``H q = rhs`` started from the base method's estimate.

        Parameters
        ----------
        hessian : LinearOperator
            Hessian of the inner problem at its solution.
        rhs : ndarray of shape (n_coef,)
            Gradient of the outer loss.
        inverse_hessian : LinearOperator
            L-BFGS inverse-Hessian estimate, passed to the base method.
        q0 : ndarray, optional
            Previous solution, passed to the base method.
        tol : float, optional
            Relative residual tolerance overriding ``self.tol``.

        Returns
        -------
        q : ndarray of shape (n_coef,)
            Approximate solution of ``H q = rhs``.
        n_hvp : int
            Hessian-vector products of the base method and of CG.
        """
        tol = _pick(tol, self.tol)
        start, n_base = self.base.solve(hessian, rhs, inverse_hessian, q0, tol)
        q, n_hvp = conjugate_gradient(hessian, rhs, start, tol, self.max_iter,
                                      metric=_metric(inverse_hessian))
        return q, n_base + n_hvp


METHODS = {cls.name: cls for cls in (
    Exact, ConjugateGradient, Shine, ShineOPA, ShineRefine, ShinePCG, JacobianFree)}


def get_method(method, **options):
    """Return a method object from its name, or the object itself.

    Parameters
    ----------
    method : str or HypergradientMethod
        One of ``METHODS``' keys, or an instance (returned as is).
    **options
        Candidate keyword arguments (``tol``, ``max_iter``, ``freq``, ...);
        each class takes those its constructor accepts, None meaning the
        class's default.

    Returns
    -------
    HypergradientMethod
        ``method`` itself when it is an instance, otherwise a new instance of
        ``METHODS[method]`` built with the options its constructor accepts.

    Examples
    --------
    >>> from hoag_shine.implicit.methods import get_method
    >>> get_method("shine-opa", freq=3, tol=1e-6)
    ShineOPA(freq=3)
    """
    if isinstance(method, HypergradientMethod):
        return method
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    known = {name for c in METHODS.values() for name in inspect.signature(c).parameters}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown method options {unknown}; the methods take {sorted(known)}")
    cls = METHODS[method]
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in options.items() if k in accepted and v is not None})
