"""class_weight: the fit with the matching sample weights, as scikit-learn computes them."""
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

from hoag_shine import HyperOptimizer


def _imbalanced(n_classes, seed=0, n=240):
    """Classes of about 70 %, 30 % (and 10 % of a third), some label noise."""
    weights = [0.7, 0.3] if n_classes == 2 else [0.6, 0.3, 0.1]
    X, y = make_classification(n, 8, n_informative=4, n_redundant=0, n_classes=n_classes,
                               n_clusters_per_class=1, weights=weights, flip_y=0.05,
                               random_state=seed)
    return X, np.array(["ant", "bee", "cat"])[y]  # string labels


def _both(X, y, class_weight, sample_weight, **params):
    weighted = HyperOptimizer("cg", class_weight=class_weight, **params).fit(
        X, y, sample_weight=sample_weight)
    reference = HyperOptimizer("cg", **params).fit(
        X, y, sample_weight=_matching(y, class_weight, sample_weight))
    return weighted, reference


def _matching(y, class_weight, sample_weight):
    """The sample weights scikit-learn's helpers give for ``class_weight``."""
    if sample_weight is None:
        return compute_sample_weight(class_weight, y)
    classes, codes = np.unique(y, return_inverse=True)
    per_class = compute_class_weight(class_weight, classes=classes, y=y,
                                     sample_weight=sample_weight)
    return sample_weight * per_class[codes]


@pytest.mark.parametrize("with_sample_weight", [False, True])
@pytest.mark.parametrize("class_weight", ["balanced", {"ant": 0.5, "bee": 3.0}])
@pytest.mark.parametrize("regularization, cv", [("scalar", None), ("scalar", 3),
                                                ("per-feature", None)])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_class_weight_is_the_matching_sample_weight(n_classes, regularization, cv,
                                                    class_weight, with_sample_weight):
    """Strengths equal to 1e-4 in log(alpha), models to 1e-6, scores to 1e-8; the class
    weights change the strengths by far more than that."""
    X, y = _imbalanced(n_classes)
    sample_weight = (np.random.default_rng(1).uniform(0.2, 2.0, y.shape[0])
                     if with_sample_weight else None)
    params = dict(regularization=regularization, cv=cv, random_state=0, max_iter=40)
    weighted, reference = _both(X, y, class_weight, sample_weight, **params)
    np.testing.assert_allclose(weighted.log_alpha_, reference.log_alpha_, atol=1e-4)
    np.testing.assert_allclose(weighted.coef_, reference.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(weighted.best_score_, reference.best_score_, rtol=1e-8)
    unweighted = HyperOptimizer("cg", **params).fit(X, y, sample_weight=sample_weight)
    assert np.abs(unweighted.log_alpha_ - weighted.log_alpha_).max() > 1e-2


@pytest.mark.parametrize("n_classes", [2, 3])
def test_class_weight_weighs_training_and_held_out_losses(n_classes):
    """The refit is scikit-learn's LogisticRegression(class_weight="balanced") at C_, and
    best_score_ the held-out log-loss weighted by the class weights of the whole y."""
    X, y = _imbalanced(n_classes, seed=3)
    train, test = train_test_split(np.arange(y.shape[0]), test_size=0.3, random_state=0,
                                   stratify=y)
    clf = HyperOptimizer("cg", class_weight="balanced", cv=[(train, test)],
                         tolerance_init=1e-9).fit(X, y)
    full = LogisticRegression(C=clf.C_[0], class_weight="balanced", tol=1e-12,
                              max_iter=10000).fit(X, y)
    np.testing.assert_allclose(clf.coef_, full.coef_.reshape(clf.coef_.shape), rtol=1e-5,
                               atol=1e-7)
    classes, codes = np.unique(y, return_inverse=True)
    per_class = compute_class_weight("balanced", classes=classes, y=y)
    # the training part is weighted with the weights of the whole y, as in
    # LogisticRegressionCV: a sample weight per sample, not class_weight on the part
    split = LogisticRegression(C=clf.C_[0], tol=1e-12, max_iter=10000).fit(
        X[train], y[train], sample_weight=per_class[codes[train]])
    held_out = log_loss(y[test], split.predict_proba(X[test]),
                        sample_weight=per_class[codes[test]])
    np.testing.assert_allclose(clf.best_score_, -held_out, rtol=1e-6)


@pytest.mark.parametrize("class_weight, error, match", [
    ("balance", ValueError, "class_weight must be None, 'balanced' or a dict"),
    ([1.0, 2.0], TypeError, "class_weight must be None, 'balanced' or a dict"),
    ({"ant": 1.0, "dog": 2.0}, ValueError, "class_weight has the label 'dog'"),
    ({"ant": -1.0}, ValueError, "class_weight must map labels to finite numbers >= 0"),
    ({"ant": np.inf}, ValueError, "class_weight must map labels to finite numbers >= 0"),
    ({"ant": "1"}, TypeError, "class_weight must map labels to numbers"),
    ({"bee": 0.0}, ValueError, r"every sample of class\(es\) \['bee'\] has class_weight 0"),
])
def test_bad_class_weights(class_weight, error, match):
    X, y = _imbalanced(2)
    with pytest.raises(error, match=match):
        HyperOptimizer(class_weight=class_weight).fit(X, y)

