"""Many strengths are kept only when they beat one strength on samples they were not tuned on."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.metrics import log_loss
from sklearn.model_selection import ShuffleSplit, StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from hoag_shine import HyperOptimizer, ScalarFallbackWarning
from hoag_shine.tuning import _compare_on_check, _set_aside


def noisy_breast_cancer(n_noise=300, seed=0):
    """Breast cancer, standardised, with pure-noise columns appended; groups real / noise."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    noise = np.random.default_rng(seed).standard_normal((X.shape[0], n_noise))
    groups = np.r_[np.zeros(X.shape[1], int), np.ones(n_noise, int)]
    return np.hstack([X, noise]), y, groups


def test_grouped_strengths_that_help_are_kept_and_beat_one_strength_on_test_data():
    X, y, groups = noisy_breast_cancer()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                        random_state=0)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    one = HyperOptimizer(cv=cv).fit(X_train, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalarFallbackWarning)
        grouped = HyperOptimizer(cv=cv, regularization=groups).fit(X_train, y_train)
    assert not grouped.fallback_ and grouped.selection_["kept"] == "many"
    stages = [r["stage"] for r in grouped.history_]
    order = ["one", "many", "again"]
    assert stages == sorted(stages, key=order.index)
    assert set(order) == set(stages) and grouped.n_iter_ <= grouped.max_iter
    assert [r["stage"] for r in grouped.history_ if r["answer"]] == ["again"]
    # the noise group is penalised harder than the real one, and than one strength
    assert grouped.log_alpha_[1] > one.log_alpha_[0] > grouped.log_alpha_[0]
    assert grouped.selection_["gain"] > 3 * grouped.selection_["std_error"] > 0
    ratio = (log_loss(y_test, grouped.predict_proba(X_test))
             / log_loss(y_test, one.predict_proba(X_test)))
    assert ratio < 0.8


