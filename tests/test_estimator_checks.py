"""scikit-learn's own estimator checks, with no expected failure."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from hoag_shine import HyperOptimizer


@parametrize_with_checks([
    HyperOptimizer(),
    HyperOptimizer("cg", regularization="per-feature", fit_intercept=False, max_iter=10),
])
def test_sklearn_compatible(estimator, check, monkeypatch):
    # the array-API check only runs when scipy's array API flag is visible;
    # with the numpy namespace it then checks plain ndarray inputs
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)
