"""HyperOptimizer: l2-regularised logistic regression whose strengths are tuned by HOAG."""
import warnings
from time import perf_counter

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data
from scipy.special import expit, log_softmax, softmax

from ._splits import check_bounds, class_weighted, make_splits
from ._validation import (SPARSE_FORMATS, check_bool, check_callable, check_group_labels,
                          check_int, check_real, check_real_array, check_sample_weight,
                          check_weighted_classes, is_bool)
from .implicit.methods import METHODS, HypergradientMethod, get_method
from .model.problem import InnerProblem
from .model.scoring import get_scoring
from .outer.loop import STOP_MESSAGES, TOLERANCE_SCHEDULES
from .solver.initial import get_initial_matrix
from .solver.lbfgs import InnerConvergenceWarning
from .solver.newton import solve_tightly
from .tuning import ScalarFallbackWarning, Setup, tune, tune_many, warn_if_gave_up

__all__ = ["HyperOptimizer", "ScalarFallbackWarning"]


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
        models (trained on the same samples, at the strength found or at
        that strength scaled to the training weight left, whichever does
        better there) by more than three standard errors of the paired
        difference, and are then tuned again on all the samples, from where
        they are (the run of many strengths leaves 5 evaluations of
        ``max_iter`` for it). Otherwise, or when a model of the comparison
        cannot be solved to precision, the one strength is kept, for
        every feature, with a :class:`ScalarFallbackWarning`
        (``fallback_``); so it is when fewer than 20 samples can be set
        aside. The samples are set aside class by class, seeded by
        ``random_state`` (0 when None); the runs share ``max_iter``. 0 tunes
        the many strengths directly from ``lambda_init`` on all the
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
        Seeds the validation split (``cv=None``) and the draw of the
        held-out samples set aside with many strengths (that draw takes 0
        when None).
    verbose : int, default=0
        1: a line on what is tuned, one per accepted step (the strengths as
        ``alpha`` and ``C``, the held-out loss per sample, the elapsed time
        and an estimate of what is left), and the answer; 2: one line per
        evaluation with the loop's internals instead (see :func:`hoag`); 3:
        also one line per split and evaluation.
    callback : callable, default=None
        ``callback(state)`` after every outer iteration; ``state`` is a dict
        with the history record plus ``coef``, ``intercept`` and the best
        point so far (``best_log_alpha``, ``best_outer_loss``,
        ``best_coef``, ``best_intercept``); with many
        strengths it also carries the run's ``stage``. Returning True stops
        the optimisation, in whichever run.
    initial_matrix : {"auto", "gamma", "hessian-diagonal"} or callable, default="auto"
        Initial matrix of the inner L-BFGS two-loop recursion, used by the
        inner solver's steps and by the SHINE inverse estimate: ``gamma I``
        (``gamma = s^T y / y^T y`` of the newest pair), or the inverse
        Hessian diagonal ``(diag(X^T D X) + alpha)^{-1}`` at the current
        iterate; "auto" takes the diagonal with per-feature or grouped
        strengths and ``gamma I`` with one strength, measured with an
        intercept in :attr:`~hoag_shine.InnerProblem.intercept_metric` (see
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
        Validation score of every evaluation, as ``best_score_`` (per sample
        of the held-out samples the evaluation used: with many strengths,
        those of the "many" run exclude the samples set aside; one
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
        ``n_hvp``, ``time_forward``, ``time_backward``, ``answer`` (True for
        the one record of the answer), and with many strengths ``stage`` (see
        ``selection_``); a list of records that
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
        bound), "start" or "earlier" (the loop stopped for one of these
        reasons at a point that, solved accurately, was worse by more than
        ``tol`` than ``lambda_init`` or an earlier point, which is the
        answer; a ConvergenceWarning says so), "max_iter", "callback", or
        "not_finite" (the loss at ``lambda_init`` is not finite); the messages are in
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
        ``check_samples`` (distinct samples set aside); None otherwise.
        ``history_`` then holds every run, each record's ``stage`` saying
        which: "one" (one strength), "many" (the many strengths without
        the samples set aside) and,
        when they are kept, "again" (the many strengths tuned again on all
        the samples, from where the previous run ended). The callback's
        states carry the stage too.
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
        bounds = check_bounds(self.lambda_bounds)
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
            tuned = tune_many(self, setup)
        else:
            tuned = tune(self, setup, setup.groups, setup.splits, setup.lam0, self.max_iter)
        result = tuned.result
        kept_many = tuned.selection is not None and tuned.selection["kept"] == "many"
        warn_if_gave_up(result, setup.bounds, self.max_iter, from_start=not kept_many)
        log_alpha = np.broadcast_to(result.log_alpha, (setup.n_hyper,)).copy()
        alpha = np.exp(log_alpha)
        fitted.update(
            log_alpha_=log_alpha, alpha_=alpha, C_=1.0 / alpha, n_iter_=len(tuned.history),
            history_=tuned.history, stop_reason_=tuned.stop_reason,
            scores_=np.array([r["score"] for r in tuned.history]),
            Cs_=np.exp(-np.array([r["log_alpha"] for r in tuned.history])),
            best_score_=-result.outer_loss / tuned.weight,
            fallback_=tuned.selection is not None and not kept_many,
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
            print(f"[HyperOptimizer] {STOP_MESSAGES[tuned.stop_reason]}; best_score_ "
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
        sample_weight = class_weighted(self.class_weight, classes, codes, sample_weight)
        groups, n_hyper = self._groups(X.shape[1])
        lam0 = np.broadcast_to(np.asarray(self.lambda_init, dtype=float), (n_hyper,)) \
            if np.ndim(self.lambda_init) == 0 else np.asarray(self.lambda_init, dtype=float)
        if lam0.shape != (n_hyper,) or not np.all(np.isfinite(lam0)):
            raise ValueError(f"lambda_init must be finite, a scalar or {n_hyper} values, "
                             f"got {self.lambda_init!r}")
        method = get_method(self.method, max_iter=self.backward_max_iter,
                            freq=self.opa_freq)
        splits = make_splits(self, X, codes, sample_weight)
        setup = Setup(X=X, codes=codes, sample_weight=sample_weight,
                      n_classes=classes.shape[0], groups=groups, n_hyper=n_hyper,
                      lam0=lam0.copy(), bounds=tuple(bounds), method=method,
                      scoring=get_scoring(self.scoring), splits=splits)
        return setup, fitted

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
        # +inf and -inf terms: no sign to predict from
        if np.isnan(z).any() or (z.ndim == 2 and not np.all(np.isfinite(z))):
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
