"""HyperOptimizer: l2-regularised logistic regression whose strengths are tuned by HOAG."""
import numbers
import warnings
from dataclasses import dataclass
from time import perf_counter

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedShuffleSplit, check_cv
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data
from scipy.special import expit, log_softmax, softmax

from ._validation import (SPARSE_FORMATS, check_bool, check_callable, check_group_labels,
                          check_int, check_real, check_real_array, check_sample_weight,
                          check_weighted_classes, is_bool)
from .outer.criterion import HeldOutCriterion
from .outer.escalation import BackwardEscalation
from .solver.initial import get_initial_matrix
from .model.problem import InnerProblem
from .solver.lbfgs import InnerConvergenceWarning
from .solver.newton import solve_tightly
from .implicit.methods import METHODS, HypergradientMethod, get_method
from .outer.loop import STOP_MESSAGES, TOLERANCE_SCHEDULES, hoag
from .model.scoring import get_scoring

#: largest |log(alpha)| accepted in lambda_bounds: exp(100) ~ 3e43 is far past
#: any useful strength, and the bound keeps every product with w finite
MAX_ABS_BOUND = 100.0
#: distance to a bound, as a fraction of the box's width, that counts as "at the bound"
NEAR_BOUND = 0.01
#: many strengths are kept when their loss on the held-out samples set aside is
#: lower than one strength's by more than CHECK_Z standard errors of the difference
CHECK_Z = 2.0
#: fewest evaluations worth a run of many strengths after the run of one
MIN_MANY_EVALUATIONS = 3
#: the run of many strengths resolves its loss to this fraction of the sampling
#: error of the held-out loss (or to tol, if finer): the comparison on the
#: samples set aside cannot see finer differences
MANY_TOL_FRACTION = 0.1


class ScalarFallbackWarning(UserWarning):
    """Per-feature or grouped strengths were not kept; one strength for all features was.

    Raised by :meth:`HyperOptimizer.fit` when the many strengths did not
    beat one strength on the held-out samples set aside for that comparison
    (see ``check_fraction``), or could not be tuned; ``fallback_`` is then
    True and ``selection_`` holds the comparison.
    """


