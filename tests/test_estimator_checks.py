"""scikit-learn's own estimator checks (binary and multiclass data).

Expected failures:

* The sample-weight equivalence checks. With one strength per feature,
  fitting with integer sample weights and fitting on the repeated rows agree
  only to about 1e-3 in the smallest probabilities, not to the check's 1e-7:
  the two inner problems are the same up to rounding, and their
  hypergradients agree to 1e-12 at the start, but the quasi-Newton steps of
  the outer loop in 30 strengths (15 samples) amplify that difference by
  about three orders of magnitude per step. With one strength at the
  default starting tolerance, rounding decides when the loose first inner
  solves stop, and the check's validation loss is flat (within ``tol``)
  near the bound, so the two fits end at different points of that plateau.
  With tight inner solves the checks pass (the last test).
* Without an intercept, the class-weight check asks for predictions that no
  linear model through the origin gives on its data (the first instance
  passes it).
"""
import pytest
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from hoag_shine import HyperOptimizer

ROUNDING_SENSITIVE = (
    "the outer loop's steps in 30 strengths amplify rounding differences between "
    "weighted and repeated rows beyond the check's rtol=1e-7")
LOOSE_AND_FLAT = (
    "at the default starting tolerance (1e-3) rounding differences between weighted and "
    "repeated rows decide when the inner solves stop, and the check's validation loss is "
    "flat (within tol) from log(alpha) = -11 to the bound -12: the two fits end apart on "
    "that plateau, probabilities 3e-5 apart; with tight inner solves the check passes "
    "(test_sample_weight_equivalence_with_tight_solves)")
SAMPLE_WEIGHT_CHECKS = ("check_sample_weight_equivalence_on_dense_data",
                        "check_sample_weight_equivalence_on_sparse_data")
NO_INTERCEPT = (
    "without an intercept no strength lets a line through the origin predict class 0 "
    "on 87 % of the check's blobs: LogisticRegression(fit_intercept=False) with the "
    "same class weights predicts it on 52 % at every C in 1e-4 .. 100")


def _expected_failures(estimator):
    reason = ROUNDING_SENSITIVE if estimator.regularization == "per-feature" \
        else LOOSE_AND_FLAT
    failures = {name: reason for name in SAMPLE_WEIGHT_CHECKS}
    if not estimator.fit_intercept:
        failures["check_class_weight_classifiers"] = NO_INTERCEPT
    return failures


@parametrize_with_checks([
    HyperOptimizer(),
    HyperOptimizer("cg", regularization="per-feature", fit_intercept=False, max_iter=10),
], expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check, monkeypatch):
    # the array-API check only runs when scipy's array API flag is visible;
    # with the numpy namespace it then checks plain ndarray inputs
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


@pytest.mark.parametrize("check_name", SAMPLE_WEIGHT_CHECKS)
def test_sample_weight_equivalence_with_tight_solves(check_name):
    """Integer weights and repeated rows give the same model (to the check's 1e-7) when
    the inner solves are tight enough for rounding not to decide the outer loop's path."""
    check = getattr(estimator_checks, check_name)
    check("HyperOptimizer", HyperOptimizer(tolerance_init=1e-10))
