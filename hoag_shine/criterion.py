"""The outer objective: held-out logistic loss summed over one or several splits."""
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed

from .hypergradient import solve_and_differentiate


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
    """Sum over splits of the logistic loss of the inner solution on held-out data.

    Its hypergradient is the sum of the splits' hypergradients; splits are
    evaluated in parallel through joblib when ``n_jobs`` asks for it.

    Parameters
    ----------
    folds : list of (InnerProblem, LogisticLoss)
        For each split, the inner problem on its training part and the
        outer loss on its held-out part.
    method : HypergradientMethod
        How the backward pass obtains ``H^{-1} grad g``.
    memory_size : int, optional
        L-BFGS memory size (default: the method's).
    max_inner_iter : int, default=1000
        Inner iteration cap.
    warm_start_memory : bool, default=True
        Start each inner solve from the previous step's L-BFGS memory, its
        pairs shifted to the new strengths (see :meth:`LBFGSMemory.shifted`).
    n_jobs : int, optional
        Number of joblib workers over the splits.
    initial_matrix : str or callable, default="auto"
        Initial matrix of the inner L-BFGS two-loop recursion, see
        :func:`get_initial_matrix`.
    """

    def __init__(self, folds, method, *, memory_size=None, max_inner_iter=1000,
                 warm_start_memory=True, n_jobs=None, initial_matrix="auto"):
        self.folds = folds
        self.method = method
        self.memory_size = memory_size
        self.max_inner_iter = max_inner_iter
        self.warm_start_memory = warm_start_memory
        self.n_jobs = n_jobs
        self.initial_matrix = initial_matrix

    def initial_state(self, log_alpha):
        """Cold-start state at strengths ``log_alpha``: ``w = 0``, empty memory.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_hyper,)
            Strengths of the first evaluation.

        Returns
        -------
        list of FoldState
            One state per split, with ``w = 0``, no memory, no ``q``, and
            ``grad_norm0`` the norm of the inner gradient at ``w = 0`` and
            ``log_alpha``.
        """
        states = []
        for problem, _ in self.folds:
            w = np.zeros(problem.n_coef)
            g0 = problem.value_and_gradient(w, log_alpha)[1]
            states.append(FoldState(w, None, None, log_alpha, float(np.linalg.norm(g0))))
        return states

    def evaluate(self, log_alpha, eps, states, outer_step=None):
        """Outer loss and hypergradient at ``log_alpha``.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_hyper,)
            Strengths.
        eps : float
            Relative tolerance of the inner solves (relative to each split's
            initial gradient norm) and of iterative backward solvers.
        states : list of FoldState
            Warm-start states, one per split (not modified).
        outer_step : tuple of int, optional
            ``(iteration, max_iter)`` of the outer loop, passed to the
            method's forward hook.

        Returns
        -------
        loss : float
            Summed held-out loss.
        grad : ndarray of shape (n_hyper,)
            Summed hypergradient.
        results : list of HypergradientResult
            One per split.
        new_states : list of FoldState
            States to warm-start the next evaluation from.
        """
        options = dict(method=self.method, memory_size=self.memory_size,
                       max_inner_iter=self.max_inner_iter,
                       warm_start_memory=self.warm_start_memory, outer_step=outer_step,
                       initial_matrix=self.initial_matrix)
        if len(self.folds) == 1 or self.n_jobs in (None, 1):
            pairs = [_evaluate_fold(f, s, log_alpha, eps, **options)
                     for f, s in zip(self.folds, states)]
        else:
            # a module-level task ships one fold to each worker, not all of them
            pairs = Parallel(n_jobs=self.n_jobs)(
                delayed(_evaluate_fold)(f, s, log_alpha, eps, **options)
                for f, s in zip(self.folds, states))
        results = [r for r, _ in pairs]
        loss = sum(r.outer_loss for r in results)
        grad = np.sum([r.grad for r in results], axis=0)
        return loss, grad, results, [s for _, s in pairs]


def _warm_memory(problem, state, log_alpha, warm_start_memory):
    """The previous memory with its pairs shifted to the new strengths, or None."""
    if not warm_start_memory or state.memory is None:
        return None
    penalty = problem.penalty
    delta = penalty.strengths(log_alpha) - penalty.strengths(state.log_alpha)
    return state.memory.shifted(delta)


def _evaluate_fold(fold, state, log_alpha, eps, *, method, memory_size, max_inner_iter,
                   warm_start_memory, outer_step, initial_matrix="auto"):
    """Forward and backward pass on one split, warm-started from ``state``."""
    problem, outer = fold
    result = solve_and_differentiate(
        problem, outer, log_alpha, method, w0=state.w,
        memory=_warm_memory(problem, state, log_alpha, warm_start_memory),
        inner_tol=eps * state.grad_norm0, max_iter=max_inner_iter,
        memory_size=memory_size, q0=state.q, backward_tol=eps, outer_step=outer_step,
        warn=False, initial_matrix=initial_matrix)
    memory = result.inner.memory if warm_start_memory else None
    return result, FoldState(result.w, memory, result.q, log_alpha, state.grad_norm0)
