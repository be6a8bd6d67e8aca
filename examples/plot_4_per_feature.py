"""
Many strengths: when they help, and the check that guards them
===============================================================

With ``regularization="per-feature"`` or an array of group labels,
:class:`~hoag_shine.HyperOptimizer` tunes one l2 strength per feature or per
group, which no grid search could handle. Many strengths can also fit the
validation data more closely than they generalize, so the estimator tunes one
strength first and keeps the many strengths only when they beat it on
held-out samples set aside for that comparison (``check_fraction``); else it
keeps the one strength and says so (``fallback_``).

The data: the 30 standardised breast-cancer features, with 200 columns of
pure noise appended. Groups that separate the real columns from the noise
let the noise be penalised harder than the real features, which one strength
cannot do.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from hoag_shine import HyperOptimizer, ScalarFallbackWarning

# one BLAS thread: on these small matrices more threads only add overhead,
# and on a busy machine they can make the script several times slower
threadpool_limits(limits=1, user_api="blas")

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
noise = np.random.default_rng(0).standard_normal((X.shape[0], 200))
X = np.hstack([X, noise])
groups = np.where(np.arange(X.shape[1]) < 30, "real", "noise")
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0)
cv = StratifiedKFold(5, shuffle=True, random_state=0)

# %%
# One strength, two groups, one strength per feature
# --------------------------------------------------
#
# The three fits use the same folds. The test part is seen by none of them.

models = {"one strength": HyperOptimizer(cv=cv)}
models["two groups"] = HyperOptimizer(cv=cv, regularization=groups)
models["per feature"] = HyperOptimizer(cv=cv, regularization="per-feature")
losses = {}
for name, model in models.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalarFallbackWarning)
        model.fit(X_train, y_train)
    losses[name] = log_loss(y_test, model.predict_proba(X_test))
    kept = "" if model.selection_ is None else (
        "  kept: one strength" if model.fallback_ else "  kept: the many strengths")
    print(f"{name:13s} test log-loss {losses[name]:.4f}{kept}")
    for warning in caught:
        print("   ", str(warning.message)[:110], "...")

# %%
# The two groups are kept: on the samples set aside their models' loss was
# lower than the one strength's by several standard errors.

selection = models["two groups"].selection_
print(f"samples set aside: {selection['check_samples']}, loss per sample "
      f"{selection['one_loss']:.4f} (one strength) against {selection['many_loss']:.4f} "
      f"(two groups), difference {selection['gain']:.4f} +- {selection['std_error']:.4f}")
for label, log_alpha in zip(np.unique(groups), models["two groups"].log_alpha_):
    print(f"{label:5s} log(alpha) = {log_alpha:.2f}")
print(f"one strength: log(alpha) = {models['one strength'].log_alpha_[0]:.2f}")

# %%
# The path of the two strengths
# -----------------------------
#
# ``history_`` holds the three runs: one strength ("one"), the two groups
# without the samples set aside ("many"), and once the groups are kept, the
# two groups again on all the samples ("again"). Left: the strengths along
# the evaluations; right: the test log-loss of the three models.

history = models["two groups"].history_
path = np.array([record["log_alpha"] for record in history])
stage = np.array([record["stage"] for record in history])
fig, (ax_path, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
for k, label in enumerate(np.unique(groups)):
    ax_path.plot(path[:, k], marker=".", label=f"{label} columns")
for name, color in (("many", "0.9"), ("again", "0.8")):
    where = np.flatnonzero(stage == name)
    if where.size:
        ax_path.axvspan(where[0] - 0.5, where[-1] + 0.5, color=color, zorder=0)
ax_path.set_xlabel("evaluation (shaded: the runs of the two groups)")
ax_path.set_ylabel(r"$\log \alpha$")
ax_path.legend()
ax_loss.bar(list(losses), list(losses.values()), color=["C0", "C1", "C2"])
ax_loss.set_ylabel("test log-loss")
fig.tight_layout()
plt.show()

# %%
# The per-feature strengths were not kept: 230 strengths tuned on a few
# hundred samples fit the folds' held-out parts, not the problem, and the
# samples set aside showed it. The user guide's page on strengths
# (:ref:`strengths-generalize`) measures when many strengths help on a range
# of data sets.