class HyperOptimizer(ClassifierMixin, BaseEstimator):
    """Logistic regression with l2 strengths chosen by gradient-based bi-level optimization.

    The strengths minimise a smooth loss on held-out data (one validation
    split, or the sum over cross-validation folds) of the model trained on
    the rest: the logistic loss, or the one ``scoring`` names. HOAG follows
    the hypergradient of that loss, obtained
    by implicit differentiation with the backward pass given by ``method``.
    Two classes give binary logistic regression; more give multinomial
    logistic regression (softmax over the classes, one coefficient vector
    and one unpenalised intercept per class, a feature's strength shared by
    its classes' coefficients). The training loss is summed over samples
    (weighted by ``sample_weight``): ``alpha`` corresponds to ``1 / C`` in
    :class:`sklearn.linear_model.LogisticRegression`.

    Parameters
    ----------
    method : str or HypergradientMethod, default="shine"
        Backward pass: "shine" (the inner L-BFGS inverse-Hessian estimate),
        "shine-opa" (SHINE with outer-problem-aware extra secant updates),
        "shine-refine" (a few CG steps from the SHINE estimate), "shine-pcg"
        (CG preconditioned by it), "cg" (HOAG's conjugate gradient),
        "jacobian-free" (identity) or "exact" (dense solve, small problems);
        or a method object of :mod:`hoag_shine.implicit.methods`, whose own settings
        then replace ``opa_freq`` and ``backward_max_iter``.
    regularization : "scalar", "per-feature" or array-like of shape (n_features,)
        One strength, one per feature, or one per group given by an integer
        or string label per feature (fractional numbers are refused). Many
        strengths are tuned after one and kept only when they beat it on
        held-out samples they were not tuned on (see ``check_fraction``).
    fit_intercept : bool, default=True
        Fit an unpenalised intercept.
    scoring : str or ProbabilityLoss, default="neg_log_loss"
        The held-out loss the strengths minimise, by scikit-learn's scorer
        name: "neg_log_loss" (the logistic loss; None means the same) or
        "neg_brier_score" (the Brier score, scaled as
        :func:`sklearn.metrics.brier_score_loss` scales it); or a
        :class:`~hoag_shine.ProbabilityLoss`, any smooth loss of the predicted
        probabilities with its gradient. Both are weighted by the sample
        and class weights. Scorers of predicted labels or ranks (accuracy,
        F1, AUC, ...) are refused: their derivative in the strengths is zero
        wherever it exists. See :ref:`scoring`.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, ``{label: weight}`` (classes left out weigh
        1), multiplied into ``sample_weight``: a fit with them is the fit
        with the matching sample weights, in the training loss of every
        split, in the held-out loss and in the final refit. "balanced" gives
        class ``k`` the weight ``n_samples / (n_classes * n_k)`` on the ``y``
        given to ``fit`` (``n_k`` its count, weighted by ``sample_weight``),
        the weights of
        :class:`~sklearn.linear_model.LogisticRegressionCV`; unlike there,
        they also weigh the held-out loss, which is what a weighted or
        balanced validation loss asks for.
    max_iter : int, default=30
        Maximum number of outer iterations: evaluations of the held-out
        loss, those that confirm a stop and verify the answer included
        (``n_iter_ <= max_iter``). Not the ``max_iter`` of
        :class:`~sklearn.linear_model.LogisticRegressionCV`, which caps the
        solver's iterations for each ``C`` (here ``inner_max_iter``): 30 to
        100 evaluations suffice for one strength, and ``max_iter=1000``
        allows a thousand trainings.
    tol : float, default=1e-4
        Relative precision of the held-out loss: the outer loop stops when
        its model of the loss promises less than ``tol`` times the loss of
        further decrease (a promise checked by one accurate evaluation), and
        decreases smaller than that are not resolved. Not the ``tol`` of
        :class:`~sklearn.linear_model.LogisticRegressionCV`, the solver's
        tolerance (here ``tolerance_init`` and its schedule, tightened where
        a decision needs it).
    lambda_init : float or array-like, default=0.0
        Initial ``log(alpha)`` (a scalar is broadcast to every strength).
    lambda_bounds : (float, float), default=(-12.0, 12.0)
        Box on ``log(alpha)``.
    tolerance_init : float, default=1e-3
        Initial tolerance ``eps_0``: the inner solves stop at ``eps_k`` times
        the initial gradient norm, and CG-based backward passes at relative
        residual ``eps_k``.
    tolerance_decrease : {"exponential", "quadratic", "cubic", "constant"}, default="exponential"
        Schedule of the inner tolerance.
    tolerance_factor : float, default=0.9
        Factor of the exponential schedule.
    memory_size : int, default=None
        L-BFGS memory; None takes the method's default (10 for cg,
        jacobian-free and exact, 30 for the SHINE variants, 60 for OPA).
    warm_start_memory : bool, default=True
        Carry the L-BFGS memory from one outer step to the next.
    opa_freq : int or "decreasing", default=5
        Inner iterations between OPA updates (method "shine-opa");
        "decreasing" makes it ``max_iter - k`` at outer iteration ``k``, the
        schedule of the SHINE paper's code.
    backward_max_iter : int, default=None
        CG iteration cap of the CG-based methods (shine-refine: 5).
    inner_max_iter : int, default=1000
        Inner iteration cap.
    validation_fraction : float, default=0.25
        Fraction held out for the outer loss when ``cv`` is None.
    check_fraction : float in [0, 1), default=0.5
        With per-feature or grouped strengths: the fraction of the held-out
        samples set aside to judge them. One strength is tuned first (from
        the mean of ``lambda_init``). Then the samples set aside leave every
        split, training parts included, and the many strengths are tuned
        from the one on what is left. They are kept when their models' loss
        on the samples set aside is lower than that of the one strength's
        models (trained on the same samples) by more than two standard
        errors of the paired difference, and are then tuned again on all
        the samples, from where they are. Otherwise the one strength is
        kept, for every feature, with a :class:`ScalarFallbackWarning`
        (``fallback_``). The samples are set aside class by class, seeded
        by ``random_state`` (0 when None); the runs share ``max_iter``. 0
        tunes the many strengths directly from ``lambda_init`` on all the
        held-out samples, with nothing to guard against over-fitting them
        (see :ref:`strengths-generalize`).
    cv : int, cross-validation splitter or iterable, default=None
        When given, the outer loss is the sum of the folds' held-out losses.
    n_jobs : int, default=None
        Number of joblib workers evaluating the folds in parallel; None
        defers to the active :func:`joblib.parallel_config` (one worker
        outside any). When the effective number of workers is more than
        one, the configuration's backend -- threading, loky, Dask, ... --
        runs the folds of every outer iteration, whatever the problem's
        size (a small problem pays the backend's overhead, see the user
        guide's page on parallel folds); otherwise they run in turn in this
        process. The workers and the fold data are set up once per fit and
        released at its end.
    refit : bool, default=True
        Refit on all of ``X`` at the chosen strengths. Otherwise ``coef_`` is
        the inner solution of the split (averaged over folds with ``cv``).
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split (``cv=None``).
    verbose : int, default=0
        1: a line on what is tuned, one per accepted step (the strengths as
        ``alpha`` and ``C``, the held-out loss per sample, the elapsed time
        and an estimate of what is left), and the answer; 2: one line per
        evaluation with the loop's internals instead (see :func:`hoag`); 3:
        also one line per split and evaluation.
    callback : callable, default=None
        ``callback(state)`` after every outer iteration; ``state`` is a dict
        with the history record plus ``coef`` and ``intercept``. Returning
        True stops the optimisation.
    initial_matrix : {"auto", "gamma", "hessian-diagonal"} or callable, default="auto"
        Initial matrix of the inner L-BFGS two-loop recursion, used by the
        inner solver's steps and by the SHINE inverse estimate: ``gamma I``
        (``gamma = s^T y / y^T y`` of the newest pair), or the inverse
        Hessian diagonal ``(diag(X^T D X) + alpha)^{-1}`` at the current
        iterate; "auto" takes the diagonal with per-feature or grouped
        strengths and ``gamma I`` with one strength (see
        :ref:`choosing-initial-matrix`). A callable is a factory as
        :func:`get_initial_matrix` describes.

    Attributes
    ----------
    log_alpha_ : ndarray of shape (n_hyper,)
        Chosen ``log(alpha)``.
    alpha_ : ndarray of shape (n_hyper,)
        Chosen strengths.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients: one row for two classes (of ``classes_[1]``), one row
        per class for more.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercept(s) (0 when not fitted); with several classes they sum to
        zero (the softmax is unchanged by a common shift).
    classes_ : ndarray of shape (n_classes,)
        Class labels; with two, ``classes_[1]`` is the positive class.
    n_iter_ : int
        Number of outer iterations (evaluations of the outer loss, rejected
        steps included).
    Cs_ : ndarray of shape (n_evaluations, n_hyper)
        ``C = 1 / alpha`` of every evaluation (``n_iter_`` of them), in the
        order of ``history_``
        (the path of the run, rejected trials and re-evaluations included,
        where :class:`~sklearn.linear_model.LogisticRegressionCV` lists its
        grid).
    scores_ : ndarray of shape (n_evaluations,)
        Validation score of every evaluation, as ``best_score_`` (one
        number over all folds, where
        :class:`~sklearn.linear_model.LogisticRegressionCV` keeps a grid per
        class and fold).
    history_ : list of dict
        One record per evaluation of the outer loss: ``iteration``, ``time``
        (cumulative seconds, the callback excluded), ``log_alpha``,
        ``score`` (as ``best_score_``),
        ``outer_loss`` (summed over the held-out samples), ``loss_estimate``
        (corrected for the inexact inner solve), ``loss_uncertainty`` (its
        first-order size), ``calibration`` (the factor the loop applies to
        it),
        ``grad``, ``accepted``, ``decision`` ("start", "accept", "reject",
        "uncertain", "refresh" for a re-evaluation of the current point,
        "verify" for a final tight evaluation of a candidate answer),
        ``estimate`` (the hypergradient method used, e.g. "shine+cg"),
        ``radius``, ``tolerance``, ``n_inner_iter``, ``n_grad_evals``,
        ``n_hvp``, ``time_forward``, ``time_backward``; a list of records that
        ``pandas.DataFrame(history_)`` turns into a table.
    n_features_in_ : int
        Number of features seen during fit.
    C_ : ndarray of shape (n_hyper,)
        Inverse strengths ``1 / alpha_``, the ``C`` of
        :class:`sklearn.linear_model.LogisticRegression` (whose training loss
        is also summed over samples).
    stop_reason_ : str
        Why the outer loop stopped: "tol" (the loop's model promised less
        than ``tol`` times the loss of further decrease), "radius" (no step
        longer than 1e-3 in ``log(alpha)`` decreased the loss by more than
        its uncertainty),
        "bounds" (the hypergradient pushes every strength against its
        bound), "max_iter", "callback", or "not_finite" (the loss at
        ``lambda_init`` is not finite); the messages are in
        :data:`hoag_shine.outer.loop.STOP_MESSAGES`.
    fallback_ : bool
        True when per-feature or grouped strengths were asked for and one
        strength was kept (see ``check_fraction``); ``log_alpha_`` then
        holds the one strength for every feature or group.
    selection_ : dict or None
        With per-feature or grouped strengths and ``check_fraction > 0``:
        ``kept`` ("many" or "one"), ``reason``, and after a run of many
        strengths ``one_loss`` and ``many_loss`` (the weighted loss per
        sample of each run's models on the samples set aside), ``gain``
        (their difference), ``std_error`` (its standard error) and
        ``check_samples``; None otherwise. ``history_`` then holds every
        run, each record's ``stage`` saying which: "one" (one strength),
        "many" (the many strengths without the samples set aside) and,
        when they are kept, "again" (the many strengths tuned again on all
        the samples, from where the previous run ended).
    best_score_ : float
        Validation score at ``log_alpha_`` in the sign and scale of
        scikit-learn's scorer of ``scoring``: minus the mean loss per
        held-out sample (the summed loss divided by the number of held-out
        samples, or by their total weight with sample or class weights,
        summed over the folds with ``cv``).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from hoag_shine import HyperOptimizer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = HyperOptimizer(random_state=0).fit(X, y)
    >>> bool(clf.score(X, y) > 0.95)
    True
    """

    def __init__(self, method="shine", *, regularization="scalar", fit_intercept=True,
                 scoring="neg_log_loss", class_weight=None, max_iter=30, tol=1e-4,
                 lambda_init=0.0, lambda_bounds=(-12.0, 12.0),
                 tolerance_init=1e-3, tolerance_decrease="exponential",
                 tolerance_factor=0.9, memory_size=None, warm_start_memory=True,
                 opa_freq=5, backward_max_iter=None, inner_max_iter=1000,
                 validation_fraction=0.25, check_fraction=0.5, cv=None, n_jobs=None,
                 refit=True,
                 random_state=None, verbose=0, callback=None, initial_matrix="auto"):
        self.method = method
        self.regularization = regularization
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.lambda_init = lambda_init
        self.lambda_bounds = lambda_bounds
        self.tolerance_init = tolerance_init
        self.tolerance_decrease = tolerance_decrease
        self.tolerance_factor = tolerance_factor
        self.memory_size = memory_size
        self.warm_start_memory = warm_start_memory
        self.opa_freq = opa_freq
        self.backward_max_iter = backward_max_iter
        self.initial_matrix = initial_matrix
        self.inner_max_iter = inner_max_iter
        self.validation_fraction = validation_fraction
        self.check_fraction = check_fraction
        self.cv = cv
        self.n_jobs = n_jobs
        self.refit = refit
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- validation --------------------------------------------------------

    def _check_params(self):
        if not (isinstance(self.method, HypergradientMethod)
                or (isinstance(self.method, str) and self.method in METHODS)):
            raise ValueError(f"method must be one of {sorted(METHODS)} or a "
                             f"HypergradientMethod, got {self.method!r}")
        check_bool("fit_intercept", self.fit_intercept)
        get_scoring(self.scoring)
        if isinstance(self.class_weight, str) and self.class_weight != "balanced":
            raise ValueError(f"class_weight must be None, 'balanced' or a dict "
                             f"{{label: weight}}, got {self.class_weight!r}")
        if not (self.class_weight is None or isinstance(self.class_weight, (str, dict))):
            raise TypeError(f"class_weight must be None, 'balanced' or a dict "
                            f"{{label: weight}}, got {self.class_weight!r}")
        check_int("max_iter", self.max_iter, 1)
        check_int("inner_max_iter", self.inner_max_iter, 1)
        if isinstance(self.opa_freq, str):
            if self.opa_freq != "decreasing":
                raise ValueError(f"opa_freq must be an integer >= 1 or 'decreasing', "
                                 f"got {self.opa_freq!r}")
        else:
            check_int("opa_freq", self.opa_freq, 1)
        check_int("memory_size", self.memory_size, 1, allow_none=True)
        check_int("backward_max_iter", self.backward_max_iter, 0, allow_none=True)
        get_initial_matrix(self.initial_matrix)
        check_real("tol", self.tol, 0.0)
        check_real("tolerance_init", self.tolerance_init, 0.0, low_open=True)
        if not (isinstance(self.tolerance_decrease, str)
                and self.tolerance_decrease in TOLERANCE_SCHEDULES):
            raise ValueError(f"tolerance_decrease must be one of "
                             f"{sorted(TOLERANCE_SCHEDULES)}, got {self.tolerance_decrease!r}")
        check_real("tolerance_factor", self.tolerance_factor, 0.0, 1.0, low_open=True)
        check_bool("warm_start_memory", self.warm_start_memory)
        check_bool("refit", self.refit)
        bounds = _check_bounds(self.lambda_bounds)
        check_real_array("lambda_init", self.lambda_init, ndim=(0, 1))
        if self.cv is None:
            check_real("validation_fraction", self.validation_fraction, 0.0, 1.0,
                       low_open=True, high_open=True)
        check_real("check_fraction", self.check_fraction, 0.0, 1.0, high_open=True)
        n_jobs = check_int("n_jobs", self.n_jobs, allow_none=True)
        if n_jobs == 0:
            raise ValueError("n_jobs must be None, a positive integer or a negative one "
                             "(-1: all processors), got 0")
        try:
            check_random_state(self.random_state)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"random_state must be None, an integer in [0, 2**32 - 1] "
                             f"or a numpy RandomState, got {self.random_state!r}") from exc
        if not is_bool(self.verbose):
            check_int("verbose", self.verbose, 0)
        check_callable("callback", self.callback)
        return bounds

    def _groups(self, n_features):
        reg = self.regularization
        if isinstance(reg, str):
            if reg == "scalar":
                return None, 1
            if reg == "per-feature":
                return "per-feature", n_features
            raise ValueError("regularization must be 'scalar', 'per-feature' or an array "
                             f"of group labels, got {reg!r}")
        if reg is None or np.ndim(reg) != 1:
            raise ValueError("regularization must be 'scalar', 'per-feature' or a 1-d array "
                             f"of group labels, got {reg!r}")
        groups = check_group_labels("regularization", reg, n_features)
        return groups, int(groups.max()) + 1

    def _splits(self, X, y, sample_weight):
        if self.cv is None:
            splitter = StratifiedShuffleSplit(
                n_splits=1, test_size=self.validation_fraction,
                random_state=check_random_state(self.random_state))
            try:
                splits = list(splitter.split(X, y))
            except ValueError as exc:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction!r} of {X.shape[0]} "
                    f"samples cannot put every class on each side of the validation "
                    f"split ({exc}); more samples or another validation_fraction") from exc
        else:
            splits = _cv_splits(self.cv, X, y)
        splits = [_check_split(i, split, X.shape[0]) for i, split in enumerate(splits)]
        n_classes = int(y.max()) + 1
        for i, (train, test) in enumerate(splits):
            _check_classes(i, train, test, y, sample_weight, n_classes)
        return splits

    # -- fitting -----------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Choose the strengths by HOAG and fit the model.

        The estimator keeps its previous state (unfitted, or its previous
        fit) until the fit ends, and then takes all the attributes of the
        new fit at once: a copy made during the fit (by the callback, or by
        another thread) is never half fitted, and a fit that fails or is
        interrupted (an exception raised by the callback, KeyboardInterrupt
        included) leaves the estimator exactly as it was before the call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels (two classes or more).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample, multiplying its term in the
            training loss and in the held-out loss of every split (integer
            weights are equivalent to repeated rows, given the same splits),
            and multiplied by ``class_weight``: for instance
            ``compute_sample_weight("balanced", y)`` of
            :mod:`sklearn.utils.class_weight` gives the fit of
            ``class_weight="balanced"``.

        Returns
        -------
        HyperOptimizer
            The fitted estimator (``self``).
        """
        fitted = self._fit(X, y, sample_weight)
        stale = set(_fitted_state(self)) - set(fitted)
        vars(self).update(fitted)
        for name in stale:  # e.g. feature_names_in_ of a fit on a DataFrame
            delattr(self, name)
        return self

    def _fit(self, X, y, sample_weight):
        """The body of :meth:`fit`: the fitted attributes, none of them set on ``self``."""
        start = perf_counter()
        setup, fitted = self._setup(X, y, sample_weight)
        if setup.n_hyper > 1 and self.check_fraction > 0:
            tuned = self._tune_many(setup)
        else:
            tuned = self._tune(setup, setup.groups, setup.splits, setup.lam0,
                               self.max_iter)
            tuned.selection = None
        result = tuned.result
        _warn_if_gave_up(result, setup.bounds)
        log_alpha = np.broadcast_to(result.log_alpha, (setup.n_hyper,)).copy()
        alpha = np.exp(log_alpha)
        fitted.update(
            log_alpha_=log_alpha, alpha_=alpha, C_=1.0 / alpha, n_iter_=len(tuned.history),
            history_=tuned.history, stop_reason_=result.stop_reason,
            scores_=np.array([r["score"] for r in tuned.history]),
            Cs_=np.exp(-np.array([r["log_alpha"] for r in tuned.history])),
            best_score_=-result.outer_loss / tuned.weight,
            fallback_=tuned.selection is not None and tuned.selection["kept"] == "one",
            selection_=tuned.selection)
        w = np.mean([r.w for r in result.results], axis=0)
        groups = setup.groups if result.log_alpha.shape[0] > 1 else None
        if self.refit:
            problem = InnerProblem.from_data(setup.X, setup.codes, groups, self.fit_intercept,
                                             n_classes=setup.n_classes,
                                             sample_weight=setup.sample_weight)
            w = self._refit(problem, w, result.log_alpha)
        else:
            problem = tuned.problem  # the layout of w is the same for every split
        coef, intercept = problem.split_coef(w)
        fitted.update(coef_=np.array(coef).reshape(-1, setup.X.shape[1]),
                      intercept_=np.atleast_1d(np.array(intercept, dtype=float)))
        if self.verbose:
            print(f"[HyperOptimizer] {STOP_MESSAGES[result.stop_reason]}; best_score_ "
                  f"{fitted['best_score_']:.6g}; fit in {perf_counter() - start:.2f}s",
                  flush=True)
        return fitted

    def _setup(self, X, y, sample_weight):
        """Validate the parameters and the data; the fit's setup and its first attributes."""
        bounds = self._check_params()
        # validated through an unfitted twin, which takes n_features_in_ (and
        # feature_names_in_) in place of this estimator
        twin = type(self)(**self.get_params(deep=False))
        with np.errstate(over="ignore", invalid="ignore"):
            # scikit-learn's finiteness check sums X, which overflows near 1e308
            X, y = validate_data(twin, X, y, accept_sparse=SPARSE_FORMATS,
                                 dtype=np.float64)
        fitted = _fitted_state(twin)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y")
        if y_type not in ("binary", "multiclass"):
            raise ValueError(f"y must hold class labels of one output, got a {y_type} target")
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        classes, codes = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(f"y holds one class ({classes[0]!r}); "
                             "HyperOptimizer needs samples of at least two classes")
        check_weighted_classes(codes, sample_weight, classes)
        fitted["classes_"] = classes
        codes = codes.astype(np.intp)
        sample_weight = _class_weighted(self.class_weight, classes, codes, sample_weight)
        groups, n_hyper = self._groups(X.shape[1])
        lam0 = np.broadcast_to(np.asarray(self.lambda_init, dtype=float), (n_hyper,)) \
            if np.ndim(self.lambda_init) == 0 else np.asarray(self.lambda_init, dtype=float)
        if lam0.shape != (n_hyper,) or not np.all(np.isfinite(lam0)):
            raise ValueError(f"lambda_init must be finite, a scalar or {n_hyper} values, "
                             f"got {self.lambda_init!r}")
        method = get_method(self.method, max_iter=self.backward_max_iter,
                            freq=self.opa_freq)
        splits = self._splits(X, codes, sample_weight)
        setup = _Setup(X=X, codes=codes, sample_weight=sample_weight,
                       n_classes=classes.shape[0], groups=groups, n_hyper=n_hyper,
                       lam0=lam0.copy(), bounds=tuple(bounds), method=method,
                       scoring=get_scoring(self.scoring), splits=splits)
        return setup, fitted

    def _tune(self, setup, groups, splits, lam0, max_iter, what="", initial_coef=None,
              tol=None):
        """One HOAG run: the strengths of ``groups`` on ``splits``, (train, held-out) pairs."""
        s = setup
        folds = [(InnerProblem.from_data(s.X[train], s.codes[train], groups,
                                         self.fit_intercept, n_classes=s.n_classes,
                                         sample_weight=s.weights(train)),
                  s.scoring.outer_loss(s.X[part], s.codes[part], s.n_classes,
                                       self.fit_intercept, s.weights(part)))
                 for train, part in splits]
        weight = sum(outer.total_weight for _, outer in folds)
        n_hyper = lam0.shape[0]
        if self.verbose:
            size = (f"{weight:.0f} held-out samples" if s.sample_weight is None
                    else f"held-out weight {weight:.6g}")
            print(f"[HyperOptimizer] tuning {n_hyper} strength{'s' * (n_hyper > 1)}{what} "
                  f"on {len(folds)} split{'s' * (len(folds) > 1)} ({size}): loss = "
                  f"{s.scoring.name} per held-out sample, at most {max_iter} "
                  "evaluations", flush=True)
        criterion = HeldOutCriterion(
            folds, s.method, memory_size=self.memory_size,
            inner_max_iter=self.inner_max_iter,
            warm_start_memory=self.warm_start_memory, n_jobs=self.n_jobs,
            initial_matrix=self.initial_matrix, initial_coef=initial_coef)
        with criterion:  # releases the workers and the fold data, also on error
            result = hoag(criterion, lam0.copy(), max_iter=max_iter,
                          tol=self.tol if tol is None else tol,
                          bounds=s.bounds, tolerance_init=self.tolerance_init,
                          tolerance_decrease=self.tolerance_decrease,
                          tolerance_factor=self.tolerance_factor, callback=self.callback,
                          verbose=self.verbose, escalation=BackwardEscalation(s.method),
                          loss_scale=weight)
        # scores in the scorer's sign and scale: minus the mean loss per sample
        history = [dict(r, score=-r["outer_loss"] / weight) for r in result.history]
        return _Tuned(result=result, weight=weight, history=history, problem=folds[0][0],
                      tol=self.tol if tol is None else tol)

    def _tune_many(self, setup):
        """Many strengths, kept only when they beat one strength on samples set aside.

        One strength is tuned first, on the splits as given. Then
        ``check_fraction`` of the held-out samples are set aside, out of
        every training and held-out part, and the many strengths are tuned
        from the one on what is left. On the samples set aside, which
        neither run's models nor the many strengths' choice saw, the many
        strengths are kept when their models' loss is below the one
        strength's (solved on the same training parts) by more than
        ``CHECK_Z`` standard errors of the paired difference.
        """
        s = setup
        one = self._tune(s, None, s.splits, s.lam0.mean(keepdims=True), self.max_iter,
                         " (one first)")
        for r in one.history:
            r.update(log_alpha=np.full(s.n_hyper, r["log_alpha"][0]), stage="one")
        left = self.max_iter - one.result.n_iter
        splits, check = _set_aside(s, self.check_fraction, self.random_state)
        reason = None
        if one.result.stop_reason in ("callback", "not_finite"):
            reason = f"the run of one strength stopped ({one.result.stop_reason})"
        elif left < MIN_MANY_EVALUATIONS:
            reason = (f"max_iter={self.max_iter} left {left} evaluations after the "
                      f"{one.result.n_iter} of one strength")
        elif splits is None:
            reason = ("the held-out samples are too few to set some aside and keep every "
                      "class in every training part")
        if reason is not None:
            one.selection = dict(kept="one", reason=reason)
            return self._fall_back(one, s)
        losses, weights = _check_losses(s, s.held_out, [r.w for r in one.result.results],
                                        self.fit_intercept)
        start = [_solve(s, train, None, one.result.log_alpha, r.w, self)
                 for (train, _), r in zip(splits, one.result.results)]
        many = self._tune(s, s.groups, splits, np.full(s.n_hyper, one.result.log_alpha[0]),
                          left, " (then many)", start,
                          tol=max(self.tol, MANY_TOL_FRACTION * _relative_error(losses, weights)))
        offset = one.history[-1]["time"] if one.history else 0.0
        for i, r in enumerate(many.history):
            r.update(iteration=one.result.n_iter + i, time=offset + r["time"], stage="many")
        selection = _compare_on_check(s, check, start, [r.w for r in many.result.results],
                                      self.fit_intercept)
        keep = many.result.stop_reason != "not_finite" and \
            selection["gain"] > CHECK_Z * selection["std_error"]
        kept, dropped = (many, one) if keep else (one, many)
        for r in dropped.history:
            r["answer"] = False
        selection.update(kept="many" if keep else "one", reason=(
            "the many strengths' loss on the samples set aside is lower" if keep else
            "the many strengths' loss on the samples set aside is not lower by more "
            "than its uncertainty"))
        kept.history, kept.selection = one.history + many.history, selection
        if not keep:
            return self._fall_back(one, s)
        return self._again(s, many, one.result.n_iter + many.result.n_iter)

    def _again(self, setup, many, used):
        """The kept many strengths tuned again on the splits as given, from where they are.

        What the samples set aside validated is the tuning of many
        strengths; the answer is that tuning on all the samples, which the
        final model is fitted on. Without evaluations left, the strengths
        tuned without the samples set aside are the answer.
        """
        left = self.max_iter - used
        if left < MIN_MANY_EVALUATIONS:
            return many
        again = self._tune(setup, setup.groups, setup.splits, many.result.log_alpha, left,
                           " (again, with the samples set aside)",
                           [r.w for r in many.result.results], tol=many.tol)
        offset = many.history[-1]["time"]
        for i, r in enumerate(again.history):
            r.update(iteration=used + i, time=offset + r["time"], stage="again")
        for r in many.history:
            r["answer"] = False
        again.history = many.history + again.history
        again.selection = dict(many.selection, kept="many")
        return again

    @staticmethod
    def _fall_back(one, setup):
        """The run of one strength as the answer, with a ScalarFallbackWarning."""
        sel = one.selection
        detail = ""
        if "gain" in sel:
            detail = (f" (loss per sample there {sel['many_loss']:.6g} against "
                      f"{sel['one_loss']:.6g}, difference {-sel['gain']:.2g} +- "
                      f"{sel['std_error']:.2g})")
        warnings.warn(f"HyperOptimizer: the {setup.n_hyper} strengths were not kept: "
                      f"{sel['reason']}{detail}; one strength for all features is "
                      "(fallback_ is True)", ScalarFallbackWarning, stacklevel=5)
        return one

    def _refit(self, problem, w0, log_alpha):
        """Solve on all the data at ``log_alpha`` to the refit's precision."""
        w, g_norm, target = solve_tightly(problem, log_alpha, w0,
                                          max_iter=self.inner_max_iter)
        if not g_norm <= target:
            warnings.warn(f"the final refit stopped at gradient norm {g_norm:.3e} > "
                          f"{target:.3e}; raise inner_max_iter",
                          InnerConvergenceWarning, stacklevel=4)
        return w

    # -- prediction --------------------------------------------------------

    def decision_function(self, X):
        """Linear predictor: signed distance (two classes) or one score per class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``X @ coef_.T + intercept_``: for two classes a vector whose
            positive values predict ``classes_[1]``; for more, one column
            per class, the largest predicting.
        """
        check_is_fitted(self)
        # scikit-learn's finiteness test sums X first: +-1e308 entries make that
        # sum NaN (a warning) before the entries themselves are checked
        with np.errstate(over="ignore", invalid="ignore"):
            X = validate_data(self, X, accept_sparse=SPARSE_FORMATS, dtype=np.float64,
                              reset=False)
            z = np.asarray(X @ self.coef_.T) + self.intercept_
            if z.shape[1] == 1:
                z = z[:, 0]
        # two classes: an infinite score still has a sign; several: no softmax
        if np.isnan(z).any() or (z.ndim == 2 and not np.all(np.isfinite(z))):  # +inf and -inf terms: no sign to predict from
            raise ValueError("X @ coef_ overflows for some samples (X holds values up to "
                             f"{abs(X).max():.3g}); rescale X as the training data was")
        return z

    def predict_proba(self, X):
        """Class probabilities, columns ordered as ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probability of each class (the logistic function of the decision
            for two classes, its softmax for more); each row sums to 1.
        """
        z = self.decision_function(X)
        if z.ndim == 2:
            return softmax(z, axis=1)
        p = expit(z)
        return np.column_stack([1.0 - p, p])

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed without underflow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Logarithms of the class probabilities.
        """
        z = self.decision_function(X)
        if z.ndim == 2:
            return log_softmax(z, axis=1)
        return np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            The class of largest probability (for two classes:
            ``classes_[1]`` where the decision function is positive).
        """
        check_is_fitted(self)
        z = self.decision_function(X)
        if z.ndim == 2:
            return self.classes_[np.argmax(z, axis=1)]
        return self.classes_[(z > 0).astype(int)]


