"""
Plotting a run with HistoryDisplay
==================================

:class:`~hoag_shine.HistoryDisplay` draws the ``history_`` of a fitted
:class:`~hoag_shine.HyperOptimizer`: the outer loss against ``log(alpha)``
(where the run went) and against time (how fast), with the rejected steps
as crosses and the answer as a star. Here two methods are drawn on the same
axes. The script takes a few seconds with one BLAS thread.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from hoag_shine import HistoryDisplay, HyperOptimizer

# small matrices: more BLAS threads only add overhead
threadpool_limits(limits=1, user_api="blas")

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)

# %%
# Start far from the optimum, at ``log(alpha) = 6``, so that the path is
# visible; every method evaluates the outer loss on the same split.

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
for method in ["cg", "shine"]:
    clf = HyperOptimizer(method, lambda_init=6.0, max_iter=20, random_state=0).fit(X, y)
    display = HistoryDisplay.from_estimator(clf, ax=axes)
    print(f"{method}: log(alpha) = {clf.log_alpha_[0]:.3f}, C = {clf.C_[0]:.3f}, "
          f"{clf.n_iter_} outer iterations ({clf.stop_reason_})")
axes[0].set_title("where the run went")
axes[1].set_title("how fast")
plt.show()

# %%
# The same display takes any list of history records, for instance the
# ``history`` of :func:`hoag_shine.hoag`'s result:
# ``HistoryDisplay(result.history, name="hoag").plot()``.
