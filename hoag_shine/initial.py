"""Initial matrices ``H0`` of the L-BFGS two-loop recursion.

The two-loop recursion applies ``B = V_k^T ... V_1^T H0 V_1 ... V_k + (s s^T
terms)`` to a vector; the pairs ``(s, y)`` fix ``B`` on the directions they
span, ``H0`` fixes it everywhere else. For an l2-regularised linear model
``H = X^T D X + diag(alpha)``, the directions the training rows do not reach
are seen by the pairs only through ``alpha``, and there ``B`` is ``H0``.

Two initial matrices are provided, both diagonal and immutable:

- :class:`ScaledIdentity`, ``gamma I`` with ``gamma = s^T y / y^T y`` of the
  newest pair (the classical choice);
- :class:`InverseDiagonal`, ``diag(h)^{-1}`` for ``h`` the diagonal of the
  Hessian at a point, ``(diag(X^T D X) + alpha)^{-1}`` for the inner problem
  (:meth:`InnerProblem.hessian_diagonal`). It is exact wherever ``H`` is
  diagonal, in particular on the features the training rows never touch.

An initial matrix is part of an :class:`LBFGSMemory`. :func:`minimize_lbfgs`
takes an ``initial_matrix`` callable ``x -> initial matrix`` that it evaluates
at each iterate (see :func:`hessian_diagonal_initial`), so that the solver's
own steps and the exposed operator use the same ``H0``.
"""
import numpy as np

#: entries of a Hessian diagonal below this fraction of the largest one are
#: raised to it, so that ``1 / h`` stays bounded (an unpenalised intercept
#: whose samples are all fitted with certainty has ``h ~ 0``)
DIAGONAL_FLOOR = 1e-12


class ScaledIdentity:
    """Initial matrix ``gamma I``, ``gamma = s^T y / y^T y`` of the newest pair.

    It is the identity when the memory is empty. Shifting the strengths
    leaves it unchanged: ``gamma`` is recomputed from the shifted pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import LBFGSMemory, ScaledIdentity
    >>> mem = LBFGSMemory(3, [(np.array([1.0, 0.0]), np.array([4.0, 0.0]))])
    >>> float(ScaledIdentity().diagonal(mem))
    0.25
    """

    def diagonal(self, memory):
        """Diagonal of ``H0`` for the pairs of ``memory``.

        Parameters
        ----------
        memory : LBFGSMemory
            Memory whose newest pair gives ``gamma``.

        Returns
        -------
        float
            ``gamma`` (1 when the memory is empty).
        """
        return memory.gamma

    def shifted(self, delta):
        """The same initial matrix (``gamma`` follows the shifted pairs).

        Parameters
        ----------
        delta : float or ndarray of shape (n,)
            Change of the per-coefficient strengths (unused by ``gamma I``).

        Returns
        -------
        ScaledIdentity
            This object.
        """
        return self

    @property
    def n(self):
        """Dimension, None: ``gamma I`` has any dimension."""
        return None

    def __repr__(self):
        return "ScaledIdentity()"


class InverseDiagonal:
    """Initial matrix ``diag(h)^{-1}`` for a positive Hessian diagonal ``h``.

    Entries of ``h`` below ``1e-12 max(h)`` are raised to that floor.

    Parameters
    ----------
    hessian_diagonal : array-like of shape (n,)
        Diagonal of the Hessian at a point (finite, not negative, not all
        zero); it is copied.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import InverseDiagonal, LBFGSMemory
    >>> mem = LBFGSMemory(3, initial=InverseDiagonal([2.0, 4.0]))
    >>> mem.apply(np.array([1.0, 1.0]))
    array([0.5 , 0.25])
    """

    def __init__(self, hessian_diagonal):
        h = np.array(hessian_diagonal, dtype=float).ravel()
        if h.size == 0 or not np.all(np.isfinite(h)) or h.min() < 0 or h.max() <= 0:
            raise ValueError("hessian_diagonal must be finite, non-negative and not all "
                             f"zero; got entries in [{h.min() if h.size else None}, "
                             f"{h.max() if h.size else None}]")
        self.hessian_diagonal = np.maximum(h, DIAGONAL_FLOOR * h.max())
        self._inverse = 1.0 / self.hessian_diagonal

    def diagonal(self, memory):
        """Diagonal of ``H0``: ``1 / h`` whatever the pairs.

        Parameters
        ----------
        memory : LBFGSMemory
            Memory the initial matrix belongs to (unused: ``H0`` is fixed).

        Returns
        -------
        ndarray of shape (n,)
            ``1 / h`` (the array is shared; it is never modified).
        """
        return self._inverse

    def shifted(self, delta):
        """The initial matrix of the Hessian shifted by ``diag(delta)``.

        The strengths enter the Hessian diagonal additively, so at the same
        point the new diagonal is exactly ``h + delta``.

        Parameters
        ----------
        delta : float or ndarray of shape (n,)
            Change of the per-coefficient strengths.

        Returns
        -------
        InverseDiagonal
            New initial matrix with diagonal ``h + delta``.
        """
        return InverseDiagonal(self.hessian_diagonal + delta)

    @property
    def n(self):
        """Dimension of the matrix."""
        return self.hessian_diagonal.shape[0]

    def __repr__(self):
        return f"InverseDiagonal(<{self.n} entries>)"


def hessian_diagonal_initial(problem, log_alpha):
    """The ``initial_matrix`` callable of :func:`minimize_lbfgs` for an inner problem.

    Parameters
    ----------
    problem : InnerProblem
        Inner problem (any object with ``hessian_diagonal(w, log_alpha)``).
    log_alpha : array-like of shape (n_hyper,)
        Log-scale strengths.

    Returns
    -------
    callable
        ``w -> InverseDiagonal(problem.hessian_diagonal(w, log_alpha))``.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import InnerProblem, hessian_diagonal_initial
    >>> problem = InnerProblem.from_data(np.eye(2), np.array([1.0, -1.0]))
    >>> hessian_diagonal_initial(problem, [0.0])(np.zeros(2)).hessian_diagonal
    array([1.25, 1.25])
    """
    log_alpha = np.array(log_alpha, dtype=float)

    def initial(w):
        return InverseDiagonal(problem.hessian_diagonal(w, log_alpha))

    return initial


#: names accepted wherever an initial matrix is chosen: each maps
#: ``(problem, log_alpha)`` to the ``initial_matrix`` callable of
#: :func:`minimize_lbfgs` (None: the memory's ``gamma I``)
INITIAL_MATRICES = {
    "gamma": lambda problem, log_alpha: None,
    "hessian-diagonal": hessian_diagonal_initial,
}


def get_initial_matrix(initial_matrix):
    """Resolve an initial-matrix name or factory.

    Parameters
    ----------
    initial_matrix : str or callable
        A key of :data:`INITIAL_MATRICES` ("gamma", "hessian-diagonal"), or a
        callable ``(problem, log_alpha) -> initial_matrix callable or None``.

    Returns
    -------
    callable
        ``(problem, log_alpha) -> initial_matrix callable or None``, as
        :func:`minimize_lbfgs` takes it.
    """
    if isinstance(initial_matrix, str):
        try:
            return INITIAL_MATRICES[initial_matrix]
        except KeyError:
            raise ValueError(f"initial_matrix must be one of {sorted(INITIAL_MATRICES)} "
                             f"or a callable, got {initial_matrix!r}") from None
    if callable(initial_matrix):
        return initial_matrix
    raise TypeError(f"initial_matrix must be a string or a callable, got {initial_matrix!r}")
