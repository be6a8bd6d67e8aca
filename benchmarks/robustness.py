"""Robustness of the tuned strength: many data sets, splits and methods, worst case first.

For every (data set, split seed, intercept, method) the script fits
:class:`~hoag_shine.HyperOptimizer` on an 80/20 stratified train/validation
split (one strength, ``lambda_init = 0``, default settings otherwise) and
computes the exact validation loss at its answer with scikit-learn's
``LogisticRegression`` solved tightly (``C = 1 / alpha``, summed loss). The
reference optimum of the same split is a grid of ``log(alpha)`` over the
bounds, refined by a bounded scalar search around the best grid point, with
the same tight solves. It prints, per method: the fraction of runs within
0.1 % of the optimum, the worst gap, the number of runs that ended worse than
the start, and the median time against ``LogisticRegressionCV(Cs=10)`` run on
the same split in the same process.

The data sets are those that load offline: scikit-learn's shipped sets
(breast cancer, digits even/odd, wine class 0 against the rest), generated
problems (``make_classification`` of several shapes), and, when a data home
holds them, adult and Reuters (``--data-home`` or ``$HOAG_SHINE_DATA``).

Usage::

    python -m benchmarks.robustness                      # shipped + generated sets
    python -m benchmarks.robustness --data-home ../shared/datasets --seeds 5
    python -m benchmarks.robustness --quick              # a two-minute subset
"""
import argparse
import statistics
import sys
import warnings
from time import perf_counter

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from hoag_shine import HyperOptimizer

from ._common import limit_threads
from .datasets import DatasetNotFound, load_dataset

METHODS = ("cg", "shine", "shine-opa", "shine-refine", "jacobian-free")
BOUNDS = (-12.0, 12.0)
#: a run is "within" when its validation loss is at most this far above the optimum
WITHIN = 1e-3


def _shipped():
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast-cancer", StandardScaler().fit_transform(X), y
    X, y = load_digits(return_X_y=True)
    yield "digits-even-odd", X / 16.0, y % 2
    X, y = load_wine(return_X_y=True)
    yield "wine-0-vs-rest", StandardScaler().fit_transform(X), (y == 0).astype(int)


def _generated(quick):
    shapes = [(2000, 50, 5, 0.0), (5000, 200, 20, 0.05), (10000, 500, 50, 0.01),
              (10000, 20, 2, 0.01), (300, 1000, 10, 0.0)]
    for n, p, informative, flip in shapes[:2] if quick else shapes:
        X, y = make_classification(n_samples=n, n_features=p, n_informative=informative,
                                   flip_y=flip, random_state=0)
        yield f"generated-{n}x{p}-inf{informative}", X, y


def _libsvm(data_home):
    for name in ("adult", "reuters"):
        try:
            X, y = load_dataset(name, data_home=data_home)
        except DatasetNotFound:
            continue
        yield name, X, y


