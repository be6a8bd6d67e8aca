"""OPA: outer-problem-aware extra secant updates (SHINE, section 3.2)."""
import numpy as np

from .initial import step_norm


class OPAUpdates:
    """Extra-secant hook for :func:`minimize_lbfgs` that makes OPA updates.

    Every ``freq`` iterations of the inner solver (counted from the start of
    the call, the first iteration of a cold start excepted since the memory
    is then empty), the direction ``e = B_k grad g(x_k)`` is rescaled to the
    length of the last step (both measured by the initial matrix's
    ``step_norm`` when it has one, as with a metric) and returned; the solver then pushes the pair
    ``(e, grad h(x_k + e) - grad h(x_k))``. The inverse estimate ``B`` thus
    satisfies the secant equation along the direction that the
    hypergradient needs, which is SHINE's Theorem 2.

    Parameters
    ----------
    outer_gradient : callable
        ``w -> grad g(w)``, the gradient of the outer loss.
    freq : int, default=5
        Make an update every ``freq`` inner iterations.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import OPAUpdates, minimize_lbfgs
    >>> A = np.diag([1.0, 4.0, 9.0])
    >>> hook = OPAUpdates(lambda w: np.ones(3), freq=1)
    >>> res = minimize_lbfgs(lambda x: (0.5 * x @ A @ x, A @ x), np.ones(3),
    ...                      tol=1e-8, extra_secant=hook)
    >>> res.n_extra > 0
    True
    """

    def __init__(self, outer_gradient, freq=5):
        if int(freq) < 1:
            raise ValueError(f"freq must be a positive integer, got {freq!r}")
        self.outer_gradient = outer_gradient
        self.freq = int(freq)

    def __call__(self, iteration, x, grad, memory):
        """Return the OPA direction at this iteration, or None."""
        if iteration % self.freq or not len(memory):
            return None
        e = memory.apply(self.outer_gradient(x))
        # lengths in the metric of the solver's initial matrix, if it has one
        norm_e = step_norm(memory.initial, e)
        norm_s = step_norm(memory.initial, memory.last_step)
        if not (np.isfinite(norm_e) and norm_e > 0):
            return None
        return e * (norm_s / norm_e)