def _fitted_state(estimator):
    """The fitted attributes (names ending in "_", like ``n_features_in_``)."""
    return {name: value for name, value in vars(estimator).items()
            if name.endswith("_") and not name.startswith("__")}


def _warn_if_gave_up(result, bounds):
    """ConvergenceWarning for the ways a HOAG run can end short of an optimum."""
    reasons = []
    lam, grad = result.log_alpha, result.grad
    # "near": within 1% of the box's width, where a step toward the bound
    # would be cut by it
    near = NEAR_BOUND * (bounds[1] - bounds[0])
    for side, value, outward in (("lower", bounds[0], grad > 0),
                                 ("upper", bounds[1], grad < 0)):
        hit = np.abs(lam - value) <= near
        if not hit.any():
            continue
        where = (f"{hit.sum()} of {lam.shape[0]} log(alpha)" if lam.shape[0] > 1
                 else f"log(alpha) = {lam[0]:.4g}")
        pushing = hit & outward
        if pushing.any():
            reasons.append(f"{where} ended at or near the {side} bound {value:g} with the "
                           f"outer loss still decreasing toward it ({pushing.sum()} "
                           "pushing outward); widen lambda_bounds")
        else:
            reasons.append(f"{where} ended at or near the {side} bound {value:g}, but the "
                           "outer loss was not decreasing toward it")
    if result.stop_reason == "max_iter":
        reasons.append(f"the outer loop stopped at max_iter={result.n_iter} evaluations "
                       "before it could show that less than tol was left to gain; raise "
                       "max_iter")
    tried = any(r["decision"] in ("reject", "uncertain") for r in result.history)
    if tried and result.stop_reason != "bounds" \
            and np.array_equal(lam, result.history[0]["log_alpha"]):
        reasons.append("no step decreased the outer loss by more than its uncertainty; "
                       "the strengths stayed at lambda_init")
    for r in result.results:
        if not r.inner.success:
            reasons.append("the inner solver did not reach its tolerance at the final "
                           f"strengths ({r.inner.message}); raise inner_max_iter or "
                           "loosen tolerance_init")
            break
    else:
        if result.unsolved:
            reasons.append("the inner solver stopped short of its tolerance at some "
                           "evaluated strengths, so the losses compared there, the start's "
                           "included, may be off by more than their uncertainties; "
                           "standardise X (features of very different scales make the "
                           "inner problem ill-conditioned) or raise inner_max_iter")
    for reason in reasons:
        warnings.warn(f"HyperOptimizer: {reason}.", ConvergenceWarning, stacklevel=4)


