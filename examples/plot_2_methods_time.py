"""
Hypergradient methods compared by time
======================================

The backward pass is where the hypergradient methods differ: HOAG's
conjugate gradient (``"cg"``) solves a linear system with the Hessian at every
outer step; SHINE reuses the inverse-Hessian estimate of the inner L-BFGS
solve; SHINE-OPA makes that estimate accurate along the outer gradient;
SHINE-refine adds a few conjugate-gradient steps; Jacobian-free replaces the
inverse Hessian by the identity.

Each method runs the same HOAG loop on the same split, and its
``history_`` gives the time and the strength of every outer iteration.

The script takes about 20 s of CPU time with one BLAS thread, which it sets
below (more on a busy machine; without the limit, threads fighting over the
cores made it take 80 to 190 s).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from hoag_shine import HyperOptimizer, InnerProblem, LogisticLoss, minimize_lbfgs

# one BLAS thread: on these small matrices more threads only add overhead,
# and on a busy machine they can make the script several times slower
threadpool_limits(limits=1, user_api="blas")

# %%
# A generated problem
# -------------------
#
# The features are correlated (each is 0.9 times the previous one plus
# noise), which makes the Hessian of the training loss ill-conditioned, and
# the labels follow a logistic model with dense coefficients.

rng = np.random.default_rng(0)
n_samples, n_features, rho = 2000, 400, 0.9
X = rng.standard_normal((n_samples, n_features))
for j in range(1, n_features):
    X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho ** 2) * X[:, j]
coef = rng.standard_normal(n_features) * 10 / np.sqrt(n_features)
y = (rng.random(n_samples) < 1 / (1 + np.exp(-X @ coef))).astype(int)
train, val = train_test_split(np.arange(y.shape[0]), test_size=0.25,
                              stratify=y, random_state=0)
methods = ["cg", "shine", "shine-opa", "shine-refine", "jacobian-free"]

# %%
# Running HOAG with each method
# -----------------------------
#
# ``refit=False`` skips the final fit on all samples, which is the same for
# every method and not part of the comparison.

runs = {}
for method in methods:
    clf = HyperOptimizer(method, cv=[(train, val)], refit=False, max_iter=30)
    runs[method] = clf.fit(X, y)
    print(f"{method:14s} log(alpha) = {clf.log_alpha_[0]:6.3f}  "
          f"time = {clf.history_[-1]['time']:.2f} s  "
          f"({clf.n_iter_} outer iterations)")

# %%
# The validation loss at the iterates
# -----------------------------------
#
# The losses recorded in ``history_`` are computed at inner solutions of
# varying accuracy. For a fair comparison, the validation loss is evaluated
# again at every accepted iterate, with the training problem solved to a tight
# tolerance by :func:`~hoag_shine.minimize_lbfgs`; these evaluations are not
# part of the timings. The reference :math:`L^\star` is the
# lowest of these values.


y_pm = np.where(y == 1, 1.0, -1.0)
problem = InnerProblem.from_data(X[train], y_pm[train], fit_intercept=True)
outer = LogisticLoss(X[val], y_pm[val], fit_intercept=True)
w_zero = np.zeros(problem.n_coef)
tight = 1e-9 * np.linalg.norm(problem.value_and_gradient(w_zero, [0.0])[1])


def exact_losses(history):
    """Validation loss at each accepted iterate, solved to a tight tolerance."""
    times, losses = [], []
    for record in history:
        if record["accepted"]:
            fun = problem.fun_and_grad(record["log_alpha"])
            w = minimize_lbfgs(fun, w_zero, tol=tight).x
            times.append(record["time"])
            losses.append(outer.value(w))
    return np.array(times), np.array(losses)


curves = {method: exact_losses(clf.history_) for method, clf in runs.items()}
best = min(losses.min() for _, losses in curves.values())

# %%
# Convergence against time, and where the time goes
# -------------------------------------------------
#
# Left: suboptimality of the validation loss against the cumulative time of
# the HOAG loop (values below :math:`10^{-6}` are drawn at :math:`10^{-6}`). Right: the total time of each run, split into the inner
# solves and the backward passes (``time_forward`` and ``time_backward`` of
# the records).

fig, (ax, ax_bar) = plt.subplots(1, 2, figsize=(11, 4.2),
                                 gridspec_kw={"width_ratios": [1.6, 1]})
for method, (times, losses) in curves.items():
    ax.semilogy(times, np.maximum(losses - best, 1e-6), marker="o", ms=3,
                label=method)
ax.set_xlabel("time (s)")
ax.set_ylabel(r"$L(\lambda_k) - L^\star$")
ax.legend()

forward = [sum(r["time_forward"] for r in runs[m].history_) for m in methods]
backward = [sum(r["time_backward"] for r in runs[m].history_) for m in methods]
position = np.arange(len(methods))
ax_bar.barh(position, forward, color="C0", label="inner solves")
ax_bar.barh(position, backward, left=forward, color="C3", label="backward passes")
ax_bar.set_yticks(position, methods)
ax_bar.invert_yaxis()
ax_bar.set_xlabel("time (s)")
ax_bar.legend()
fig.tight_layout()
plt.show()

# %%
# What the figure shows
# ---------------------
#
# * The backward passes of ``"cg"`` (Hessian-vector products) take a large
#   share of its time. Those of the SHINE variants cost almost nothing (a
#   two-loop pass, plus at most six Hessian-vector products for
#   ``"shine-refine"``), and Jacobian-free has none.
# * The hypergradients of plain SHINE and of SHINE-refine are approximate:
#   their iterates get close to the optimum quickly, then move around it
#   rather than converge to it; the last digits of the validation loss are out
#   of reach of an inexact hypergradient.
# * OPA spends a few extra gradient evaluations in every inner solve and gets
#   in exchange hypergradients accurate enough for a steady decrease.
# * Jacobian-free ignores the curvature of the training problem and stops at
#   a visibly worse strength.
#
# On a problem this small the whole run takes a fraction of a second and the
# timings are noisy. The cost of a conjugate-gradient solve grows with the
# size of the data and with the condition number of the Hessian, while the
# backward pass of SHINE stays a two-loop pass; the benchmark scripts of the
# repository measure the comparison on large data sets.
