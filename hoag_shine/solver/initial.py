"""Initial matrices ``H0`` of the L-BFGS two-loop recursion.

The two-loop recursion applies ``B = V_k^T ... V_1^T H0 V_1 ... V_k + (s s^T
terms)`` to a vector; the pairs ``(s, y)`` fix ``B`` on the directions they
span, ``H0`` dominates everywhere else. For an l2-regularised linear model
``H = X^T D X + diag(alpha)`` is ``alpha`` on the directions orthogonal to
every training row, which a solve started at zero never explores.

Two initial matrices are provided, both diagonal and immutable:

- :class:`ScaledIdentity`, ``gamma I`` with ``gamma = s^T y / y^T y`` of the
  newest pair (the classical choice), or ``gamma diag(m)`` for a metric
  ``m``: ``gamma I`` in the variables ``x / m^(1/2)``, in which the solver
  then also measures its gradients (with one strength and intercepts, the
  problem's ``intercept_metric``);
- :class:`InverseDiagonal`, ``diag(h)^{-1}`` for ``h`` the diagonal of the
  Hessian at a point, ``(diag(X^T D X) + alpha)^{-1}`` for the inner problem
  (:meth:`InnerProblem.hessian_diagonal`). It is exact on the features no
  training row touches, and close to ``1 / alpha`` on rare features.

An initial matrix is part of an :class:`LBFGSMemory`. :func:`minimize_lbfgs`
takes an ``initial_matrix`` callable ``(x, current) -> initial matrix`` that it
calls at each iterate (see :func:`hessian_diagonal_initial`), so that the
solver's own steps and the exposed operator use the same ``H0``.
"""
import numpy as np

#: entries of a Hessian diagonal below this fraction of the largest one are
#: raised to it, so that ``1 / h`` stays bounded (an unpenalised intercept
#: whose samples are all fitted with certainty has ``h ~ 0``)
DIAGONAL_FLOOR = 1e-12


class _MeasuredIn:
    """Gradient and step norms in the metric ``m`` of an initial matrix.

    ``metric`` (an attribute or property of the subclass) is the positive
    diagonal ``m``, or None for Euclidean norms. Gradients are measured as
    ``(g^T diag(m) g)^(1/2)``, steps in the dual norm ``(s^T diag(1/m)
    s)^(1/2)``.
    """

    def gradient_norm(self, grad):
        """Norm of a gradient in the metric.

        Parameters
        ----------
        grad : ndarray of shape (n,)
            Gradient.

        Returns
        -------
        float
            ``(g^T diag(m) g)^(1/2)``; the Euclidean norm without a metric.
        """
        if self.metric is None:
            return float(np.linalg.norm(grad))
        return float(np.sqrt(grad @ (self.metric * grad)))

    def step_norm(self, step):
        """Norm of a step (a change of the variables) in the dual metric.

        Parameters
        ----------
        step : ndarray of shape (n,)
            Step.

        Returns
        -------
        float
            ``(s^T diag(1/m) s)^(1/2)``; the Euclidean norm without a metric.
        """
        if self.metric is None:
            return float(np.linalg.norm(step))
        return float(np.sqrt(step @ (step / self.metric)))


