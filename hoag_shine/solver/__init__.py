"""The inner solver: strong-Wolfe line search, L-BFGS, its memory of secant pairs
(with the inverse-Hessian operator that SHINE reuses), the initial matrices of the
two-loop recursion, and OPA's extra secant updates."""
