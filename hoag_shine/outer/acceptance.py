"""When is an outer step a real decrease? A test on losses that carry their uncertainty.

The outer loss of an inexact inner solution ``w`` differs from the loss of
``w*``. One Newton step estimates the difference: ``w - w* ~ H^{-1} grad_w
h(w)``, so ``g(w*) ~ g(w) - q^T grad_w h(w)`` with ``q ~ H^{-1} grad g``,
the vector the backward pass computes anyway
(:attr:`HypergradientResult.loss_correction`). :class:`LossEstimate` holds
the corrected loss and, as its uncertainty, the size of the correction plus
what an inexact ``q`` may miss of it
(:attr:`HypergradientResult.loss_uncertainty`).
:class:`TrustedDecrease` accepts a step only when the corrected loss
decreases by more than both uncertainties and rejects it only when it
increases by more; in between the step is "uncertain" and the loop solves
the less accurate of the two points again, more tightly, before judging
again.
"""
from dataclasses import dataclass

import numpy as np

ACCEPT, REJECT, UNCERTAIN = "accept", "reject", "uncertain"


@dataclass(frozen=True)
class LossEstimate:
    """Outer loss of an inexact inner solution, corrected, with its uncertainty.

    Attributes
    ----------
    loss : float
        Outer loss at the inner solutions, summed over splits.
    value : float
        ``loss`` minus the first-order corrections: the estimate of the
        loss at the exact inner solutions.
    uncertainty : float
        Sum over splits of the uncertainties of the corrected losses.
    """

    loss: float
    value: float
    uncertainty: float

    @classmethod
    def from_results(cls, results):
        """Sum the per-split losses and corrections.

        Parameters
        ----------
        results : list of HypergradientResult
            One per split.

        Returns
        -------
        LossEstimate
            Summed loss, corrected loss and uncertainty (NaN-free only when
            every split's values are finite).
        """
        loss = float(sum(r.outer_loss for r in results))
        correction = float(sum(r.loss_correction for r in results))
        return cls(loss, loss - correction, float(sum(r.loss_uncertainty for r in results)))

    @property
    def finite(self):
        """True when the loss and its uncertainty are finite."""
        return bool(np.isfinite(self.value) and np.isfinite(self.uncertainty))

    @property
    def upper(self):
        """``value + uncertainty``: what the loss is trusted not to exceed."""
        return self.value + self.uncertainty


class TrustedDecrease:
    """Accept a step only on a decrease larger than the losses' uncertainty.

    Parameters
    ----------
    rtol : float, default=1e-4
        Resolution of the loss, relative to its value: uncertainties below
        it are not resolved, the losses are compared as they are. The outer loop also stops
        when the decrease its model predicts falls below it.

    Examples
    --------
    >>> from hoag_shine.outer.acceptance import LossEstimate, TrustedDecrease
    >>> test = TrustedDecrease()
    >>> test.judge(LossEstimate(10.0, 10.0, 0.1), LossEstimate(9.0, 9.0, 0.1))
    'accept'
    >>> test.judge(LossEstimate(10.0, 10.0, 0.5), LossEstimate(9.8, 9.8, 0.5))
    'uncertain'
    >>> test.judge(LossEstimate(10.0, 10.0, 0.1), LossEstimate(10.5, 10.5, 0.1))
    'reject'
    >>> test.judge(LossEstimate(10.0, 10.0, 0.5), LossEstimate(10.0, 10.0, 0.5))
    'uncertain'
    """

    def __init__(self, rtol=1e-4):
        self.rtol = rtol

    def judge(self, current, candidate):
        """Compare the candidate's loss estimate with the current one's.

        Parameters
        ----------
        current, candidate : LossEstimate
            Loss estimates at the current point and at the step's target.

        Returns
        -------
        {"accept", "reject", "uncertain"}
            When the sum of the uncertainties is below the resolution:
            "accept" if the candidate is lower, "reject" otherwise. Else
            "accept" when the candidate is lower by more than that sum,
            "reject" when it is higher by more than that sum or not finite,
            and "uncertain" in between (the outer loop then solves the less
            accurate point again, no more tightly than the resolution asks).
        """
        if not candidate.finite:
            return REJECT
        decrease = current.value - candidate.value
        uncertainty = current.uncertainty + candidate.uncertainty
        resolution = self.rtol * abs(current.value)
        if uncertainty <= resolution:
            # both losses are known to the resolution: compare them as they are
            return ACCEPT if decrease > 0 else REJECT
        if decrease > uncertainty:
            return ACCEPT
        if decrease < -uncertainty:
            return REJECT
        # a change within the uncertainties, even one below the resolution:
        # the losses must be known better before the step is judged
        return UNCERTAIN
