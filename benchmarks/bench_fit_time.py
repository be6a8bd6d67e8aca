"""The whole fit a user waits for, against LogisticRegressionCV on the same split.

For every (data set, split seed, intercept) the script times, in one process
with BLAS on one thread:

* ``LogisticRegressionCV(Cs=10, scoring="neg_log_loss", refit=False)`` on the
  same 80/20 split, the baseline a user would otherwise run;
* one cold ``LogisticRegression`` fit (scikit-learn's defaults) on the
  training part at each method's answer, the unit "one solve";
* the full ``HyperOptimizer(method, refit=False).fit`` of every method, with
  default settings.

It reports each method's fit time as a multiple of both, and the gap of its
answer's validation loss to the split's optimum (computed as in
:mod:`benchmarks.robustness`, with tight solves), then the per-method
summary (median and worst ratio, runs within 0.1 % and 1 % of the optimum,
runs worse than the start) and the per-data-set worst ratios, worst first.

Usage::

    python -m benchmarks.bench_fit_time --data-home ../shared/datasets --seeds 2
    python -m benchmarks.bench_fit_time --quick                 # shipped sets, one seed
    python -m benchmarks.bench_fit_time --csv results/fit_time.csv
    python -m benchmarks.bench_fit_time --protocol 20news --data-home ../shared/datasets \\
        --seeds 3 --methods cg shine shine-opa shine-refine
"""
import argparse
import ast
import csv
import statistics
import warnings
from pathlib import Path
from time import perf_counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import train_test_split

from hoag_shine import HyperOptimizer

from ._common import describe_machine, format_machine, limit_threads, split_indices
from .datasets import load_dataset
from .robustness import (BOUNDS, WITHIN, add_arguments, cases, reference_optimum,
                         validation_loss)

METHODS = ("cg", "shine", "shine-opa", "shine-refine")
COLUMNS = ["dataset", "seed", "intercept", "method", "time", "time_lrcv", "time_cold",
           "per_lrcv", "per_cold", "gap", "worse_than_start", "n_iter", "stop"]


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn's API transition
        start = perf_counter()
        fit()
        return perf_counter() - start


def run_split(X, y, seed, fit_intercept, methods, params=None):
    """Rows of one split: every method against LogisticRegressionCV and a cold solve."""
    train, val = train_test_split(np.arange(X.shape[0]), test_size=0.2, random_state=seed,
                                  stratify=y)
    X_tr, y_tr, X_va, y_va = X[train], y[train], X[val], y[val]
    rows_idx = np.r_[train, val]
    split = [(np.arange(len(train)), np.arange(len(train), len(rows_idx)))]
    X_all, y_all = X[rows_idx], y[rows_idx]
    time_lrcv = _quiet(lambda: LogisticRegressionCV(
        Cs=10, cv=split, fit_intercept=fit_intercept, scoring="neg_log_loss",
        refit=False).fit(X_all, y_all))
    opt_loss, _ = reference_optimum(X_tr, y_tr, X_va, y_va, fit_intercept)
    start_loss, _ = validation_loss(X_tr, y_tr, X_va, y_va, 0.0, fit_intercept)
    rows = []
    for method in methods:
        est = HyperOptimizer(method, cv=split, refit=False, fit_intercept=fit_intercept,
                             lambda_bounds=BOUNDS, **(params or {}))
        elapsed = _quiet(lambda: est.fit(X_all, y_all))
        lam = float(est.log_alpha_[0])
        time_cold = _quiet(lambda: LogisticRegression(
            C=float(np.exp(-lam)), fit_intercept=fit_intercept).fit(X_tr, y_tr))
        loss, _ = validation_loss(X_tr, y_tr, X_va, y_va, lam, fit_intercept)
        rows.append(dict(seed=seed, intercept=fit_intercept, method=method, time=elapsed,
                         time_lrcv=time_lrcv, time_cold=time_cold,
                         per_lrcv=elapsed / time_lrcv, per_cold=elapsed / time_cold,
                         gap=(loss - opt_loss) / abs(opt_loss),
                         worse_than_start=loss > start_loss * (1 + 1e-9),
                         n_iter=est.n_iter_, stop=est.stop_reason_))
    return rows


def summarize(rows, methods):
    """Per method, then per data set (worst ratio first)."""
    print(f"\n{'method':<14}{'runs':>5}{'median/LRCV':>13}{'worst/LRCV':>12}"
          f"{'median/solve':>14}{'<=0.1%':>8}{'<=1%':>6}{'worst gap':>11}{'>start':>8}")
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        print(f"{method:<14}{len(mine):>5}"
              f"{statistics.median(r['per_lrcv'] for r in mine):>13.2f}"
              f"{max(r['per_lrcv'] for r in mine):>12.2f}"
              f"{statistics.median(r['per_cold'] for r in mine):>14.1f}"
              f"{sum(r['gap'] <= WITHIN for r in mine):>8d}"
              f"{sum(r['gap'] <= 10 * WITHIN for r in mine):>6d}"
              f"{max(r['gap'] for r in mine):>11.1e}"
              f"{sum(r['worse_than_start'] for r in mine):>8d}")
    print("\nper data set, worst fit time / LRCV first (median over seeds and intercepts):")
    names = sorted({r["dataset"] for r in rows},
                   key=lambda d: -max(r["per_lrcv"] for r in rows if r["dataset"] == d))
    print(f"{'data set':<30}" + "".join(f"{m:>14}" for m in methods) + f"{'LRCV (s)':>10}")
    for name in names:
        cells = []
        for method in methods:
            mine = [r["per_lrcv"] for r in rows if r["dataset"] == name and r["method"] == method]
            cells.append(f"{statistics.median(mine):>9.2f} ({max(mine):.1f})" if mine else "")
        lrcv = statistics.median(r["time_lrcv"] for r in rows if r["dataset"] == name)
        print(f"{name:<30}" + "".join(f"{c:>14}" for c in cells) + f"{lrcv:>10.2f}")


