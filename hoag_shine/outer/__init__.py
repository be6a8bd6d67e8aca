"""The outer loop: the held-out criterion summed over splits, the trust-region
steps, the acceptance rule, the backward-pass escalation, and HOAG itself."""