def _class_weighted(class_weight, classes, codes, sample_weight):
    """``sample_weight`` times the weight of each sample's class (None without either).

    "balanced" weighs class ``k`` by ``n / (n_classes n_k)``, counts weighted
    by ``sample_weight``, as scikit-learn's ``compute_class_weight`` (and
    LogisticRegressionCV) computes it; a dict maps labels to weights, the
    classes it leaves out weighing 1.
    """
    if class_weight is None:
        return sample_weight
    n_classes = classes.shape[0]
    if isinstance(class_weight, str):
        weights = compute_class_weight("balanced", classes=np.arange(n_classes), y=codes,
                                       sample_weight=sample_weight)
    else:
        weights = _class_weight_dict(class_weight, classes)
    combined = weights[codes] if sample_weight is None else weights[codes] * sample_weight
    name = "class_weight" if sample_weight is None else "sample_weight times class_weight"
    combined = check_sample_weight(combined, codes.shape[0], name)
    check_weighted_classes(codes, combined, classes, "class_weight")
    return combined


def _class_weight_dict(class_weight, classes):
    """The weight of each class from ``{label: weight}``, validated."""
    index = {label: k for k, label in enumerate(classes.tolist())}
    weights = np.ones(classes.shape[0])
    for label, weight in class_weight.items():
        if label not in index:
            raise ValueError(f"class_weight has the label {label!r}, which is not a class "
                             f"of y (classes: {classes.tolist()})")
        if is_bool(weight) or not isinstance(weight, numbers.Real):
            raise TypeError(f"class_weight must map labels to numbers, got {weight!r} "
                            f"for {label!r}")
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"class_weight must map labels to finite numbers >= 0, got "
                             f"{weight!r} for {label!r}")
        weights[index[label]] = float(weight)
    return weights


