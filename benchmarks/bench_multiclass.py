"""Multinomial logistic regression: HOAG and SHINE against scikit-learn's searches.

For each seed the samples are split as in the SHINE paper's protocol: 90%
train the model, the rest is halved into the outer part (which chooses the
strength) and a held-out part (which only reports). Every method searches
one strength, without intercept:

* the HOAG methods (``cg``, ``shine``, ``shine-opa``, ``shine-refine``):
  :class:`~hoag_shine.HyperOptimizer` on that one split, no refit, started
  at ``log(alpha) = 0``, bounds [-12, 12];
* ``lrcv``: :class:`sklearn.linear_model.LogisticRegressionCV` with
  ``Cs=10`` (its default grid, C in [1e-4, 1e4], so log(alpha) in [-9.2,
  9.2]) on the same split (multinomial, lbfgs, ``refit=False``);
* ``grid-10``: scikit-learn's LogisticRegression (lbfgs, warm-started, tol
  1e-4 as LogisticRegressionCV) on 10 values of log(alpha) from 12 down to
  -12.

With ``--budget``, a HOAG run and the grid stop after the step that passes
it (LogisticRegressionCV runs to its end).

After every step of a method, the held-out loss of the model it would return
at that point is recorded (the time it takes is excluded). "Time to 1%" is
the first time after which that loss stays within 1% of the best held-out
loss any method reached on the seed; the times are in seconds and also in
units of LogisticRegressionCV's time on the same seed. Peak memory is the
largest resident set size of the process during the method's run above its
size just before (sampled every 10 ms). BLAS is pinned to one thread.

Run from the repository root::

    python -m benchmarks.bench_multiclass --data-home ../shared/datasets --seeds 3
    python -m benchmarks.bench_multiclass --dataset digits --seeds 2    # seconds
"""
import argparse
import json
import time
import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

from hoag_shine import HyperOptimizer
from hoag_shine.cli_data import DatasetNotFound, load_20news

from ._common import (describe_machine, format_machine, format_table, limit_threads,
                      median, write_json)
from .bench_parallel import _PeakRSS

HOAG_METHODS = ["cg", "shine", "shine-opa", "shine-refine"]
METHODS = HOAG_METHODS + ["lrcv", "grid-10"]
LAMBDA_RANGE = (-12.0, 12.0)
#: a method is "within 1%" when its held-out loss is at most this much above the best
WITHIN = 0.01


def load(name, data_home):
    """Design matrix and class indices of ``name`` ("20news" or "digits")."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X / 16.0, y
    return load_20news(data_home, labels="groups")


def split(n, seed, train_fraction=0.9):
    """Training, outer and held-out indices of the paper's protocol."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(train_fraction * n)
    n_outer = (n - n_train) // 2
    return order[:n_train], order[n_train:n_train + n_outer], order[n_train + n_outer:]


def multinomial_loss(X, y, coef, classes):
    """Summed multinomial loss of the linear model ``coef`` (one row per class)."""
    z = np.asarray(X @ coef.T)
    index = np.searchsorted(classes, y)
    return float(np.sum(logsumexp(z, axis=1) - z[np.arange(len(y)), index]))


def run_method(method, X, y, parts, *, max_iter, seed, budget=np.inf):
    """Steps of one method: (time, held-out loss of its current model) pairs."""
    train, outer, held_out = parts
    classes = np.unique(y[train])
    steps = []
    clock = {"start": time.perf_counter(), "excluded": 0.0}

    def record(coef, elapsed=None):
        t0 = time.perf_counter()
        if elapsed is None:
            elapsed = t0 - clock["start"] - clock["excluded"]
        steps.append((elapsed, multinomial_loss(X[held_out], y[held_out], coef, classes)))
        clock["excluded"] += time.perf_counter() - t0

    if method in HOAG_METHODS:
        rows = np.r_[train, outer]
        cv = [(np.arange(len(train)), np.arange(len(train), len(rows)))]

        def callback(state):
            record(state["best_coef"].reshape(len(classes), -1), state["time"])
            return bool(state["time"] > budget)

        clf = HyperOptimizer(method, cv=cv, refit=False, fit_intercept=False,
                             max_iter=max_iter, lambda_bounds=LAMBDA_RANGE,
                             random_state=seed, callback=callback)
        clf.fit(X[rows], y[rows])
        record(clf.coef_)  # after the final verification
        return steps, float(clf.log_alpha_[0])
    if method == "lrcv":
        rows = np.r_[train, outer]
        cv = [(np.arange(len(train)), np.arange(len(train), len(rows)))]
        options = {}
        params = LogisticRegressionCV().get_params()
        if "use_legacy_attributes" in params:  # scikit-learn >= 1.8
            options.update(use_legacy_attributes=False, l1_ratios=(0.0,))
        clf = LogisticRegressionCV(Cs=10, cv=cv, fit_intercept=False, refit=False,
                                   scoring="neg_log_loss", max_iter=1000, **options)
        clf.fit(X[rows], y[rows])
        record(clf.coef_)
        return steps, float(-np.log(np.ravel(clf.C_)[0]))
    # warm-started grid, from the largest strength down, as a regularisation path
    clf = LogisticRegression(fit_intercept=False, warm_start=True, max_iter=1000)
    best = (np.inf, None)
    for lam in np.linspace(LAMBDA_RANGE[1], LAMBDA_RANGE[0], 10):
        clf.set_params(C=float(np.exp(-lam)))
        clf.fit(X[train], y[train])
        t0 = time.perf_counter()
        loss = multinomial_loss(X[outer], y[outer], clf.coef_, clf.classes_)
        if loss < best[0]:
            best = (loss, lam, clf.coef_.copy())
        clock["excluded"] += time.perf_counter() - t0
        record(best[2])
        if steps[-1][0] > budget:
            break
    return steps, float(best[1])


