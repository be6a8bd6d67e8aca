"""Implicit differentiation: the backward-pass methods (SHINE and its variants,
conjugate gradient, Jacobian-free, exact) and the hypergradient of a held-out
loss that they give."""