def _check_classes(i, train, test, codes, sample_weight, n_classes):
    """Refuse a split whose training part misses a class or whose held-out part has one."""
    def present(idx):
        if sample_weight is not None:
            idx = idx[sample_weight[idx] > 0]
        return np.unique(codes[idx])

    held_out = present(test)
    if held_out.shape[0] < 2:
        raise ValueError(
            f"the held-out part of split {i} holds a single class (of positive weight); "
            "at least two are needed (more samples, another cv or validation_fraction)")
    trained = present(train)
    if trained.shape[0] < n_classes:
        which = "both classes are" if n_classes == 2 else "every class is"
        raise ValueError(
            f"the training part of split {i} holds {trained.shape[0]} of the "
            f"{n_classes} classes (of positive weight); {which} needed there (more "
            "samples, another cv or validation_fraction)")


def _is_pair(value):
    try:
        return len(value) == 2
    except TypeError:
        return False


def _check_bounds(lambda_bounds):
    """``lambda_bounds`` as a float array ``[low, high]``, validated."""
    message = (f"lambda_bounds must be two numbers (low, high) in [-{MAX_ABS_BOUND:g}, "
               f"{MAX_ABS_BOUND:g}] with low < high, got {lambda_bounds!r}")
    if not _is_pair(lambda_bounds) or isinstance(lambda_bounds, str) or any(
            is_bool(b) or not isinstance(b, numbers.Real) for b in lambda_bounds):
        raise ValueError(message)
    bounds = np.array([float(b) for b in lambda_bounds])
    if not (np.all(np.abs(bounds) <= MAX_ABS_BOUND) and bounds[0] < bounds[1]):
        raise ValueError(message)
    return bounds


