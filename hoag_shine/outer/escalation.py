"""How accurate the backward pass is: a ladder of methods, climbed after failed steps.

An approximate hypergradient (SHINE, OPA, Jacobian-free) can point the wrong
way, most of all near the optimum, where the scalar hypergradient
``-alpha w^T q`` is nearly orthogonal to the error of ``q``. Only
Hessian-vector products cure that. The outer loop therefore starts with the
method the user chose and, after a failed step or a loss too uncertain to
decide on, re-evaluates at the same point with the next rung of
:class:`BackwardEscalation`: by default CG started from the method's own
estimate and run to the loop's tolerance (HOAG's backward pass; budgets of
a few iterations can be put in between). The rung reached is kept for the
rest of the run: once the cheap estimate has misled the loop, the loop no
longer relies on it. On wide sparse data (20 newsgroups) CG with 10 and 40
iterations from SHINE's estimate left its residual, and the loop's doubts,
nearly where they were: each such rung cost evaluations without deciding
anything, which is why the default ladder has no intermediate rung.
"""
import numpy as np

from ..implicit.methods import ConjugateGradient, Exact, HypergradientMethod, Refined

#: CG budgets of the rungs above the user's method; None: CG to tolerance
DEFAULT_BUDGETS = (None,)


class BackwardEscalation:
    """Ladder of hypergradient methods, from the user's one to HOAG's CG.

    Parameters
    ----------
    method : HypergradientMethod
        Rung 0, the method the user chose.
    budgets : tuple of (int or None), default=(None,)
        CG budgets of the rungs above it; each rung starts CG from
        ``method``'s estimate (:class:`~hoag_shine.implicit.methods.Refined`).
        Methods that already solve ``H q = rhs`` to the loop's tolerance
        (:class:`~hoag_shine.implicit.methods.ConjugateGradient`,
        :class:`~hoag_shine.implicit.methods.Exact`) have no rung above them.

    Examples
    --------
    >>> from hoag_shine.outer.escalation import BackwardEscalation
    >>> from hoag_shine.implicit.methods import Shine
    >>> ladder = BackwardEscalation(Shine())
    >>> [ladder.method(k).name for k in range(ladder.n_levels)]
    ['shine', 'shine+cg']
    >>> [m.name for m in BackwardEscalation(Shine(), budgets=(10, None))._rungs]
    ['shine', 'shine+cg10', 'shine+cg']
    """

    def __init__(self, method, budgets=DEFAULT_BUDGETS):
        if not isinstance(method, HypergradientMethod):
            raise TypeError(f"method must be a HypergradientMethod, got {method!r}")
        solves_to_tol = isinstance(method, (ConjugateGradient, Exact)) and (
            not isinstance(method, ConjugateGradient) or method.max_iter is None)
        rungs = [] if solves_to_tol else [Refined(method, b) for b in budgets]
        self._rungs = (method, *rungs)

    @property
    def n_levels(self):
        """Number of rungs (1 when the method cannot be made more accurate)."""
        return len(self._rungs)

    def contradicts(self, step, grad, candidate_grad):
        """Whether a failed step shows the hypergradients to be wrong.

        A step along which the loss went up is explained by a step too long
        for a correct slope only if the slope at its target points back
        (``candidate_grad . step >= 0``). When both slopes say the loss
        decreases along the step, the values and the slopes disagree: the
        hypergradient, not the step length, is at fault.

        Parameters
        ----------
        step : ndarray of shape (n_hyper,)
            The failed step (target minus origin).
        grad : ndarray of shape (n_hyper,)
            Hypergradient at the origin.
        candidate_grad : ndarray of shape (n_hyper,)
            Hypergradient at the target.

        Returns
        -------
        bool
            True when both directional derivatives along ``step`` are
            negative.
        """
        return bool(np.dot(grad, step) < 0 and np.dot(candidate_grad, step) < 0)

    def method(self, level):
        """The method of rung ``level`` (clipped to the top rung).

        Parameters
        ----------
        level : int
            Rung index, 0 for the user's method.

        Returns
        -------
        HypergradientMethod
            The method to evaluate the hypergradient with.
        """
        return self._rungs[min(max(int(level), 0), len(self._rungs) - 1)]