class ScaledIdentity(_MeasuredIn):
    """Initial matrix ``gamma I``, ``gamma = s^T y / y^T y`` of the newest pair.

    It is the identity when the memory is empty (``diag(m)`` with a metric
    ``m``, see below). Shifting the strengths leaves it unchanged: ``gamma``
    is recomputed from the shifted pairs.

    Parameters
    ----------
    metric : array-like of shape (n,), optional
        Positive diagonal ``m``: the matrix is then ``gamma diag(m)`` with
        ``gamma = s^T y / y^T diag(m) y``, which is ``gamma I`` in the
        variables ``x' = x / m^(1/2)``, and the solver measures gradients in
        that metric too (:meth:`gradient_norm`). None is ``m = 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import LBFGSMemory
    >>> from hoag_shine.solver.initial import ScaledIdentity
    >>> mem = LBFGSMemory(3, [(np.array([1.0, 0.0]), np.array([4.0, 0.0]))])
    >>> float(ScaledIdentity().diagonal(mem))
    0.25
    >>> ScaledIdentity([1.0, 0.5]).diagonal(mem)
    array([0.25 , 0.125])
    """

    def __init__(self, metric=None):
        if metric is not None:
            metric = np.array(metric, dtype=float).ravel()
            if metric.size == 0 or not (np.all(np.isfinite(metric)) and np.all(metric > 0)):
                raise ValueError("metric must hold positive finite numbers")
        self.metric = metric

    def diagonal(self, memory):
        """Diagonal of ``H0`` for the pairs of ``memory``.

        Parameters
        ----------
        memory : LBFGSMemory
            Memory whose newest pair gives ``gamma``.

        Returns
        -------
        float or ndarray of shape (n,)
            ``gamma`` (1 when the memory is empty); ``gamma m`` with a metric.
        """
        if self.metric is None:
            return memory.gamma
        if not len(memory):
            return self.metric
        s, y = memory.newest_pair
        return (float(s @ y) / float(y @ (self.metric * y))) * self.metric

    def trial_step(self, memory, value, slope):
        """First step length of the line search along ``d = -B grad``.

        With pairs, ``gamma`` scales ``B`` to the curvature and the unit step
        is the model's. Without pairs ``B = I`` carries no scale; the step
        is then the one at which the linear model ``value + t slope`` reaches
        0: Polyak's step for a function bounded below by 0 (as a logistic
        loss plus an l2 penalty is), which is half the exact step of a
        quadratic whose minimum is 0. It is the same point whatever the
        function's scale (``f -> c f``) or the variables' (``x -> x / s``),
        as the answer must be when the sample weights, or the columns of
        ``X``, are scaled against the strengths. At a value of 0 the step
        has unit length.

        Parameters
        ----------
        memory : LBFGSMemory
            Memory defining ``B``.
        value : float
            Objective value at the current point.
        slope : float
            Directional derivative ``grad^T d`` (negative).

        Returns
        -------
        float
            1 with pairs; without pairs ``|value| / -slope``, or
            ``1 / sqrt(-slope)`` (a step of length 1 along ``-grad``) when
            that is 0 or not finite.
        """
        if len(memory):
            return 1.0
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            step = abs(value) / -slope
            if not (np.isfinite(step) and step > 0):
                step = 1.0 / np.sqrt(-slope)
        return float(step)

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
        """Dimension: the metric's, None without one (``gamma I`` has any)."""
        return None if self.metric is None else self.metric.shape[0]

    def __repr__(self):
        return "ScaledIdentity()" if self.metric is None else f"ScaledIdentity(n={self.n})"


class InverseDiagonal(_MeasuredIn):
    """Initial matrix ``diag(h)^{-1}`` for a positive Hessian diagonal ``h``.

    Entries of ``h`` below ``1e-12 max(h)`` are raised to that floor.

    Parameters
    ----------
    hessian_diagonal : array-like of shape (n,)
        Diagonal of the Hessian at a point (finite, not negative, not all
        zero); it is copied.
    point : ndarray of shape (n,), optional
        The point at which the diagonal was taken (kept, not copied: the
        solver never modifies its iterates), so that a refresh rule can tell
        how far the iterate has moved since.
    measures : bool, default=True
        Whether the solver measures gradients and steps in the matrix's
        metric (:attr:`metric`, :meth:`gradient_norm`, :meth:`step_norm`);
        :func:`hessian_diagonal_initial` sets it for several strengths,
        whose scales it then makes free of the columns' units. False keeps
        Euclidean norms.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import LBFGSMemory
    >>> from hoag_shine.solver.initial import InverseDiagonal
    >>> mem = LBFGSMemory(3, initial=InverseDiagonal([2.0, 4.0]))
    >>> mem.apply(np.array([1.0, 1.0]))
    array([0.5 , 0.25])
    """

    def __init__(self, hessian_diagonal, point=None, measures=True):
        self.point = point
        self.measures = bool(measures)
        h = np.array(hessian_diagonal, dtype=float).ravel()
        if h.size == 0 or not np.all(np.isfinite(h)) or h.min() < 0 or h.max() <= 0:
            raise ValueError("hessian_diagonal must be finite, non-negative and not all "
                             f"zero; got entries in [{h.min() if h.size else None}, "
                             f"{h.max() if h.size else None}]")
        self.hessian_diagonal = np.maximum(h, DIAGONAL_FLOOR * h.max())
        self._inverse = 1.0 / self.hessian_diagonal

    @property
    def metric(self):
        """``1 / h`` when the matrix ``measures``, else None (Euclidean norms).

        In that metric gradients are measured as ``(g^T diag(1/h) g)^(1/2)``
        and steps as ``(s^T diag(h) s)^(1/2)``, norms that do not change
        when a coordinate is rescaled against its strength.
        """
        return self._inverse if self.measures else None

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

    def trial_step(self, memory, value, slope):
        """First step length of the line search along ``-B grad``.

        ``diag(h)^{-1}`` ignores the correlations between coefficients, so
        along the directions the solver explores it overestimates the
        inverse curvature. The newest pair measures by how much:
        ``tau = s^T y / y^T H0 y`` is 1 when ``H0`` has the pair's curvature
        (it is the ratio that ``gamma I`` applies to ``I``). The direction
        ``-B grad`` mixes parts the pairs have corrected with parts that only
        ``H0`` scales, so the trial step is the geometric mean
        ``min(1, sqrt(tau))`` of the unit step and ``tau``. (Measured on
        20news and adult: the unit step needed a second evaluation in most
        iterations on 20news; ``tau`` alone cut the steps too short and
        added iterations on adult.) ``B`` itself is not rescaled, so that it
        stays exact where ``H`` is diagonal.

        Parameters
        ----------
        memory : LBFGSMemory
            Memory defining ``B``.
        value, slope : float
            Objective value and directional derivative (unused: ``H0``
            carries the scale).

        Returns
        -------
        float
            ``min(1, sqrt(tau))``, 1 without pairs.
        """
        if not len(memory):
            return 1.0
        s, y = memory.newest_pair
        tau = (s @ y) / (y @ (self._inverse * y))
        return float(min(1.0, np.sqrt(tau))) if np.isfinite(tau) and tau > 0 else 1.0

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
        # exact arithmetic keeps h + delta >= 0; clip the rounding below it
        return InverseDiagonal(np.maximum(self.hessian_diagonal + delta, 0.0), self.point,
                               self.measures)

    @property
    def n(self):
        """Dimension of the matrix."""
        return self.hessian_diagonal.shape[0]

    def __repr__(self):
        return f"InverseDiagonal(<{self.n} entries>)"


