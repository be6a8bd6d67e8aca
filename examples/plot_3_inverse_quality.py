"""
Quality of the inverse-Hessian estimate: SHINE and OPA
======================================================

SHINE replaces :math:`H^{-1} v`, with :math:`H` the Hessian of the training
problem at its solution, by :math:`B v`, where :math:`B` is the inverse-Hessian
estimate that L-BFGS built while solving the problem. This example measures,
as in figure 2 of the SHINE paper, how close :math:`B v` is to
:math:`H^{-1} v` for three kinds of directions :math:`v`, with and without
the OPA (outer-problem-aware) extra secant updates:

* the **OPA direction**: the gradient of the outer (validation) loss at the
  solution, the vector that the hypergradient multiplies by :math:`H^{-1}`;
* a **Krylov direction**: a random combination of the gradient differences
  :math:`y_i` stored in the L-BFGS memory. These are the directions the solver
  explored (on a quadratic, :math:`y_i = H s_i` lies in the Krylov subspace
  of the solver's gradients);
* a **random direction**.

Two numbers compare :math:`B v` with :math:`H^{-1} v`: the ratio of their
norms, and the cosine of their angle. Both equal 1 for a perfect estimate.
The problems are small and generated, so :math:`H^{-1}` is computed exactly
by a dense solve.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

from hoag_shine import InnerProblem, LogisticLoss, OPAUpdates, minimize_lbfgs

# one BLAS thread: on these small matrices more threads only add overhead,
# and on a busy machine they can make the script several times slower
threadpool_limits(limits=1, user_api="blas")

# %%
# Inner solves with and without OPA
# ---------------------------------
#
# For each of 20 generated problems (300 training and 100 validation samples,
# 100 features), the training problem at :math:`\alpha = 1` is solved twice by
# :func:`~hoag_shine.minimize_lbfgs` with a memory of 30 pairs: once plainly,
# once with an :class:`~hoag_shine.OPAUpdates` hook making an OPA update every
# 5 iterations. The estimate :math:`B` is the ``inverse_hessian`` of the result;
# the exact Hessian at the solution comes from
# :meth:`InnerProblem.hessian_operator <hoag_shine.InnerProblem.hessian_operator>`.


def compare(B, H_inv, v):
    """Norm ratio and cosine between B v and H^{-1} v."""
    v = v / np.linalg.norm(v)
    approx, exact = B @ v, H_inv @ v
    ratio = np.linalg.norm(approx) / np.linalg.norm(exact)
    cosine = approx @ exact / (np.linalg.norm(approx) * np.linalg.norm(exact))
    return ratio, cosine


directions = ["OPA", "Krylov", "random"]
variants = ["SHINE", "SHINE-OPA"]
ratios = {(d, m): [] for d in directions for m in variants}
cosines = {(d, m): [] for d in directions for m in variants}
log_alpha = np.array([0.0])

for seed in range(20):
    X, y = make_classification(n_samples=400, n_features=100, n_informative=20,
                               random_state=seed)
    y = np.where(y == 1, 1.0, -1.0)
    problem = InnerProblem.from_data(X[:300], y[:300])
    outer = LogisticLoss(X[300:], y[300:])
    fun = problem.fun_and_grad(log_alpha)
    w0 = np.zeros(problem.n_coef)
    tol = 1e-6 * np.linalg.norm(fun(w0)[1])
    rng = np.random.default_rng(seed)
    for variant in variants:
        hook = OPAUpdates(outer.gradient, freq=5) if variant == "SHINE-OPA" else None
        res = minimize_lbfgs(fun, w0, m=30, tol=tol, extra_secant=hook)
        H = problem.hessian_operator(res.x, log_alpha) @ np.eye(problem.n_coef)
        H_inv = np.linalg.inv(H)
        stored_y = np.array([y_i for _, y_i in res.memory.pairs])
        vectors = {
            "OPA": outer.gradient(res.x),
            "Krylov": stored_y.T @ rng.standard_normal(stored_y.shape[0]),
            "random": rng.standard_normal(problem.n_coef),
        }
        for direction, v in vectors.items():
            ratio, cosine = compare(res.inverse_hessian, H_inv, v)
            ratios[direction, variant].append(ratio)
            cosines[direction, variant].append(cosine)

for direction in directions:
    for variant in variants:
        print(f"{direction:7s} {variant:10s} median ratio "
              f"{np.median(ratios[direction, variant]):5.2f}, median cosine "
              f"{np.median(cosines[direction, variant]):5.2f}")

# %%
# The figure
# ----------
#
# Each box gathers the 20 problems.

fig, (ax_ratio, ax_cos) = plt.subplots(1, 2, figsize=(11, 4.2))
width = 0.35
for k, variant in enumerate(variants):
    positions = np.arange(len(directions)) + (k - 0.5) * width
    for ax, values in ((ax_ratio, ratios), (ax_cos, cosines)):
        box = ax.boxplot([values[d, variant] for d in directions],
                         positions=positions, widths=0.8 * width,
                         patch_artist=True, showfliers=False)
        for patch in box["boxes"]:
            patch.set_facecolor(f"C{k}")
            patch.set_alpha(0.6)
        ax.plot([], [], color=f"C{k}", lw=6, alpha=0.6, label=variant)
for ax, title in ((ax_ratio, r"$\|Bv\| \,/\, \|H^{-1}v\|$"),
                  (ax_cos, r"$\cos(Bv, H^{-1}v)$")):
    ax.axhline(1.0, color="0.4", ls="--", lw=1)
    ax.set_xticks(np.arange(len(directions)), [f"{d} direction" for d in directions])
    ax.set_title(title)
    ax.legend(loc="lower left")
ax_ratio.set_yscale("log")
fig.tight_layout()
plt.show()

# %%
# Reading the figure
# ------------------
#
# * Along the **Krylov** directions both estimates are good: L-BFGS knows the
#   curvature of the directions it explored.
# * Along the **OPA** direction, the one the hypergradient needs, plain SHINE
#   underestimates the norm of :math:`H^{-1} v` and misses its direction;
#   with OPA updates the estimate is nearly exact. This is the point of OPA:
#   the secant equation is enforced along :math:`B \nabla g` itself.
# * Along a **random** direction neither estimate is good: :math:`B` is a
#   low-rank correction of a multiple of the identity, accurate only on the
#   subspace of its pairs.