def validation_loss(X_train, y_train, X_val, y_val, log_alpha, fit_intercept, warm=None):
    """Summed validation logistic loss of scikit-learn's tight fit at ``log_alpha``."""
    clf = warm if warm is not None else LogisticRegression(
        tol=1e-10, max_iter=100000, fit_intercept=fit_intercept, warm_start=True)
    clf.set_params(C=float(np.exp(-log_alpha)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    sign = np.where(y_val == clf.classes_[1], 1.0, -1.0)
    return float(np.logaddexp(0.0, -sign * clf.decision_function(X_val)).sum()), clf


def reference_optimum(X_train, y_train, X_val, y_val, fit_intercept):
    """Grid over the bounds (step 1, warm-started from strong to weak), then a scalar search."""
    clf, grid = None, []
    for lam in np.arange(BOUNDS[1], BOUNDS[0] - 1e-9, -1.0):
        loss, clf = validation_loss(X_train, y_train, X_val, y_val, lam, fit_intercept, clf)
        grid.append((loss, lam))
    best_loss, best_lam = min(grid)
    lo, hi = max(best_lam - 1.0, BOUNDS[0]), min(best_lam + 1.0, BOUNDS[1])
    res = minimize_scalar(
        lambda lam: validation_loss(X_train, y_train, X_val, y_val, lam, fit_intercept)[0],
        bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return min((best_loss, best_lam), (float(res.fun), float(res.x)))


def run_one(X, y, seed, fit_intercept, methods):
    """All methods and LogisticRegressionCV on one split; rows of results."""
    train, val = train_test_split(np.arange(X.shape[0]), test_size=0.2, random_state=seed,
                                  stratify=y)
    X_tr, y_tr, X_va, y_va = X[train], y[train], X[val], y[val]
    opt_loss, opt_lam = reference_optimum(X_tr, y_tr, X_va, y_va, fit_intercept)
    start_loss, _ = validation_loss(X_tr, y_tr, X_va, y_va, 0.0, fit_intercept)
    rows_idx = np.r_[train, val]
    split = [(np.arange(len(train)), np.arange(len(train), len(rows_idx)))]
    X_all, y_all = X[rows_idx], y[rows_idx]
    start = perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn's API transition
        LogisticRegressionCV(Cs=10, cv=split, fit_intercept=fit_intercept,
                             scoring="neg_log_loss", max_iter=1000).fit(X_all, y_all)
    time_cv = perf_counter() - start
    rows = []
    for method in methods:
        est = HyperOptimizer(method, cv=split, refit=False, fit_intercept=fit_intercept,
                             lambda_bounds=BOUNDS, random_state=seed)
        start = perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X_all, y_all)
        elapsed = perf_counter() - start
        lam = float(est.log_alpha_[0])
        loss, _ = validation_loss(X_tr, y_tr, X_va, y_va, lam, fit_intercept)
        rows.append(dict(method=method, seed=seed, intercept=fit_intercept,
                         log_alpha=lam, opt_log_alpha=opt_lam,
                         gap=(loss - opt_loss) / abs(opt_loss),
                         worse_than_start=loss > start_loss * (1 + 1e-9),
                         time=elapsed, time_cv=time_cv, n_iter=est.n_iter_,
                         stop=est.stop_reason_))
    return rows


def summarize(rows, methods, out=sys.stdout):
    """Per method: fraction within 0.1 %, worst gap, runs worse than start, time ratio."""
    print(f"\n{'method':<15}{'runs':>5}{'within 0.1%':>13}{'worst gap':>11}"
          f"{'worse than start':>18}{'median time / LRCV':>20}", file=out)
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        within = np.mean([r["gap"] <= WITHIN for r in mine])
        worst = max(mine, key=lambda r: r["gap"])
        ratio = statistics.median(r["time"] / r["time_cv"] for r in mine)
        print(f"{method:<15}{len(mine):>5}{within:>12.0%} {worst['gap']:>10.1e}"
              f"{sum(r['worse_than_start'] for r in mine):>18d}{ratio:>20.2f}", file=out)
        if worst["gap"] > WITHIN:
            print(f"{'':<15}worst: {worst['dataset']} seed {worst['seed']} intercept "
                  f"{worst['intercept']}: log(alpha) {worst['log_alpha']:.3f} against "
                  f"{worst['opt_log_alpha']:.3f} ({worst['stop']})", file=out)


def add_arguments(parser, seeds, methods):
    """The options shared by the scripts that sweep the robustness sets."""
    parser.add_argument("--data-home", default=None,
                        help="data home with libsvm/ (adult, reuters); default "
                             "$HOAG_SHINE_DATA")
    parser.add_argument("--seeds", type=int, default=seeds, help="split seeds per data set")
    parser.add_argument("--methods", nargs="+", default=list(methods))
    parser.add_argument("--quick", action="store_true",
                        help="shipped sets and two generated ones, one seed, no intercept")
    return parser


def cases(args):
    """``(name, X, y, seed, fit_intercept)`` of every run the parsed options ask for."""
    sources = [_shipped(), _generated(args.quick)]
    if not args.quick:
        sources.append(_libsvm(args.data_home))
    seeds = range(1 if args.quick else args.seeds)
    intercepts = (False,) if args.quick else (False, True)
    for source in sources:
        for name, X, y in source:
            for seed in seeds:
                for fit_intercept in intercepts:
                    yield name, X, y, seed, fit_intercept


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]),
                           seeds=3, methods=METHODS)
    args = parser.parse_args(argv)
    rows = []
    with limit_threads(1):
        for name, X, y, seed, fit_intercept in cases(args):
            start = perf_counter()
            new = run_one(X, y, seed, fit_intercept, args.methods)
            for r in new:
                r["dataset"] = name
            rows += new
            gaps = " ".join(f"{r['method']}={r['gap']:.1e}" for r in new)
            print(f"{name} seed {seed} intercept {fit_intercept}: {gaps} "
                  f"({perf_counter() - start:.0f}s)", flush=True)
    summarize(rows, args.methods)
    return rows


if __name__ == "__main__":
    main()