def hessian_diagonal_initial(problem, log_alpha, refresh=0.1):
    """The ``initial_matrix`` callable of :func:`minimize_lbfgs` for an inner problem.

    The Hessian diagonal costs about one gradient (one product of the
    elementwise square of ``X``). It is recomputed when the iterate has moved
    by more than ``refresh`` times its norm since the point where the
    current diagonal ``h`` was taken, both measured in the norm
    ``sqrt(sum h v^2)`` (which makes the rule independent of the scale of
    the objective and of each coefficient's); otherwise the current one is
    kept. The rule
    depends only on the iterate and the memory's initial matrix, so a solve
    chained through ``memory=`` makes the same decisions as one long run.

    Parameters
    ----------
    problem : InnerProblem
        Inner problem (any object with ``hessian_diagonal(w, log_alpha)``).
    log_alpha : array-like of shape (n_hyper,)
        Log-scale strengths.
    refresh : float, default=0.1
        Relative move ``||w - w_ref||_h / ||w||_h`` beyond which the
        diagonal is recomputed; 0 recomputes it at every iterate.

    Returns
    -------
    callable
        ``(w, current) -> InverseDiagonal``: ``current`` (the memory's
        initial matrix) when it is an :class:`InverseDiagonal` of the right
        size taken close enough to ``w``, else
        ``InverseDiagonal(problem.hessian_diagonal(w, log_alpha), w)``,
        measuring in its metric with several strengths.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import InnerProblem
    >>> from hoag_shine.solver.initial import ScaledIdentity, hessian_diagonal_initial
    >>> problem = InnerProblem.from_data(np.eye(2), np.array([1.0, -1.0]))
    >>> initial = hessian_diagonal_initial(problem, [0.0])
    >>> initial(np.zeros(2), ScaledIdentity()).hessian_diagonal
    array([1.25, 1.25])
    """
    log_alpha = np.array(log_alpha, dtype=float)
    if not (np.isscalar(refresh) and refresh >= 0):
        raise ValueError(f"refresh must be a non-negative number, got {refresh!r}")

    def initial(w, current):
        if _taken_close_to(current, w, refresh):
            return current
        return InverseDiagonal(problem.hessian_diagonal(w, log_alpha), w,
                               measures=getattr(problem, "n_hyper", 1) > 1)

    return initial


def gradient_norm(initial, grad):
    """Norm of ``grad`` in the metric of the initial matrix ``initial``.

    Parameters
    ----------
    initial : object or None
        An initial matrix; one with a ``gradient_norm`` method (a
        :class:`ScaledIdentity`) measures the gradient itself.
    grad : ndarray of shape (n,)
        Gradient.

    Returns
    -------
    float
        ``initial.gradient_norm(grad)``, else the Euclidean norm.
    """
    norm = getattr(initial, "gradient_norm", None)
    return float(np.linalg.norm(grad)) if norm is None else norm(grad)


