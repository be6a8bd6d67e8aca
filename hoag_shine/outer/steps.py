"""Outer steps: a quasi-Newton model of the outer loss in log(alpha), inside a trust region.

HOAG's gradient steps ``-p / L`` crawl near the optimum and, far from it,
have no bound on their length. :class:`SecantTrustRegion` instead takes the
step of an L-BFGS model of the outer loss built from the hypergradients
already seen (for one strength, the secant step ``-p (l1 - l0) / (p1 - p0)``),
and never longer than the trust radius. The radius grows after steps that
decreased the loss as the model predicted and shrinks after the others.
Coordinates held at a bound by the hypergradient are frozen, so the step is
a projected one.
"""
from dataclasses import dataclass

import numpy as np

from ..solver.memory import LBFGSMemory


@dataclass(frozen=True)
class Step:
    """A proposed outer step.

    Attributes
    ----------
    target : ndarray of shape (n_hyper,)
        Point to evaluate (inside the bounds).
    predicted : float
        Decrease of the outer loss predicted by the model (> 0 for a
        descent step; 0 when no coordinate can move).
    model_length : float
        Length of the model's projected step before the trust radius cut
        it: the distance to the model's minimiser, the outer loop's
        convergence measure.
    model_decrease : float
        Decrease the model predicts for that uncut step.
    """

    target: np.ndarray
    predicted: float
    model_length: float
    model_decrease: float

    def length(self, origin):
        """Euclidean length of the step from ``origin``.

        Parameters
        ----------
        origin : ndarray of shape (n_hyper,)
            The point the step starts from.

        Returns
        -------
        float
            ``||target - origin||``.
        """
        return float(np.linalg.norm(self.target - origin))


class SecantTrustRegion:
    """L-BFGS steps in log(alpha), limited to a trust radius.

    Parameters
    ----------
    initial_radius : float, default=1.0
        Length of the first step (HOAG's first step has length 1 too).
    max_radius : float, default=4.0
        Longest step, whatever the model says.
    memory_size : int, default=5
        Secant pairs kept by the model.
    grow, shrink : float, default=2.0, 0.5
        Factors applied to the radius after a good and after a bad step.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine.outer.steps import SecantTrustRegion
    >>> rule = SecantTrustRegion()
    >>> model = rule.new_model()
    >>> step = rule.propose(np.zeros(1), np.array([3.0]), 1.0, (-12, 12), model)
    >>> step.target  # no curvature yet: a gradient step cut to the radius
    array([-1.])
    """

    def __init__(self, initial_radius=1.0, max_radius=4.0, memory_size=5,
                 grow=2.0, shrink=0.5):
        if not 0 < initial_radius <= max_radius or not np.isfinite(max_radius):
            raise ValueError("need 0 < initial_radius <= max_radius < inf, got "
                             f"{initial_radius!r} and {max_radius!r}")
        if not (grow > 1 and 0 < shrink < 1):
            raise ValueError(f"need grow > 1 and 0 < shrink < 1, got {grow!r}, {shrink!r}")
        self.initial_radius, self.max_radius = float(initial_radius), float(max_radius)
        self.memory_size, self.grow, self.shrink = int(memory_size), grow, shrink

    def new_model(self):
        """An empty secant model (one per run: the rule itself keeps no state).

        Returns
        -------
        LBFGSMemory
            Memory of ``memory_size`` secant pairs in log(alpha).
        """
        return LBFGSMemory(self.memory_size)

    def propose(self, origin, grad, radius, bounds, model):
        """The model's projected step from ``origin``, at most ``radius`` long.

        Parameters
        ----------
        origin : ndarray of shape (n_hyper,)
            Current strengths.
        grad : ndarray of shape (n_hyper,)
            Hypergradient there.
        radius : float
            Trust radius.
        bounds : (float, float)
            Box on the strengths.
        model : LBFGSMemory
            Secant pairs of this run.

        Returns
        -------
        Step
            Target point and predicted decrease, and the length and
            decrease of the model's uncut step.
        """
        low, high = bounds
        # coordinates at a bound that the hypergradient pushes out stay there
        free = ~(((origin <= low) & (grad > 0)) | ((origin >= high) & (grad < 0)))
        g = np.where(free, grad, 0.0)
        if not np.any(g):
            return Step(np.array(origin, dtype=float), 0.0, 0.0, 0.0)
        # with an empty model, B = I: the unscaled gradient step measures
        # convergence
        direction = -np.where(free, model.apply(g), 0.0)
        if np.dot(direction, g) >= 0 or not np.all(np.isfinite(direction)):
            direction = -g  # a model that is not a descent direction is not used
        full = np.clip(origin + direction, low, high) - origin
        model_decrease = -0.5 * float(np.dot(grad, full))
        norm = np.linalg.norm(direction)
        # without curvature, a step of the whole radius (HOAG's first step
        # has length 1 whatever the scale of the hypergradient)
        ratio = min(1.0, radius / norm) if len(model) else radius / norm
        s = np.clip(origin + ratio * direction, low, high) - origin
        # the quadratic model along -B g decreases by (1 - tau / 2) of the
        # linear prediction at a fraction tau of the model's step; without
        # curvature the linear prediction is what the step is judged against
        linear = -float(np.dot(grad, s))
        predicted = linear * (1.0 - 0.5 * ratio) if len(model) else linear
        # origin + (clipped - origin) can round one ulp past a bound
        return Step(np.clip(origin + s, low, high), max(predicted, 0.0),
                    float(np.linalg.norm(full)), max(model_decrease, 0.0))

    def update_model(self, model, s, y):
        """Add the secant pair of two evaluations (skipped without positive curvature).

        Parameters
        ----------
        model : LBFGSMemory
            Secant pairs of this run (modified).
        s : ndarray of shape (n_hyper,)
            Difference of the strengths.
        y : ndarray of shape (n_hyper,)
            Difference of the hypergradients.

        Returns
        -------
        bool
            Whether the pair was stored.
        """
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(y))):
            return False
        return model.push(np.array(s, dtype=float), np.array(y, dtype=float))

    def next_radius(self, radius, step_length, ratio):
        """Radius after a step that achieved ``ratio`` of its predicted decrease.

        Parameters
        ----------
        radius : float
            Radius the step was proposed with.
        step_length : float
            Length of the step taken.
        ratio : float
            Achieved over predicted decrease; ``-inf`` for a failed step.

        Returns
        -------
        float
            Doubled (up to ``max_radius``) after a step at the radius that
            achieved at least 3/4 of the prediction; half the step length
            after a step that achieved less than 1/4 or failed; unchanged
            otherwise.
        """
        if ratio < 0.25:
            return self.shrink * step_length
        if ratio > 0.75 and step_length >= 0.99 * radius:
            return min(self.grow * radius, self.max_radius)
        return radius