def run_protocol(X, y, seed, methods, fit_intercept=False, params=None):
    """The SHINE paper's protocol: 90 % train, 5 % outer, 5 % held out (one seed)."""
    train, outer, held = split_indices(X.shape[0], seed)
    rows_idx = np.r_[train, outer]
    split = [(np.arange(len(train)), np.arange(len(train), len(rows_idx)))]
    X_all, y_all = X[rows_idx], y[rows_idx]

    def held_out(coef, intercept):
        sign = np.where(y[held] > 0, 1.0, -1.0)
        return float(np.logaddexp(0.0, -sign * (X[held] @ coef.ravel() + intercept)).sum())

    lrcv = LogisticRegressionCV(Cs=10, cv=split, fit_intercept=fit_intercept,
                                scoring="neg_log_loss", refit=False)
    time_lrcv = _quiet(lambda: lrcv.fit(X_all, y_all))
    rows = [dict(seed=seed, method="LRCV(Cs=10)", time=time_lrcv,
                 log_alpha=float(-np.log(lrcv.C_[0])),
                 held_out=held_out(lrcv.coef_, lrcv.intercept_[0]))]
    for method in methods:
        est = HyperOptimizer(method, cv=split, refit=False, fit_intercept=fit_intercept,
                             **(params or {}))
        elapsed = _quiet(lambda: est.fit(X_all, y_all))
        rows.append(dict(seed=seed, method=method, time=elapsed,
                         log_alpha=float(est.log_alpha_[0]),
                         held_out=held_out(est.coef_, est.intercept_[0]), n_iter=est.n_iter_))
    for r in rows:
        r["per_lrcv"] = r["time"] / time_lrcv
    return rows


def summarize_protocol(rows, methods):
    """Median over seeds of the full fit time, against LRCV and cg, and the held-out loss."""
    cg = {r["seed"]: r for r in rows if r["method"] == "cg"}
    print(f"\n{'run':<14}{'full fit (s)':>13}{'/ LRCV':>8}{'/ cg':>7}{'held-out':>10}"
          f"{'/ cg held-out':>15}")
    for method in ["LRCV(Cs=10)", *methods]:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        per_cg = [r["time"] / cg[r["seed"]]["time"] for r in mine if r["seed"] in cg]
        held_cg = [r["held_out"] / cg[r["seed"]]["held_out"] for r in mine if r["seed"] in cg]
        print(f"{method:<14}{statistics.median(r['time'] for r in mine):>13.2f}"
              f"{statistics.median(r['per_lrcv'] for r in mine):>8.2f}"
              f"{statistics.median(per_cg) if per_cg else float('nan'):>7.2f}"
              f"{statistics.median(r['held_out'] for r in mine):>10.3f}"
              f"{max(held_cg) if held_cg else float('nan'):>15.4f}")


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]),
                           seeds=2, methods=METHODS)
    parser.add_argument("--csv", default=None, help="also write every run here")
    parser.add_argument("--protocol", default=None, metavar="DATASET",
                        help="instead, the SHINE paper's protocol on this data set "
                             "(e.g. 20news: 90/5/5 splits, no intercept)")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="HyperOptimizer parameters other than the defaults "
                             "(values read as Python literals), e.g. tol=1e-3")
    args = parser.parse_args(argv)
    params = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.protocol:
        X, y = load_dataset(args.protocol, data_home=args.data_home)
        rows = []
        with limit_threads(1):
            print(format_machine(describe_machine()))
            for seed in range(args.seeds):
                new = run_protocol(X, y, seed, args.methods, params=params)
                print(" ".join(f"{r['method']}={r['time']:.2f}s/{r['held_out']:.3f}"
                               for r in new), flush=True)
                rows += new
        summarize_protocol(rows, args.methods)
        return rows
    rows = []
    with limit_threads(1):
        print(format_machine(describe_machine()))
        for name, X, y, seed, fit_intercept in cases(args):
            new = run_split(X, y, seed, fit_intercept, args.methods, params)
            for r in new:
                r["dataset"] = name
            rows += new
            cells = " ".join(f"{r['method']}={r['per_lrcv']:.2f}x/{r['gap']:.0e}" for r in new)
            print(f"{name} seed {seed} intercept {fit_intercept}: "
                  f"LRCV {new[0]['time_lrcv']:.2f}s  {cells}", flush=True)
    summarize(rows, args.methods)
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return rows


if __name__ == "__main__":
    main()