def step_norm(initial, step):
    """Norm of a step (a change of the variables) in the metric of ``initial``.

    The dual of :func:`gradient_norm`: ``(s^T diag(1/m) s)^(1/2)`` for an
    initial matrix with a metric ``m``, else the Euclidean norm.

    Parameters
    ----------
    initial : object or None
        An initial matrix.
    step : ndarray of shape (n,)
        Step.

    Returns
    -------
    float
        The step's norm.
    """
    norm = getattr(initial, "step_norm", None)
    return float(np.linalg.norm(step)) if norm is None else norm(step)


def _taken_close_to(current, w, refresh):
    """True when ``current`` is a diagonal taken within ``refresh`` of ``w``.

    The move is measured in the diagonal's norm ``||v||_h^2 = sum h v^2``, so
    that the decision does not change when the objective is scaled or a
    coordinate is rescaled against its strength (``w_j -> w_j / s_j`` with
    ``h_j -> s_j^2 h_j``), as the Euclidean norm would.
    """
    ref = getattr(current, "point", None)
    if ref is None or ref.shape != w.shape:
        return False
    h = current.hessian_diagonal
    return np.dot(h, (w - ref) ** 2) <= refresh ** 2 * np.dot(h, w * w)


def auto_initial(problem, log_alpha):
    """The inverse Hessian diagonal for several strengths, ``gamma I`` for one.

    With per-feature or grouped strengths every coordinate of ``q`` enters
    the hypergradient and the diagonal cut the inner iterations on every
    data set measured; with one strength the outer-loop results were mixed
    (see the documentation's results page). With one strength and
    intercepts, ``gamma I`` is taken in the problem's
    :attr:`~hoag_shine.InnerProblem.intercept_metric`, so that scaling the
    columns of ``X`` against the strength does not change the solver's
    steps, nor where it stops.

    Parameters
    ----------
    problem : InnerProblem
        Inner problem (``n_hyper``, ``hessian_diagonal`` and
        ``intercept_metric`` are used).
    log_alpha : array-like of shape (n_hyper,)
        Log-scale strengths.

    Returns
    -------
    callable or None
        :func:`hessian_diagonal_initial` when ``problem.n_hyper > 1``; with
        one strength, a callable returning ``ScaledIdentity(metric)`` when
        the problem has intercepts, else None (the memory's ``gamma I``).
    """
    if problem.n_hyper > 1:
        return hessian_diagonal_initial(problem, log_alpha)
    metric = solver_metric("auto", problem, log_alpha)
    if metric is None:
        return None
    scaled = ScaledIdentity(metric)
    return lambda w, current: scaled


def solver_metric(initial_matrix, problem, log_alpha):
    """The metric in which the inner solver measures gradients, for an initial matrix.

    With several strengths and the Hessian diagonal (``"hessian-diagonal"``
    or ``"auto"``), ``1 / h`` for ``h`` the diagonal at ``w = 0`` and
    ``log_alpha``; with ``"auto"`` and one strength, the problem's
    intercept metric; None (the Euclidean norm) otherwise, factories
    included. Whatever sets a tolerance relative to a gradient norm uses it,
    so that the tolerance and the solver's stopping test are in the same
    norm.

    Parameters
    ----------
    initial_matrix : str or callable
        As :func:`get_initial_matrix` takes it.
    problem : InnerProblem
        Inner problem (``n_hyper``, ``hessian_diagonal`` and
        ``intercept_metric`` are used).
    log_alpha : array-like of shape (n_hyper,)
        Log-scale strengths of the first solve.

    Returns
    -------
    ndarray of shape (n_coef,) or None
        The metric ``m``.
    """
    if not isinstance(initial_matrix, str):
        return None
    if initial_matrix in ("hessian-diagonal", "auto") and problem.n_hyper > 1:
        # X's squares are left to the processes that run the solves
        h0 = problem.hessian_diagonal(np.zeros(problem.n_coef), log_alpha,
                                      keep_squares=False)
        return InverseDiagonal(h0).metric
    if initial_matrix == "auto":
        return problem.intercept_metric
    return None


#: names accepted wherever an initial matrix is chosen: each maps
#: ``(problem, log_alpha)`` to the ``initial_matrix`` callable of
#: :func:`minimize_lbfgs` (None: the memory's ``gamma I``)
INITIAL_MATRICES = {
    "auto": auto_initial,
    "gamma": lambda problem, log_alpha: None,
    "hessian-diagonal": hessian_diagonal_initial,
}


def get_initial_matrix(initial_matrix):
    """Resolve an initial-matrix name or factory.

    Parameters
    ----------
    initial_matrix : str or callable
        A key of :data:`INITIAL_MATRICES` ("auto", "gamma",
        "hessian-diagonal"), or a
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