def test_a_fallback_is_exactly_the_fit_of_one_strength():
    # 60 samples, 40 features, 3 informative: per-feature strengths overfit
    X, y = make_classification(90, 40, n_informative=3, n_redundant=0, random_state=3)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    one = HyperOptimizer(cv=cv).fit(X, y)
    with pytest.warns(ScalarFallbackWarning, match="40 strengths were not kept") as caught:
        many = HyperOptimizer(cv=cv, regularization="per-feature").fit(X, y)
    assert {w.filename for w in caught if w.category is ScalarFallbackWarning} == {__file__}
    assert many.fallback_ and many.selection_["kept"] == "one"
    assert many.selection_["gain"] <= 3 * many.selection_["std_error"]
    np.testing.assert_array_equal(many.log_alpha_, np.full(40, one.log_alpha_[0]))
    np.testing.assert_allclose(many.coef_, one.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(many.intercept_, one.intercept_, rtol=1e-12, atol=1e-14)
    assert many.best_score_ == one.best_score_
    assert many.stop_reason_ == one.stop_reason_
    stages = [r["stage"] for r in many.history_]
    assert stages[:one.n_iter_] == ["one"] * one.n_iter_
    assert set(stages[one.n_iter_:]) == {"many"}
    assert [r["stage"] for r in many.history_ if r["answer"]] == ["one"]
    assert [r["iteration"] for r in many.history_] == list(range(many.n_iter_))
    assert np.all(np.diff([r["time"] for r in many.history_]) >= 0)
    assert many.n_iter_ <= many.max_iter and many.Cs_.shape == (many.n_iter_, 40)


def test_the_comparison_is_the_paired_difference_of_the_log_losses():
    X, y, groups = noisy_breast_cancer(n_noise=20)
    cv = StratifiedKFold(3, shuffle=True, random_state=1)
    est = HyperOptimizer(cv=cv, regularization=groups, refit=False)
    setup, _ = est._setup(X, y, None)
    _, check = _set_aside(setup, 0.5, 0)
    rng = np.random.default_rng(0)
    one = [rng.standard_normal(X.shape[1] + 1) for _ in check]
    many = [rng.standard_normal(X.shape[1] + 1) for _ in check]
    selection = _compare_on_check(setup, check, one, many, fit_intercept=True)

    def losses(coefs):
        out = []
        for part, w in zip(check, coefs):
            z = X[part] @ w[:-1] + w[-1]
            out.append(np.logaddexp(0.0, -np.where(y[part] == 1, z, -z)))
        return np.concatenate(out)

    a, b = losses(one), losses(many)
    assert selection["check_samples"] == a.shape[0]
    np.testing.assert_allclose(selection["one_loss"], a.mean(), rtol=1e-12)
    np.testing.assert_allclose(selection["many_loss"], b.mean(), rtol=1e-12)
    np.testing.assert_allclose(selection["gain"], a.mean() - b.mean(), rtol=1e-12)
    np.testing.assert_allclose(selection["std_error"],
                               np.std(b - a, ddof=1) / np.sqrt(a.shape[0]), rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cv", [None, 4])
def test_the_samples_set_aside_leave_every_split(weighted, cv):
    X, y = make_classification(400, 5, weights=[0.8], random_state=0)
    sample_weight = None
    if weighted:
        sample_weight = np.random.default_rng(0).uniform(0.5, 2.0, 400)
        sample_weight[::7] = 0.0
    est = HyperOptimizer(cv=cv, regularization="per-feature", random_state=3)
    setup, _ = est._setup(X, y, sample_weight)
    splits, check = _set_aside(setup, 0.3, None)
    again = _set_aside(setup, 0.3, None)
    aside = np.unique(np.concatenate(check))
    held = np.unique(np.concatenate(setup.held_out))
    positive = held if sample_weight is None else held[sample_weight[held] > 0]
    assert aside.shape[0] == round(0.3 * positive.shape[0])
    assert np.all(np.isin(aside, positive))
    # the classes in the proportions of the held-out samples, to one sample
    assert abs(np.mean(y[aside]) - np.mean(y[positive])) * aside.shape[0] <= 1
    for (train, part), (train2, tune), c, (train3, tune3), c3 in zip(
            setup.splits, splits, check, *again):
        np.testing.assert_array_equal(np.sort(np.r_[tune, c]), np.sort(part))
        np.testing.assert_array_equal(train2, np.setdiff1d(train, aside))
        assert np.intersect1d(train2, aside).size == 0 and np.intersect1d(tune, aside).size == 0
        np.testing.assert_array_equal(c, np.intersect1d(part, aside))
        for first, second in ((train2, train3), (tune, tune3), (c, c3)):
            np.testing.assert_array_equal(first, second)  # random_state None: one draw


def test_a_class_that_the_set_aside_would_empty_falls_back():
    X, y = make_classification(150, 4, random_state=0)
    y[:3] = 2  # a third class of 3 samples
    est = HyperOptimizer(regularization="per-feature", cv=3)
    setup, _ = est._setup(X, y, None)
    # with cross-validation the samples set aside leave the training parts too:
    # setting most aside takes the third class out of some training part
    splits, why = _set_aside(setup, 0.95, 0)
    assert splits is None and "takes a class out of the training part" in why
    assert _set_aside(setup, 0.3, 0)[0] is not None


def test_too_few_evaluations_left_fall_back_with_the_reason():
    X, y, groups = noisy_breast_cancer(n_noise=10)
    with pytest.warns(ScalarFallbackWarning, match=r"max_iter=3 leaves 0 evaluations for the next run \(3 used, 5 kept"):
        est = HyperOptimizer(regularization=groups, max_iter=3, random_state=0).fit(X, y)
    assert est.fallback_ and est.n_iter_ <= 3
    assert "gain" not in est.selection_
    assert np.ptp(est.log_alpha_) == 0


def test_check_fraction_zero_tunes_the_many_strengths_directly():
    X, y, groups = noisy_breast_cancer(n_noise=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalarFallbackWarning)
        est = HyperOptimizer(regularization=groups, check_fraction=0, random_state=0,
                             max_iter=8).fit(X, y)
    assert est.selection_ is None and not est.fallback_
    assert "stage" not in est.history_[0]
    np.testing.assert_array_equal(est.history_[0]["log_alpha"], np.zeros(2))


def test_one_strength_has_no_selection():
    X, y, _ = noisy_breast_cancer(n_noise=10)
    est = HyperOptimizer(random_state=0, max_iter=8).fit(X, y)
    assert est.selection_ is None and est.fallback_ is False


@pytest.mark.parametrize("value, error", [
    (1.0, ValueError), (-0.1, ValueError), (np.nan, ValueError), ("half", TypeError),
    (True, TypeError),
])
def test_bad_check_fraction(value, error):
    X, y, _ = noisy_breast_cancer(n_noise=2)
    with pytest.raises(error, match="check_fraction"):
        HyperOptimizer(regularization="per-feature", check_fraction=value).fit(X, y)


def test_overlapping_held_out_parts_count_each_sample_once():
    X, y, groups = noisy_breast_cancer(n_noise=5)
    cv = list(ShuffleSplit(4, test_size=0.4, random_state=0).split(X))
    est = HyperOptimizer(cv=cv, regularization=groups)
    setup, _ = est._setup(X, y, None)
    _, check = _set_aside(setup, 0.5, 0)
    rng = np.random.default_rng(1)
    one = [rng.standard_normal(X.shape[1] + 1) for _ in check]
    many = [rng.standard_normal(X.shape[1] + 1) for _ in check]
    selection = _compare_on_check(setup, check, one, many, fit_intercept=True)
    records = np.concatenate(check)
    distinct = np.unique(records)
    assert records.shape[0] > distinct.shape[0] == selection["check_samples"]
    # reference: each sample's differences averaged over the splits that hold it out
    per_sample = {i: [] for i in distinct}
    for part, w1, w2 in zip(check, one, many):
        for i in part:
            z1, z2 = X[i] @ w1[:-1] + w1[-1], X[i] @ w2[:-1] + w2[-1]
            s = 1 if y[i] == 1 else -1
            per_sample[i].append(np.logaddexp(0, -s * z2) - np.logaddexp(0, -s * z1))
    d = np.array([np.mean(per_sample[i]) for i in distinct])
    np.testing.assert_allclose(selection["gain"], -d.mean(), rtol=1e-10)
    np.testing.assert_allclose(selection["std_error"],
                               np.std(d, ddof=1) / np.sqrt(d.shape[0]), rtol=1e-10)


def test_too_few_samples_to_set_aside_fall_back():
    X, y, groups = noisy_breast_cancer(n_noise=5)
    with pytest.warns(ScalarFallbackWarning, match=r"check_fraction=0.05 of the \d+ held-out samples .* sets aside fewer than 20"):
        est = HyperOptimizer(regularization=groups, check_fraction=0.05, cv=3,
                             random_state=0).fit(X[:300], y[:300])
    assert est.fallback_ and "gain" not in est.selection_


@pytest.mark.parametrize("stage", ["one", "many", "again"])
def test_a_callback_stop_ends_the_fit_in_any_run(stage):
    X, y, groups = noisy_breast_cancer()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    seen = []

    def callback(state):
        seen.append((state["stage"], state["iteration"]))
        return state["stage"] == stage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = HyperOptimizer(cv=cv, regularization=groups, callback=callback).fit(X, y)
    assert est.stop_reason_ == "callback"
    assert seen[-1][0] == stage and [s for s, _ in seen].count(stage) == 1
    assert [i for _, i in seen] == sorted(i for _, i in seen)
    assert est.history_[-1]["stage"] == stage
    assert est.fallback_ == (stage != "again")
    if est.fallback_:
        assert "stopped (callback)" in est.selection_["reason"]


def test_models_that_cannot_be_solved_to_precision_are_no_evidence():
    # an informative block at scale 0.01 and a noise block at scale 100, and
    # 20 inner iterations: the one strength's models without the samples set
    # aside stop short of the refit's precision, and their losses there would
    # flatter the many strengths (with the default 1000 they reach it)
    rng = np.random.RandomState(0)
    A, N = rng.randn(400, 20), rng.randn(400, 50)
    y = (rng.rand(400) < 1 / (1 + np.exp(-A @ rng.randn(20) / 2))).astype(int)
    X = np.hstack([0.01 * A, 100 * N])
    groups = np.r_[np.zeros(20), np.ones(50)].astype(int)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    with pytest.warns(ScalarFallbackWarning, match="could not be solved to precision"):
        est = HyperOptimizer(cv=cv, regularization=groups, inner_max_iter=20).fit(
            X_train, y_train)
    assert est.fallback_ and "gain" not in est.selection_


def test_a_few_heavy_weights_widen_the_standard_error():
    X, y, groups = noisy_breast_cancer(n_noise=5)
    sample_weight = np.ones(X.shape[0])
    sample_weight[:3] = 1e8
    est = HyperOptimizer(cv=3, regularization=groups)
    setup, _ = est._setup(X, y, sample_weight)
    _, check = _set_aside(setup, 0.5, 0)
    aside = np.concatenate(check)
    assert np.isin(np.arange(3), aside).sum() >= 1  # a heavy sample is set aside
    rng = np.random.default_rng(2)
    one = [rng.standard_normal(X.shape[1] + 1) for _ in check]
    many = [rng.standard_normal(X.shape[1] + 1) for _ in check]
    selection = _compare_on_check(setup, check, one, many, fit_intercept=True)
    d, w = [], []
    for part, w1, w2 in zip(check, one, many):
        z1, z2 = X[part] @ w1[:-1] + w1[-1], X[part] @ w2[:-1] + w2[-1]
        s = np.where(y[part] == 1, 1.0, -1.0)
        d.append(np.logaddexp(0, -s * z2) - np.logaddexp(0, -s * z1))
        w.append(sample_weight[part])
    d, w = np.concatenate(d), np.concatenate(w)
    mean = np.average(d, weights=w)
    # the unbiased variance for reliability weights, over the effective sample size
    variance = np.sum(w * (d - mean) ** 2) / (w.sum() - np.sum(w ** 2) / w.sum())
    n_effective = w.sum() ** 2 / np.sum(w ** 2)
    np.testing.assert_allclose(selection["gain"], -mean, rtol=1e-10)
    np.testing.assert_allclose(selection["std_error"], np.sqrt(variance / n_effective),
                               rtol=1e-8)
    assert n_effective < 4


@pytest.mark.parametrize("coefs", ["short", "count", "nan", "text"])
def test_initial_coef_of_the_criterion_is_checked(coefs):
    from hoag_shine import HeldOutCriterion, InnerProblem
    from hoag_shine.implicit.methods import get_method
    from hoag_shine.model.datafit import LogisticLoss
    X, y = make_classification(90, 4, random_state=0)
    y = 2.0 * y - 1
    folds = [(InnerProblem.from_data(X[:60], y[:60]), LogisticLoss(X[60:], y[60:]))]
    n = folds[0][0].n_coef
    given = {"short": [np.zeros(n - 1)], "count": [np.zeros(n), np.zeros(n)],
             "nan": [np.full(n, np.nan)], "text": [["a"] * n]}[coefs]
    with pytest.raises(ValueError, match="initial_coef must hold one finite vector"):
        HeldOutCriterion(folds, get_method("cg"), initial_coef=given)
    start = [np.arange(float(n))]
    with HeldOutCriterion(folds, get_method("cg"), initial_coef=start) as criterion:
        np.testing.assert_array_equal(criterion.initial_state(np.zeros(1))[0].w, start[0])


def test_a_held_out_part_left_empty_is_the_reason_given():
    X, y = make_classification(300, 5, random_state=0)
    est = HyperOptimizer(regularization="per-feature", cv=StratifiedKFold(60))
    setup, _ = est._setup(X, y, None)
    splits, why = _set_aside(setup, 0.9, 0)
    assert splits is None and "leaves the held-out part of split" in why and "empty" in why


def test_verbose_says_which_strengths_were_kept(capsys):
    X, y, groups = noisy_breast_cancer(n_noise=5)
    with pytest.warns(ScalarFallbackWarning):
        HyperOptimizer(regularization=groups, check_fraction=0.05, cv=3, verbose=1,
                       random_state=0).fit(X[:300], y[:300])
    out = capsys.readouterr().out
    assert "[HyperOptimizer] one strength kept: check_fraction=0.05" in out


def test_the_tight_solve_and_cg_check_their_inputs():
    from hoag_shine import InnerProblem
    from hoag_shine.solver.cg import conjugate_gradient
    from hoag_shine.solver.newton import solve_tightly
    X, y = make_classification(60, 4, random_state=0)
    problem = InnerProblem.from_data(X, 2.0 * y - 1, np.array([0, 0, 1, 1]))
    w0 = np.zeros(problem.n_coef)
    for log_alpha in (np.zeros(3), np.zeros(1), 0.0, np.array([0.0, np.nan])):
        with pytest.raises(ValueError, match="log_alpha must hold 2 finite numbers"):
            solve_tightly(problem, log_alpha, w0)
    for w in (np.zeros(3), np.full(problem.n_coef, np.nan)):
        with pytest.raises(ValueError, match="w0 must hold 4 finite numbers"):
            solve_tightly(problem, np.zeros(2), w)
    hessian = problem.hessian_operator(w0, np.zeros(2))
    with pytest.raises(ValueError, match="max_iter must be None or >= 0"):
        conjugate_gradient(hessian, np.ones(4), max_iter=-1)
    with pytest.raises(ValueError, match="rhs and x0 must be finite"):
        conjugate_gradient(hessian, np.full(4, np.nan))
