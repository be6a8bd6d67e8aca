"""scoring: smooth held-out losses against scikit-learn's scorers, finite differences and
fine grids; scorers without a derivative refused."""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, get_scorer
from sklearn.model_selection import train_test_split

from hoag_shine import HyperOptimizer, ProbabilityLoss, get_scoring, hypergradient
from hoag_shine.model.datafit import LinearLoss
from hoag_shine.model.pointwise import ProbabilityPointwise
from hoag_shine.model.scoring import brier_gradient, brier_loss


def _richardson(fun, x, direction, step=1e-3):
    """Central differences at ``step`` and ``2 step`` combined: error O(step^4)."""
    def central(h):
        return (fun(x + h * direction) - fun(x - h * direction)) / (2 * h)
    return (4 * central(step) - central(2 * step)) / 3


def _data(n_classes, seed=0, n=90, p=5):
    X, y = make_classification(n, p, n_informative=3, n_redundant=0, n_classes=n_classes,
                               n_clusters_per_class=1, flip_y=0.1, random_state=seed)
    return X, y


# module level, so that the estimator pickles
def log_of_probability(Y, P):
    return -np.log(np.sum(Y * P, axis=1))


def log_of_probability_gradient(Y, P):
    return -Y / P


def twice_brier_gradient(Y, P):
    return 2.0 * brier_gradient(Y, P)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_brier_outer_loss_value_and_gradient(n_classes, fmt, fit_intercept, weighted):
    """The value is scikit-learn's Brier score times the total weight (the probabilities
    written out here); the gradient matches central differences to 1e-7 relative."""
    X, y = _data(n_classes)
    rng = np.random.default_rng(1)
    weights = rng.uniform(0.2, 2.0, y.shape[0]) if weighted else None
    K = 1 if n_classes == 2 else n_classes
    loss = get_scoring("neg_brier_score").outer_loss(
        sp.csr_matrix(X) if fmt == "csr" else X, y, n_classes, fit_intercept, weights)
    assert isinstance(loss, LinearLoss) and isinstance(loss.pointwise, ProbabilityPointwise)
    w = rng.standard_normal((X.shape[1] + fit_intercept) * K)
    W = w.reshape(-1, K)
    z = X @ W[:X.shape[1]] + (W[-1] if fit_intercept else 0.0)
    if n_classes == 2:
        reference = brier_score_loss(y, expit(z[:, 0]), sample_weight=weights)
    else:
        reference = brier_score_loss(y, softmax(z, axis=1), sample_weight=weights,
                                     labels=np.arange(n_classes))
    value, grad = loss.value_and_gradient(w)
    np.testing.assert_allclose(value, reference * loss.total_weight, rtol=1e-12)
    direction = rng.standard_normal(w.shape)
    fd = _richardson(loss.value, w, direction)
    np.testing.assert_allclose(grad @ direction, fd, rtol=1e-7)
    assert grad @ direction != pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("method", ["exact", "cg"])
@pytest.mark.parametrize("regularization", ["scalar", "per-feature"])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_brier_hypergradient_matches_finite_differences(n_classes, fit_intercept,
                                                        regularization, method):
    """The hypergradient of the validation Brier score, along a random direction and
    along a coordinate, against finite differences of the tightly solved outer loss."""
    X, y = _data(n_classes, seed=2, n=120)
    X_tr, X_val, y_tr, y_val = X[:80], X[80:], y[:80], y[80:]
    rng = np.random.default_rng(3)
    log_alpha = (np.array([0.5]) if regularization == "scalar"
                 else rng.uniform(-1.0, 1.0, X.shape[1]))
    kwargs = dict(fit_intercept=fit_intercept, scoring="neg_brier_score", inner_tol=1e-13,
                  groups=None if regularization == "scalar" else np.arange(X.shape[1]))

    def loss(la):
        return hypergradient(X_tr, y_tr, X_val, y_val, la, method="exact", **kwargs).outer_loss

    grad = hypergradient(X_tr, y_tr, X_val, y_val, log_alpha, method=method, **kwargs).grad
    direction = rng.standard_normal(log_alpha.shape)
    assert _richardson(loss, log_alpha, direction) == pytest.approx(grad @ direction,
                                                                    rel=1e-5)
    e = np.zeros_like(log_alpha)
    e[0] = 1.0
    assert abs(_richardson(loss, log_alpha, e) - grad[0]) <= 1e-5 * np.abs(grad).max()


def _brier_grid(X, y, train, test, grid):
    """Validation Brier score (scikit-learn's scorer) of LogisticRegression along ``grid``."""
    scorer, scores = get_scorer("neg_brier_score"), []
    for log_alpha in grid:
        model = LogisticRegression(C=np.exp(-log_alpha), tol=1e-10, max_iter=10000)
        scores.append(-scorer(model.fit(X[train], y[train]), X[test], y[test]))
    return np.array(scores)


