"""
Plotting a run with HistoryDisplay
==================================

:class:`~hoag_shine.HistoryDisplay` draws the ``history_`` of a fitted
:class:`~hoag_shine.HyperOptimizer`: the validation score per held-out
sample against the strength (where the run went) and against time (how
fast). The line joins the points that were the answer at their time and
ends at the answer (a star); rejected trials are crosses, re-evaluations of
other points open circles. The script takes a few seconds with one BLAS
thread.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit, ValidationCurveDisplay
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from hoag_shine import HistoryDisplay, HyperOptimizer

# small matrices: more BLAS threads only add overhead
threadpool_limits(limits=1, user_api="blas")

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
split = list(StratifiedShuffleSplit(1, test_size=0.25, random_state=0).split(X, y))

# %%
# Two methods on the same axes
# ----------------------------
#
# Start far from the optimum, at ``log(alpha) = 6``, so that the path is
# visible; both methods evaluate the held-out loss on the same split.

fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
for method in ["cg", "shine"]:
    clf = HyperOptimizer(method, cv=split, lambda_init=6.0, max_iter=20).fit(X, y)
    display = HistoryDisplay.from_estimator(clf, ax=axes)
    print(f"{method}: C = {clf.C_[0]:.3f}, best_score_ = {clf.best_score_:.5f}, "
          f"{clf.n_iter_} outer iterations ({clf.stop_reason_})")
axes[0].set_title("where the run went")
axes[1].set_title("how fast")

# %%
# Over scikit-learn's validation curve
# ------------------------------------
#
# On one Axes the display draws the first panel only. With ``x="C"`` it
# shares the axis of :class:`~sklearn.model_selection.ValidationCurveDisplay`
# over ``C`` of ``LogisticRegression`` (``C = 1 / alpha``: both training
# losses are summed over samples) on the same split: the run's scores lie on
# the curve, and the answer at its top.

curve = ValidationCurveDisplay.from_estimator(
    LogisticRegression(max_iter=10000), X, y, param_name="C",
    param_range=np.logspace(-3, 2, 30), cv=split, scoring="neg_log_loss",
    score_type="test")
HistoryDisplay.from_estimator(clf, ax=curve.ax_, x="C")
curve.ax_.set_title("the run on the validation curve")
plt.show()

# %%
# The same display takes any list of history records, for instance the
# ``history`` of :func:`hoag_shine.hoag`'s result, whose records hold the
# summed outer loss: ``HistoryDisplay(result.history, name="hoag").plot()``.
