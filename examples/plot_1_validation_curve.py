"""
The validation curve and the HOAG path
======================================

HOAG tunes the l2 strength by descending the validation loss along its
hypergradient. On a problem with one strength, the validation loss can also
be computed on a grid; drawing the HOAG iterates on that curve shows what
the outer loop does.

The data are the breast cancer data set of scikit-learn, standardised, split
once into a training part (75 %) and a validation part (25 %). Both losses
are summed over samples, so ``alpha`` is ``1 / C`` of scikit-learn's
``LogisticRegression``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from hoag_shine import HyperOptimizer, hypergradient

# one BLAS thread: on these small matrices more threads only add overhead,
# and on a busy machine they can make the script several times slower
threadpool_limits(limits=1, user_api="blas")

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
train, val = train_test_split(np.arange(y.shape[0]), test_size=0.25,
                              stratify=y, random_state=0)

# %%
# The validation loss on a grid
# -----------------------------
#
# :func:`~hoag_shine.hypergradient` solves the training problem at one value of
# ``log(alpha)`` to a tight tolerance and returns the validation loss and its
# derivative. Each solve starts from the previous solution.

grid = np.linspace(-2.5, 3.5, 61)
grid_loss, grid_grad = [], []
w0 = None
for log_alpha in grid:
    res = hypergradient(X[train], y[train], X[val], y[val], log_alpha,
                        method="cg", fit_intercept=True, w0=w0)
    grid_loss.append(res.outer_loss)
    grid_grad.append(res.grad[0])
    w0 = res.w
grid_loss, grid_grad = np.array(grid_loss), np.array(grid_grad)
print(f"best grid point: log(alpha) = {grid[np.argmin(grid_loss)]:.2f}")

# %%
# HOAG on the same split
# ----------------------
#
# Passing the split as ``cv=[(train, val)]`` makes the estimator use exactly
# this validation set. The run starts from ``log(alpha) = 3``, far on the
# over-regularised side, so that the path is visible. ``history_`` holds one
# record per evaluation of the validation loss: the strength, the loss, the
# hypergradient estimate (here from SHINE, the default method) and whether
# the step rule accepted it.

clf = HyperOptimizer(cv=[(train, val)], lambda_init=3.0, refit=False).fit(X, y)
history = clf.history_
lam = np.array([r["log_alpha"][0] for r in history])
loss = np.array([r["outer_loss"] for r in history])
grad = np.array([r["grad"][0] for r in history])
accepted = np.array([r["accepted"] for r in history])
print(f"HOAG: log(alpha) = {clf.log_alpha_[0]:.3f} after {clf.n_iter_} evaluations, "
      f"{(~accepted).sum()} rejected")

# %%
# The iterates on the curve
# -------------------------
#
# The first step has length 1; then secant steps inside a trust region take
# the iterates to the minimum of the curve. The losses of the iterates are computed
# at approximate inner solutions (the tolerance decreases along the run), so
# the first ones sit slightly off the curve. The right panel compares the
# hypergradient estimates at the iterates with the derivative of the curve.
# SHINE's estimates come from approximate inner solutions and the L-BFGS
# inverse-Hessian estimate. At the first iterates, where the inner solves are
# loose and the L-BFGS memory holds few pairs, they are rough, but their sign
# is right; near the optimum, with the memory carried over from step to step,
# they follow the derivative closely.

fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(11, 4.2))
ax_loss.plot(grid, grid_loss, color="0.3", label="validation loss (grid)")
ax_loss.plot(lam, loss, color="C1", lw=0.8, alpha=0.6)
ax_loss.scatter(lam[accepted], loss[accepted], color="C1", zorder=3,
                label="HOAG iterates")
if (~accepted).any():
    ax_loss.scatter(lam[~accepted], loss[~accepted], facecolor="none",
                    edgecolor="C3", zorder=3, label="rejected trials")
for k in range(4):
    ax_loss.annotate(str(k), (lam[k], loss[k]), textcoords="offset points",
                     xytext=(4, 6), color="C1")
ax_loss.set_xlabel(r"$\log \alpha$")
ax_loss.set_ylabel("validation loss (sum over samples)")
ax_loss.set_ylim(grid_loss.min() - 0.5, grid_loss.max() + 0.5)
ax_loss.legend()

ax_grad.axhline(0.0, color="0.7", lw=0.8)
ax_grad.plot(grid, grid_grad, color="0.3", label="derivative (grid)")
ax_grad.scatter(lam, grad, color="C1", zorder=3, label="SHINE estimates")
ax_grad.set_xlabel(r"$\log \alpha$")
ax_grad.set_ylabel(r"$dL / d\log\alpha$")
ax_grad.legend()
fig.tight_layout()
plt.show()

# %%
# The path over the iterations
# ----------------------------

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(lam.shape[0]), lam, marker="o", color="C1")
ax.axhline(grid[np.argmin(grid_loss)], color="0.3", ls="--",
           label="best grid point")
ax.set_xlabel("outer iteration")
ax.set_ylabel(r"$\log \alpha$")
ax.legend()
fig.tight_layout()
plt.show()