@pytest.mark.parametrize("method", ["shine", "cg"])
@pytest.mark.parametrize("n_classes, seed, rtol", [(2, 2, 5e-3), (3, 2, 1e-3)])
def test_brier_scoring_reaches_the_grid_optimum(n_classes, seed, rtol, method):
    """scoring="neg_brier_score" ends within ``rtol`` of the best validation Brier score
    of a grid of 281 strengths (log(alpha) in [-6, 8] by 0.05), as scikit-learn's
    scorer gives it for LogisticRegression fits; best_score_ is that scorer's value at
    the answer. The log-loss's answer and the start are further away than ``rtol``
    (measured: 1.5 % and 0.7 % for two classes, 0.2 % and 11 % for three; HOAG's
    Brier answers: 1e-5 and 4e-5), so the bound separates the two scorings."""
    X, y = make_classification(300, 20, n_informative=5, flip_y=0.15, class_sep=0.8,
                               n_classes=n_classes, random_state=seed)
    train, test = train_test_split(np.arange(300), test_size=0.3, random_state=0,
                                   stratify=y)
    grid = np.linspace(-6, 8, 281)
    best = _brier_grid(X, y, train, test, grid).min()
    clf = HyperOptimizer(method, scoring="neg_brier_score", cv=[(train, test)],
                         refit=False).fit(X, y)
    at_answer, = _brier_grid(X, y, train, test, clf.log_alpha_)
    assert at_answer <= best * (1 + rtol)
    # best_score_ is the loss of the verified answer, known to the loop's precision: the
    # verification solves it until its uncertainty is a quarter of tol (1e-4) of it
    np.testing.assert_allclose(-clf.best_score_, at_answer, rtol=clf.tol / 4)
    log_loss_answer = HyperOptimizer(method, cv=[(train, test)], refit=False).fit(X, y)
    for wrong in (log_loss_answer.log_alpha_, [0.0]):
        assert _brier_grid(X, y, train, test, wrong)[0] > best * (1 + rtol)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_user_loss_of_the_probabilities(n_classes):
    """A ProbabilityLoss of -log P[y], written in the probabilities (a path independent of
    the logistic datafit), tunes to the strengths and score of scoring="neg_log_loss"."""
    X, y = make_classification(150, 20, n_informative=4, n_redundant=0,
                               n_classes=n_classes, n_clusters_per_class=1, flip_y=0.2,
                               random_state=4)  # optimum log(alpha) 1.5 and 3.3
    scoring = ProbabilityLoss(log_of_probability, log_of_probability_gradient, name="mine")
    mine = HyperOptimizer("cg", scoring=scoring, random_state=0).fit(X, y)
    default = HyperOptimizer("cg", random_state=0).fit(X, y)
    np.testing.assert_allclose(mine.log_alpha_, default.log_alpha_, atol=1e-4)
    np.testing.assert_allclose(mine.best_score_, default.best_score_, rtol=1e-6)
    np.testing.assert_allclose(mine.coef_, default.coef_, rtol=1e-4, atol=1e-6)
    copy = pickle.loads(pickle.dumps(clone(mine).fit(X, y)))
    np.testing.assert_array_equal(copy.log_alpha_, mine.log_alpha_)
    assert repr(scoring) == "ProbabilityLoss(name='mine')"


def test_weights_weigh_the_brier_score():
    """With sample weights, best_score_ is scikit-learn's weighted scorer at the answer."""
    X, y = _data(2, seed=5, n=160)
    weights = np.random.default_rng(0).uniform(0.1, 3.0, y.shape[0])
    train, test = train_test_split(np.arange(160), test_size=0.4, random_state=1,
                                   stratify=y)
    clf = HyperOptimizer("cg", scoring="neg_brier_score", cv=[(train, test)],
                         tolerance_init=1e-9).fit(X, y, sample_weight=weights)
    model = LogisticRegression(C=clf.C_[0], tol=1e-12, max_iter=10000)
    model.fit(X[train], y[train], sample_weight=weights[train])
    score = get_scorer("neg_brier_score")(model, X[test], y[test],
                                          sample_weight=weights[test])
    np.testing.assert_allclose(clf.best_score_, score, rtol=1e-6)


@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "roc_auc", "f1",
                                  "average_precision", "neg_mean_squared_error"])
def test_scorers_without_a_derivative_are_refused(name):
    X, y = _data(2)
    with pytest.raises(ValueError, match=rf"scoring='{name}' cannot be tuned by HOAG: .*"
                                         r"derivative .* zero .*'neg_log_loss' or "
                                         r"'neg_brier_score'.*ProbabilityLoss"):
        HyperOptimizer(scoring=name).fit(X, y)


@pytest.mark.parametrize("scoring, error, match", [
    ("d2_log_loss_score", ValueError, "affine .* pass scoring='neg_log_loss'"),
    ("d2_brier_score", ValueError, "affine .* pass scoring='neg_brier_score'"),
    ("brier", ValueError, r"scoring must be one of \['neg_brier_score', 'neg_log_loss'\]"),
    (get_scorer("neg_log_loss"), TypeError, "scorer callable returns the score's value"),
    (3, TypeError, "scoring must be one of"),
])
def test_other_scorings_are_refused(scoring, error, match):
    X, y = _data(2)
    with pytest.raises(error, match=match):
        HyperOptimizer(scoring=scoring).fit(X, y)


def test_none_is_the_log_loss():
    X, y = _data(2, seed=6)
    a = HyperOptimizer("cg", scoring=None, random_state=0).fit(X, y)
    b = HyperOptimizer("cg", random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.log_alpha_, b.log_alpha_)


def _wrong_shape(Y, P):
    return np.square(P - Y)


def _not_finite(Y, P):
    return np.full(Y.shape[0], np.nan)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("loss, gradient, error, match", [
    (brier_loss, twice_brier_gradient, ValueError,
     r"scoring's gradient is not the derivative of its loss \(bad\)"),
    (_wrong_shape, brier_gradient, ValueError, r"scoring's loss must return .* shape"),
    (brier_loss, brier_loss, ValueError, r"scoring's gradient must return .* shape"),
    (_not_finite, brier_gradient, ValueError, "scoring's loss returned values that are not"),
    ("brier", brier_gradient, TypeError, "scoring's loss must be callable"),
])
def test_user_loss_is_checked(n_classes, loss, gradient, error, match):
    X, y = _data(n_classes)
    with pytest.raises(error, match=match):
        HyperOptimizer(scoring=ProbabilityLoss(loss, gradient, name="bad")).fit(X, y)
