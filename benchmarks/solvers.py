"""Hyperparameter-search methods compared by the benchmark runner.

A solver is a callable ``solver(X, y, train, outer, *, max_iter, budget, seed,
observe)`` that searches ``log(alpha)`` using the training part to fit and the
outer part to choose, and calls ``observe(point)`` after every step with a
dict holding at least ``time`` (seconds since the start, observation time
excluded), ``log_alpha``, ``outer_loss``, ``coef`` and ``intercept`` of the
model it would return at that point. Work counters (``n_inner_iter``,
``n_grad_evals``, ``n_hvp``, ``time_forward``, ``time_backward``) are added
when the method has them. Adding a method is one entry in :data:`SOLVERS`.
The HOAG methods carry the names of :data:`hoag_shine.METHODS`, as in
``hoag-shine``. Warnings are
not silenced here: the runner records and summarises them.
"""
from functools import partial
from time import perf_counter

import numpy as np
from sklearn.linear_model import LogisticRegressionCV

from hoag_shine import HyperOptimizer, InnerProblem, LogisticLoss, minimize_lbfgs

#: search interval of log(alpha), as in the SHINE paper
LAMBDA_RANGE = (-12.0, 12.0)
#: relative inner tolerance of the grid / random search solves
SEARCH_TOL = 1e-5


def hoag(X, y, train, outer, *, max_iter, budget, seed, observe, method, **params):
    """HyperOptimizer with one held-out split (the outer part), no refit."""
    counters = ("n_inner_iter", "n_grad_evals", "n_hvp", "time_forward",
                "time_backward", "accepted", "tolerance")

    def callback(state):
        # the model the run would return now: its best trusted point so far
        observe({"time": state["time"],
                 "log_alpha": float(np.mean(state["best_log_alpha"])),
                 "outer_loss": state["best_outer_loss"], "coef": state["best_coef"],
                 "intercept": state["best_intercept"], **{k: state[k] for k in counters}})
        return bool(state["time"] > budget)

    rows = np.r_[train, outer]
    split = [(np.arange(len(train)), np.arange(len(train), len(rows)))]
    clf = HyperOptimizer(method, cv=split, refit=False, fit_intercept=False,
                         max_iter=max_iter, random_state=seed, callback=callback, **params)
    # warnings (a bound reached, an inner solve short of its tolerance) reach
    # the runner, which summarises them per method
    clf.fit(X[rows], y[rows])


def _search(X, y, train, outer, lambdas, budget, observe):
    """Warm-started solves along ``lambdas``; observes the best point so far."""
    problem = InnerProblem.from_data(X[train], y[train])
    outer_loss = LogisticLoss(X[outer], y[outer])
    w = np.zeros(problem.n_coef)
    tol = SEARCH_TOL * np.linalg.norm(problem.value_and_gradient(w, [0.0])[1])
    elapsed, best = 0.0, None
    for lam in lambdas:
        start = perf_counter()
        res = minimize_lbfgs(problem.fun_and_grad([lam]), w, tol=tol, max_iter=1000,
                             warn=False)
        w = res.x
        loss = outer_loss.value(w)
        if best is None or loss < best[0]:
            best = (loss, lam, w)
        elapsed += perf_counter() - start
        observe({"time": elapsed, "log_alpha": float(best[1]), "outer_loss": best[0],
                 "coef": best[2], "intercept": 0.0, "n_inner_iter": res.n_iter,
                 "n_grad_evals": res.nfev})
        if elapsed > budget:
            break


def grid_search(X, y, train, outer, *, max_iter, budget, seed, observe, n_values):
    """``n_values`` evenly spaced strengths, strongest first (a warm-started path)."""
    lambdas = np.linspace(*LAMBDA_RANGE, n_values)[::-1]
    _search(X, y, train, outer, lambdas, budget, observe)


def random_search(X, y, train, outer, *, max_iter, budget, seed, observe, n_values):
    """``n_values`` strengths drawn uniformly in log scale, warm-started in draw order."""
    lambdas = np.random.default_rng(seed).uniform(*LAMBDA_RANGE, n_values)
    _search(X, y, train, outer, lambdas, budget, observe)


def logistic_regression_cv(X, y, train, outer, *, max_iter, budget, seed, observe):
    """scikit-learn's LogisticRegressionCV: 10 strengths, 5 folds over train + outer."""
    rows = np.r_[train, outer]
    Cs = np.exp(-np.linspace(*LAMBDA_RANGE, 10))
    start = perf_counter()
    clf = LogisticRegressionCV(Cs=Cs, l1_ratios=(0.0,), cv=5, scoring="neg_log_loss",
                               fit_intercept=False, max_iter=1000,
                               use_legacy_attributes=False).fit(X[rows], y[rows])
    elapsed = perf_counter() - start
    observe({"time": elapsed, "log_alpha": float(-np.log(np.ravel(clf.C_)[0])),
             "outer_loss": LogisticLoss(X[outer], y[outer]).value(clf.coef_.ravel()),
             "coef": clf.coef_.ravel(), "intercept": 0.0})


SOLVERS = {
    "cg": partial(hoag, method="cg"),
    "shine": partial(hoag, method="shine"),
    "shine-opa": partial(hoag, method="shine-opa"),
    "shine-opa-decreasing": partial(hoag, method="shine-opa", opa_freq="decreasing"),
    "shine-refine": partial(hoag, method="shine-refine"),
    "shine-pcg": partial(hoag, method="shine-pcg"),
    "jacobian-free": partial(hoag, method="jacobian-free"),
    "hoag-cg-diag": partial(hoag, method="cg", initial_matrix="hessian-diagonal"),
    "shine-diag": partial(hoag, method="shine", initial_matrix="hessian-diagonal"),
    "shine-opa-diag": partial(hoag, method="shine-opa", initial_matrix="hessian-diagonal"),
    "shine-per-feature": partial(hoag, method="shine", regularization="per-feature"),
    "shine-diag-per-feature": partial(hoag, method="shine", regularization="per-feature",
                                      initial_matrix="hessian-diagonal"),
    "hoag-cg-per-feature": partial(hoag, method="cg", regularization="per-feature"),
    "grid-10": partial(grid_search, n_values=10),
    "grid-20": partial(grid_search, n_values=20),
    "grid-40": partial(grid_search, n_values=40),
    "grid-80": partial(grid_search, n_values=80),
    "random-10": partial(random_search, n_values=10),
    "logreg-cv": logistic_regression_cv,
}

#: the paper's comparison
DEFAULT_SOLVERS = ["cg", "shine", "shine-refine", "shine-opa", "shine-pcg",
                   "jacobian-free", "grid-10", "random-10", "logreg-cv"]