def _cv_splits(cv, X, y):
    """The list of splits given by ``cv`` (an int >= 2, a splitter or an iterable of pairs)."""
    expected = ("cv must be None, an integer >= 2, a cross-validation splitter or an "
                "iterable of (train, test) index pairs")
    if is_bool(cv) or isinstance(cv, (str, bytes)) or (
            isinstance(cv, numbers.Number) and not isinstance(cv, numbers.Integral)):
        raise TypeError(f"{expected}, got {cv!r}")
    if isinstance(cv, numbers.Integral):
        if cv < 2:
            raise ValueError(f"{expected}, got {cv!r}")
        return list(check_cv(int(cv), y, classifier=True).split(X, y))
    if hasattr(cv, "split"):
        return list(cv.split(X, y))
    if not hasattr(cv, "__iter__"):
        raise TypeError(f"{expected}, got {cv!r}")
    splits = list(cv)
    if not splits:
        if iter(cv) is cv:
            raise ValueError("cv yielded no split: an iterator or generator of splits is "
                             "used up by the first fit; pass a list of (train, test) "
                             "pairs or a splitter")
        raise ValueError(f"cv holds no split, got {cv!r}")
    return splits


def _check_indices(i, part, idx, n_samples):
    where = f"the {part} indices of split {i} of cv"
    try:
        idx = np.asarray(idx)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} must be a 1-d array of integers, got {idx!r}") from exc
    if idx.ndim != 1:
        raise ValueError(f"{where} must be a 1-d array, got shape {idx.shape}")
    if idx.dtype.kind == "b":
        if idx.shape[0] != n_samples:
            raise ValueError(f"{where} form a boolean mask of length {idx.shape[0]}, "
                             f"X has {n_samples} samples")
        idx = np.flatnonzero(idx)
    if idx.size == 0:
        raise ValueError(f"{where} are empty")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{where} must be integers, got dtype {idx.dtype}: "
                        f"{idx[:5].tolist()}")
    if idx.min() < 0 or idx.max() >= n_samples:
        bad = idx[(idx < 0) | (idx >= n_samples)]
        raise ValueError(f"{where} must lie in [0, {n_samples - 1}] (X has {n_samples} "
                         f"samples), got {bad[:5].tolist()}")
    if np.unique(idx).shape[0] != idx.shape[0]:
        values, counts = np.unique(idx, return_counts=True)
        raise ValueError(f"{where} hold duplicates: {values[counts > 1][:5].tolist()}")
    return idx.astype(np.intp)