def time_to_within(steps, best):
    """First time after which the held-out loss stays within ``WITHIN`` of ``best``."""
    ok = [loss <= best * (1 + WITHIN) for _, loss in steps]
    if not ok[-1]:
        return np.inf
    k = len(ok) - 1
    while k > 0 and ok[k - 1]:
        k -= 1
    return steps[k][0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["20news", "digits"], default="20news")
    parser.add_argument("--data-home", default=None,
                        help="data home (default: $HOAG_SHINE_DATA or scikit-learn's)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=30)
    parser.add_argument("--budget", type=float, default=np.inf,
                        help="seconds after which a HOAG run or the grid stops (after "
                             "the step in progress)")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--json", default=None, metavar="PATH")
    parser.add_argument("--include", default=None, metavar="PATH",
                        help="JSON of an earlier run on the same data and seeds whose "
                             "records of the methods not run now join the summary")
    parser.add_argument("--plot", default=None, metavar="PATH",
                        help="save the held-out-gap-against-time figure here")
    args = parser.parse_args(argv)
    try:
        X, y = load(args.dataset, args.data_home)
    except DatasetNotFound as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    records = []
    with limit_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        print(format_machine(describe_machine()))
        print(f"data    : {args.dataset}, {X.shape[0]:,} x {X.shape[1]:,}, "
              f"{np.unique(y).shape[0]} classes; max_iter {args.max_iter}", flush=True)
        for seed in range(args.seeds):
            parts = split(X.shape[0], seed)
            for method in args.methods:
                with _PeakRSS() as memory:
                    steps, lam = run_method(method, X, y, parts, max_iter=args.max_iter,
                                            seed=seed, budget=args.budget)
                records.append(dict(seed=seed, method=method, steps=steps, log_alpha=lam,
                                    peak_mb=memory.peak / 2 ** 20))
                print(f"  seed {seed} {method:>12}: {steps[-1][0]:8.1f} s, log(alpha) "
                      f"{lam:7.3f}, held-out loss {steps[-1][1]:.6g}, peak "
                      f"{memory.peak / 2 ** 20:7.0f} MB", flush=True)
    methods = list(args.methods)
    if args.include:
        with open(args.include) as file:
            earlier = json.load(file)
        if earlier["dataset"] != args.dataset:
            parser.exit(2, f"{parser.prog}: error: --include holds {earlier['dataset']}\n")
        for r in earlier["records"]:
            if r["method"] not in args.methods and r["seed"] < args.seeds:
                records.append(r)
                if r["method"] not in methods:
                    methods.append(r["method"])
    rows = summarise(records, methods, args.seeds)
    print(format_table(["method", "time to 1% (s)", "worst seed (s)", "/ lrcv",
                        "total (s)", "final gap %", "worst gap %", "peak MB"], rows))
    if args.json:
        write_json(args.json, dict(machine=describe_machine(), dataset=args.dataset,
                                   records=records))
    if args.plot:
        plot(records, methods, args.plot, args.dataset)


def _best_per_seed(records):
    best = {}
    for r in records:
        low = min(loss for _, loss in r["steps"])
        best[r["seed"]] = min(best.get(r["seed"], np.inf), low)
    return best


def summarise(records, methods, n_seeds):
    """One row per method: medians over the seeds (and the worst seed)."""
    best = _best_per_seed(records)
    lrcv = {r["seed"]: r["steps"][-1][0] for r in records if r["method"] == "lrcv"}
    rows = []
    for method in methods:
        mine = [r for r in records if r["method"] == method]
        reach = [time_to_within(r["steps"], best[r["seed"]]) for r in mine]
        ratio = [t / lrcv[r["seed"]] for t, r in zip(reach, mine) if r["seed"] in lrcv]
        gaps = [100 * (r["steps"][-1][1] / best[r["seed"]] - 1) for r in mine]
        rows.append([method, f"{median(reach):.1f}", f"{max(reach):.1f}",
                     f"{median(ratio):.2f}" if ratio else "-",
                     f"{median([r['steps'][-1][0] for r in mine]):.1f}",
                     f"{median(gaps):.3f}", f"{max(gaps):.3f}",
                     f"{median([r['peak_mb'] for r in mine]):.0f}"])
    return rows


def plot(records, methods, path, dataset):
    """Held-out loss above the seed's best against time, median over the seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = _best_per_seed(records)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, method in enumerate(methods):
        mine = [r for r in records if r["method"] == method]
        horizon = max(r["steps"][-1][0] for r in mine)
        grid = np.linspace(0, horizon, 200)
        curves = []
        for r in mine:
            times = np.array([t for t, _ in r["steps"]])
            gaps = np.array([loss / best[r["seed"]] - 1 for _, loss in r["steps"]])
            k = np.searchsorted(times, grid, side="right") - 1
            curves.append(np.where(k >= 0, gaps[np.maximum(k, 0)], np.nan))
        with warnings.catch_warnings():  # before a method's first step: no value
            warnings.simplefilter("ignore", RuntimeWarning)
            curve = np.nanmedian(np.array(curves), axis=0)
        ax.plot(grid, np.maximum(curve, 1e-6), label=method, color=f"C{i}",
                drawstyle="steps-post")
        # the end point of each seed (a method of one step shows only there)
        ends = [(r["steps"][-1][0], r["steps"][-1][1] / best[r["seed"]] - 1) for r in mine]
        ax.plot([t for t, _ in ends], [max(g, 1e-6) for _, g in ends], "o", color=f"C{i}",
                markersize=4)
    ax.axhline(WITHIN, color="grey", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("held-out loss / best - 1 (median over seeds)")
    ax.set_title(f"{dataset}: multinomial, {len(best)} seed(s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
