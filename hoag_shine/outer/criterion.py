"""The outer objective: held-out loss summed over one or several splits."""
from dataclasses import dataclass, replace

import numpy as np

from ..implicit.hypergradient import default_memory_size, solve_and_differentiate
from ..parallel.runner import make_runner, slim
from ..solver.initial import ScaledIdentity, solver_metric


@dataclass(frozen=True)
class FoldState:
    """Warm-start state of one split, carried from one outer step to the next.

    Attributes
    ----------
    w : ndarray
        Last inner solution.
    memory : LBFGSMemory or None
        L-BFGS memory of that solve (None when memory is not carried).
    q : ndarray or None
        Last backward solution (warm start of CG).
    log_alpha : ndarray
        Strengths at which ``w`` was computed.
    grad_norm0 : float
        Inner gradient norm at the initial point and strengths; inner
        tolerances are relative to it.
    """

    w: np.ndarray
    memory: object
    q: object
    log_alpha: np.ndarray
    grad_norm0: float


class HeldOutCriterion:
    """Sum over splits of the loss of the inner solution on held-out data.

    Its hypergradient is the sum of the splits' hypergradients. The splits
    are evaluated through joblib following scikit-learn's ``n_jobs``
    convention; the workers, the split data shipped to them and the
    warm-start states they keep are set up at the first evaluation and
    released by :meth:`close` (or on leaving a ``with`` block).

    Parameters
    ----------
    folds : list of (InnerProblem, LinearLoss)
        For each split, the inner problem on its training part and the
        outer loss (the datafit of the same model, e.g.
        :class:`~hoag_shine.model.datafit.LogisticLoss` or
        :class:`~hoag_shine.model.datafit.MultinomialLoss`) on its held-out part.
    method : HypergradientMethod
        How the backward pass obtains ``H^{-1} grad g``.
    memory_size : int, optional
        L-BFGS memory size (default: the method's).
    inner_max_iter : int, default=1000
        Inner iteration cap.
    warm_start_memory : bool, default=True
        Start each inner solve from the previous step's L-BFGS memory, its
        pairs shifted to the new strengths (see :meth:`LBFGSMemory.shifted`).
    n_jobs : int, optional
        Number of joblib workers over the splits; None defers to the active
        :func:`joblib.parallel_config` (one worker outside any). When the
        effective number of workers is more than one, every evaluation runs
        on that configuration's backend, whatever the problem's size: on the
        threading backend in its threads, on process backends (loky) in
        workers that keep the states in files of a temporary folder, and on
        Dask's distributed scheduler where the splits were scattered once.
        With one worker, the splits run in turn in this process.
    initial_matrix : str or callable, default="auto"
        Initial matrix of the inner L-BFGS two-loop recursion, see
        :func:`get_initial_matrix`.
    initial_coef : list of ndarray, optional
        Where the first inner solve of each split starts (zeros when None),
        e.g. the solutions of an earlier run at nearby strengths.

    Notes
    -----
    The states returned by :meth:`initial_state` are :class:`FoldState`
    objects; those returned by :meth:`evaluate` are too when the splits run
    in this process or in its threads, and small handles otherwise (a file
    of the temporary folder, a Dask future) whose state stays next to the
    workers. Each handle keeps its state alive while it is referenced, so an
    evaluation can be repeated from any state still held. :meth:`close`
    releases them all: states obtained before it must not be evaluated
    after it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from hoag_shine import HeldOutCriterion, InnerProblem
    >>> from hoag_shine.model.datafit import LogisticLoss
    >>> from hoag_shine.implicit.methods import get_method
    >>> X, y = make_classification(90, 4, random_state=0)
    >>> y = 2.0 * y - 1
    >>> folds = [(InnerProblem.from_data(X[:60], y[:60]), LogisticLoss(X[60:], y[60:]))]
    >>> with HeldOutCriterion(folds, get_method("cg")) as criterion:
    ...     states = criterion.initial_state(np.zeros(1))
    ...     loss, grad, results, states = criterion.evaluate(np.zeros(1), 1e-6, states)
    >>> grad.shape
    (1,)
    """

    def __init__(self, folds, method, *, memory_size=None, inner_max_iter=1000,
                 warm_start_memory=True, n_jobs=None, initial_matrix="auto",
                 initial_coef=None):
        self.folds = folds
        self.method = method
        self.memory_size = memory_size
        self.inner_max_iter = inner_max_iter
        self.initial_matrix = initial_matrix
        self.warm_start_memory = warm_start_memory
        self.n_jobs = n_jobs
        if initial_coef is not None:
            message = "initial_coef must hold one finite vector of n_coef entries per split"
            try:
                initial_coef = [np.asarray(w, dtype=float) for w in initial_coef]
            except (TypeError, ValueError) as exc:
                raise ValueError(message) from exc
            if [w.shape for w in initial_coef] != [(p.n_coef,) for p, _ in folds] \
                    or not all(np.all(np.isfinite(w)) for w in initial_coef):
                raise ValueError(message)
        self.initial_coef = initial_coef
        self._runner = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Release the workers, the shipped split data and every state handle.

        Calling it again, or before any evaluation, does nothing; the next
        evaluation sets the workers up anew (from :meth:`initial_state`).
        """
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()

    def lighten(self, states, results):
        """States and results of an evaluation without their L-BFGS memories.

        The outer loop calls it on points it keeps only as candidate answers:
        an evaluation from the lightened states starts from their ``w`` and
        ``q`` with an empty memory. State handles (splits in other
        processes) are replaced by handles of the lightened states, so that
        every backend continues alike.

        Parameters
        ----------
        states : list of FoldState or state handles
            States of one evaluation.
        results : list of HypergradientResult
            Its results.

        Returns
        -------
        states, results : list, list
            New lists; the results lack ``inner.memory`` and
            ``inner.inverse_hessian``.
        """
        if self._runner is not None:
            states = self._runner.lighten(states)
        else:
            states = [replace(s, memory=None) if isinstance(s, FoldState) else s
                      for s in states]
        return states, [slim(r) for r in results]

    def _state_nbytes(self):
        """Largest size of one split's state: its L-BFGS pairs, ``w`` and ``q``."""
        n_coef = max(problem.n_coef for problem, _ in self.folds)
        m = (default_memory_size(self.method, n_coef) if self.memory_size is None
             else self.memory_size)
        return 8 * n_coef * (2 * m + 2)

    def initial_state(self, log_alpha):
        """First state at strengths ``log_alpha``: ``w = 0`` (or ``initial_coef``), empty memory.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_hyper,)
            Strengths of the first evaluation.

        Returns
        -------
        list of FoldState
            One state per split, with ``w = 0`` (or the split's
            ``initial_coef``), no memory, no ``q``, and ``grad_norm0`` the
            norm of the inner gradient at ``w = 0`` and ``log_alpha``, in
            the metric the inner solver stops on (the scale of the inner
            tolerances, whatever the start).
        """
        states = []
        for i, (problem, _) in enumerate(self.folds):
            w = np.zeros(problem.n_coef)
            g0 = problem.value_and_gradient(w, log_alpha)[1]
            # in the norm the inner solver stops on
            metric = solver_metric(self.initial_matrix, problem, log_alpha)
            norm0 = ScaledIdentity(metric).gradient_norm(g0)
            if self.initial_coef is not None:
                w = np.array(self.initial_coef[i], dtype=float)
            states.append(FoldState(w, None, None, log_alpha, norm0))
        return states

    def evaluate(self, log_alpha, eps, states, outer_step=None, method=None):
        """Outer loss and hypergradient at ``log_alpha``.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_hyper,)
            Strengths.
        eps : float
            Relative tolerance of the inner solves (relative to each split's
            initial gradient norm) and of iterative backward solvers.
        states : list of FoldState or state handles
            Warm-start states, one per split, from :meth:`initial_state` or
            an earlier evaluation (not modified, and still valid after).
        outer_step : tuple of int, optional
            ``(iteration, max_iter)`` of the outer loop, passed to the
            method's forward hook.
        method : HypergradientMethod, optional
            Method of this evaluation only, in place of ``self.method`` (the
            outer loop asks for a more accurate hypergradient at a point
            where the approximate one led to a failed step).

        Returns
        -------
        loss : float
            Summed held-out loss.
        grad : ndarray of shape (n_hyper,)
            Summed hypergradient.
        results : list of HypergradientResult
            One per split. When the splits run on workers (an effective
            number of joblib workers above one), their ``inner`` lacks the
            L-BFGS ``memory`` and ``inverse_hessian``, which stay with the
            states; every other field is complete.
        new_states : list of FoldState or state handles
            States to warm-start the next evaluation from.
        """
        if self._runner is None:
            self._runner = make_runner(self.folds, self.n_jobs, _evaluate_fold,
                                       self._state_nbytes())
        options = dict(method=self.method if method is None else method,
                       memory_size=self.memory_size, inner_max_iter=self.inner_max_iter,
                       initial_matrix=self.initial_matrix,
                       warm_start_memory=self.warm_start_memory, outer_step=outer_step)
        pairs = self._runner.evaluate(log_alpha, eps, states, options)
        results = [r for r, _ in pairs]
        loss = sum(r.outer_loss for r in results)
        grad = np.sum([r.grad for r in results], axis=0)
        return loss, grad, results, [s for _, s in pairs]


def _warm_memory(problem, state, log_alpha, warm_start_memory):
    """The previous memory with its pairs shifted to the new strengths, or None."""
    if not warm_start_memory or state.memory is None:
        return None
    return state.memory.shifted(problem.strength_shift(log_alpha, state.log_alpha))


def _evaluate_fold(fold, state, log_alpha, eps, options):
    """Forward and backward pass on one split, warm-started from ``state``."""
    problem, outer = fold
    warm_start_memory = options["warm_start_memory"]
    result = solve_and_differentiate(
        problem, outer, log_alpha, options["method"], w0=state.w,
        memory=_warm_memory(problem, state, log_alpha, warm_start_memory),
        inner_tol=eps * state.grad_norm0, inner_max_iter=options["inner_max_iter"],
        memory_size=options["memory_size"], q0=state.q, backward_tol=eps,
        outer_step=options["outer_step"], warn=False,
        initial_matrix=options["initial_matrix"])
    memory = result.inner.memory if warm_start_memory else None
    return result, FoldState(result.w, memory, result.q, log_alpha, state.grad_norm0)