def _check_split(i, split, n_samples):
    """Validated ``(train, test)`` index arrays of split ``i``."""
    try:
        train, test = split
    except (TypeError, ValueError) as exc:
        shape = f" of shape {np.shape(split)}" if hasattr(split, "shape") else ""
        raise ValueError(f"split {i} of cv must be a pair (train, test) of index arrays, "
                         f"got {type(split).__name__}{shape}") from exc
    train = _check_indices(i, "training", train, n_samples)
    test = _check_indices(i, "held-out", test, n_samples)
    shared = np.intersect1d(train, test)
    if shared.size:
        raise ValueError(f"the training and held-out indices of split {i} of cv overlap: "
                         f"{shared[:5].tolist()}")
    return train, test


@dataclass
class _Setup:
    """What every run of a fit shares: the validated data, the strengths' layout, the splits."""

    X: object
    codes: np.ndarray
    sample_weight: object
    n_classes: int
    groups: object
    n_hyper: int
    lam0: np.ndarray
    bounds: tuple
    method: object
    scoring: object
    splits: list

    @property
    def held_out(self):
        """The held-out part of each split."""
        return [test for _, test in self.splits]

    def weights(self, idx):
        """The sample weights of the samples ``idx`` (None without weights)."""
        return None if self.sample_weight is None else self.sample_weight[idx]


@dataclass
class _Tuned:
    """One HOAG run of a fit: its result, held-out weight, history and first split's problem."""

    result: object
    weight: float
    history: list
    problem: object
    tol: float
    selection: object = None


def _set_aside(setup, fraction, random_state):
    """Set ``fraction`` of the held-out samples aside, out of every split.

    The samples are drawn among the held-out samples of positive weight,
    class by class where every class allows it, seeded by ``random_state``
    (0 when None, so that the same data give the same fit); at least one is
    drawn, and at least one is left. They leave every part of every split:
    with cross-validation a sample held out by one split trains the others,
    and the many strengths, chosen on all of them, must not have seen it.

    Returns
    -------
    splits : list of (ndarray, ndarray), or None
        The (training, held-out) parts of each split without them; None
        when a part would lose every sample of positive weight, or a
        training part a class.
    check : list of ndarray, or None
        The samples set aside among each split's held-out part.
    """
    rng = check_random_state(0 if random_state is None else random_state)
    held = np.unique(np.concatenate(setup.held_out))
    weights = setup.weights(held)
    positive = held if weights is None else held[weights > 0]
    if positive.shape[0] < 2:
        return None, None
    n_check = min(max(1, int(round(fraction * positive.shape[0]))), positive.shape[0] - 1)
    try:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_check, random_state=rng)
        _, chosen = next(splitter.split(positive, setup.codes[positive]))
    except ValueError:  # a class too small to be on both sides
        chosen = rng.permutation(positive.shape[0])[:n_check]
    aside = np.sort(positive[chosen])
    splits, check = [], []
    for train, part in setup.splits:
        train, tune = np.setdiff1d(train, aside), np.setdiff1d(part, aside)
        kept_classes = np.unique(setup.codes[_positive(setup, train)])
        if _positive(setup, tune).shape[0] == 0 or kept_classes.shape[0] < setup.n_classes:
            return None, None
        splits.append((train, tune))
        check.append(np.intersect1d(part, aside))
    return splits, check


def _positive(setup, idx):
    """The samples of ``idx`` of positive weight."""
    weights = setup.weights(idx)
    return idx if weights is None else idx[weights > 0]


def _solve(setup, train, groups, log_alpha, w0, estimator):
    """The inner solution on the samples ``train`` at ``log_alpha``, solved tightly from ``w0``."""
    problem = InnerProblem.from_data(setup.X[train], setup.codes[train], groups,
                                     estimator.fit_intercept, n_classes=setup.n_classes,
                                     sample_weight=setup.weights(train))
    return solve_tightly(problem, log_alpha, w0, max_iter=estimator.inner_max_iter)[0]


def _check_losses(setup, check, coefs, fit_intercept):
    """Weighted losses of each split's model ``coefs`` on its samples ``check``, and the weights."""
    losses, weights = [], []
    for part, w in zip(check, coefs):
        if part.shape[0] == 0:
            continue
        outer = setup.scoring.outer_loss(setup.X[part], setup.codes[part], setup.n_classes,
                                         fit_intercept, setup.weights(part))
        values = outer.pointwise.loss(outer.matvec(w))
        losses.append(values)
        weights.append(np.ones(values.shape[0]) if outer.sample_weight is None
                       else outer.sample_weight)
    return np.concatenate(losses), np.concatenate(weights)


def _compare_on_check(setup, check, one, many, fit_intercept):
    """Loss per sample of two sets of split models on the samples set aside, and their difference.

    ``gain`` is how much lower the weighted mean loss of the models
    ``many`` is than that of ``one``; ``std_error`` the standard error of
    that mean difference (the samples' differences taken as independent
    draws, weighted).
    """
    one_loss, weights = _check_losses(setup, check, one, fit_intercept)
    many_loss, _ = _check_losses(setup, check, many, fit_intercept)
    total = weights.sum()
    difference = many_loss - one_loss
    mean = np.dot(weights, difference) / total
    std_error = np.sqrt(np.dot(weights ** 2, (difference - mean) ** 2)) / total
    gain = -mean if np.isfinite(mean) and np.isfinite(std_error) else -np.inf
    return dict(one_loss=np.dot(weights, one_loss) / total,
                many_loss=np.dot(weights, many_loss) / total, gain=gain,
                std_error=std_error, check_samples=int(weights.shape[0]))


def _relative_error(losses, weights):
    """Standard error of the weighted mean of ``losses``, relative to that mean."""
    total = weights.sum()
    mean = np.dot(weights, losses) / total
    error = np.sqrt(np.dot(weights ** 2, (losses - mean) ** 2)) / total
    return error / abs(mean) if mean != 0 and np.isfinite(error) else 0.0
