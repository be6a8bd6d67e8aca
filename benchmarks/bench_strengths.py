"""One strength against several (grouped, per-feature) on unseen test data, worst case first.

Per-feature and grouped l2 strengths have many more hyperparameters than
one strength, and can fit the validation folds at the expense of unseen data.
For every (data set, seed) the script splits ``X, y`` into a
train part (70 %) and a test part (30 %, stratified, seeded); no step of any
fit sees the test part (data sets marked for it are standardised with the
train part's statistics). On the train part it fits, with the same folds
(``StratifiedKFold(cv, shuffle=True, random_state=seed)``):

* ``HyperOptimizer(regularization="scalar")``, the reference;
* ``HyperOptimizer(regularization=groups)`` where the data set defines feature
  groups (real against appended noise columns, blocks of different scale,
  informative against irrelevant blocks);
* ``HyperOptimizer(regularization="per-feature")`` (skipped above
  ``--max-features`` features, which the output says);
* ``LogisticRegressionCV(Cs=10, scoring="neg_log_loss")``, what a user would
  otherwise run.

It records the test log-loss (:func:`sklearn.metrics.log_loss` of
``predict_proba``), the fit's wall time, ``n_iter_``, the ratio of the test
log-loss to the scalar run's, and any estimator attribute named by
``--record-attr`` (``fallback_`` and ``selection_`` by default, None when
absent). It prints the multi-strength runs worst ratio first, a summary per
configuration, and the project's targets for many strengths, as measurements.

Usage::

    python -m benchmarks.bench_strengths --data-home ../shared/datasets --seeds 3 \\
        --output /tmp/strengths.json
    python -m benchmarks.bench_strengths --quick
    python -m benchmarks.bench_strengths --datasets breast-cancer+noise300 --set method=cg
"""
import argparse
import ast
import statistics
import sys
import warnings
from dataclasses import dataclass
from functools import partial
from time import perf_counter
from typing import Callable, Optional

import numpy as np
from sklearn.datasets import (load_breast_cancer, load_digits, load_iris, load_wine,
                              make_classification)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from hoag_shine import HyperOptimizer

from ._common import describe_machine, format_machine, format_table, limit_threads, write_json
from .datasets import DatasetNotFound, load_dataset

TEST_SIZE = 0.3
REFERENCE = "scalar"
MULTI = ("grouped", "per-feature")
LRCV = "LRCV(Cs=10)"
#: what the fit says of the many strengths' selection; more with --record-attr
DEFAULT_ATTRS = ("fallback_", "selection_")
#: the targets for many strengths: test-loss ratio to the scalar run, share of runs, time
NOT_WORSE, NEVER_ABOVE, SHARE, BETTER, TIME_FACTOR = 1.01, 1.05, 0.9, 0.99, 3.0
QUICK = dict(datasets=("wine-0-vs-rest", "informative-irrelevant"), seeds=1, cv=3,
             max_samples=150)
ROW_FIELDS = ("dataset", "seed", "config", "n_train", "n_test", "n_features", "n_classes",
              "n_hyper", "test_loss", "ratio", "time", "time_ratio", "n_iter", "stop",
              "convergence_warnings", "attrs")


@dataclass(frozen=True)
class DataSet:
    """A benchmark problem.

    Parameters
    ----------
    load : callable
        ``load() -> (X, y, groups)``; ``groups`` is one label per feature, or
        None where the data set defines no feature groups.
    standardize : bool, default=False
        Standardise with the train part's mean and deviation (dense only).
    max_samples : int, optional
        Default cap on the rows (a fixed stratified subsample), for time.
    """

    load: Callable
    standardize: bool = False
    max_samples: Optional[int] = None


def _breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y, None


def _breast_cancer_noise(n_noise=300):
    X, y = load_breast_cancer(return_X_y=True)
    noise = np.random.default_rng(0).standard_normal((X.shape[0], n_noise))
    return np.hstack([X, noise]), y, np.r_[np.zeros(X.shape[1], int), np.ones(n_noise, int)]


def _digits_even_odd():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y % 2, None


def _digits_10():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y, None


def _wine_0_vs_rest():
    X, y = load_wine(return_X_y=True)
    return X, (y == 0).astype(int), None


def _iris():
    X, y = load_iris(return_X_y=True)
    return X, y, None


def _classification(n_samples, n_features, n_informative, random_state):
    X, y = make_classification(n_samples, n_features, n_informative=n_informative,
                               random_state=random_state)
    return X, y, None


def _scaled_blocks(n_samples=600, scales=(0.1, 1.0, 10.0), block=20, informative=4):
    """Blocks of features of different scale, ``informative`` of them useful in each."""
    n_blocks = len(scales)
    X, y = make_classification(n_samples, n_blocks * block,
                               n_informative=n_blocks * informative, n_redundant=0,
                               shuffle=False, random_state=2)
    # without shuffling the informative features come first: deal them to the blocks
    useful = np.arange(n_blocks * informative).reshape(n_blocks, informative)
    useless = np.arange(n_blocks * informative, n_blocks * block).reshape(n_blocks, -1)
    order = np.hstack([np.r_[u, v] for u, v in zip(useful, useless)])
    groups = np.repeat(np.arange(n_blocks), block)
    return X[:, order] * np.asarray(scales)[groups], y, groups


def _informative_irrelevant(n_samples=300, n_relevant=10, n_irrelevant=90):
    """An informative block (informative and redundant features) and an irrelevant one."""
    X, y = make_classification(n_samples, n_relevant + n_irrelevant,
                               n_informative=n_relevant // 2 + 1,
                               n_redundant=n_relevant - n_relevant // 2 - 1,
                               shuffle=False, random_state=3)
    return X, y, np.r_[np.zeros(n_relevant, int), np.ones(n_irrelevant, int)]


def _libsvm(name, data_home):
    X, y = load_dataset(name, data_home=data_home)
    return X, y, None


def make_datasets(data_home=None):
    """The benchmark's data sets by name (the LIBSVM ones load from ``data_home``)."""
    return {
        "breast-cancer": DataSet(_breast_cancer, standardize=True),
        "digits-even-odd": DataSet(_digits_even_odd),
        "wine-0-vs-rest": DataSet(_wine_0_vs_rest, standardize=True),
        "iris": DataSet(_iris, standardize=True),
        "digits-10": DataSet(_digits_10, max_samples=500),
        "classif-500x200-inf5": DataSet(partial(_classification, 500, 200, 5, 1)),
        "classif-2000x100-inf10": DataSet(partial(_classification, 2000, 100, 10, 0)),
        "breast-cancer+noise300": DataSet(_breast_cancer_noise, standardize=True),
        "scaled-blocks": DataSet(_scaled_blocks),
        "informative-irrelevant": DataSet(_informative_irrelevant),
        "adult": DataSet(partial(_libsvm, "adult", data_home), max_samples=5000),
        "reuters": DataSet(partial(_libsvm, "reuters", data_home), max_samples=4000),
    }


def subsample(y, max_samples, seed=0):
    """Indices of a fixed stratified subsample of at most ``max_samples`` rows, in order."""
    if not max_samples or max_samples >= len(y):
        return np.arange(len(y))
    keep, _ = train_test_split(np.arange(len(y)), train_size=max_samples, stratify=y,
                               random_state=seed)
    return np.sort(keep)


def split_train_test(y, seed, test_size=TEST_SIZE):
    """Stratified, seeded train and test indices; the test part is for reporting only."""
    return train_test_split(np.arange(len(y)), test_size=test_size, stratify=y,
                            random_state=seed)


def parse_params(items):
    """``["tol=1e-3", "method='cg'"]`` -> ``{"tol": 0.001, "method": "cg"}``.

    Values are Python literals; a value that is not one (``method=cg``) is
    taken as a string.
    """
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes NAME=VALUE, not {item!r}")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def configurations(groups, n_features, max_features):
    """``(config, regularization)`` pairs to run, and notes on those skipped."""
    configs, notes = [(REFERENCE, "scalar")], []
    if groups is not None:
        configs.append(("grouped", np.asarray(groups)))
    if max_features is None or n_features <= max_features:
        configs.append(("per-feature", "per-feature"))
    else:
        notes.append(f"per-feature skipped: {n_features:,} features > --max-features "
                     f"{max_features:,}")
    return configs, notes


def _timed_fit(est, X, y):
    """Fit ``est``; the wall time of the whole fit and the convergence warnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn's API transitions
        start = perf_counter()
        est.fit(X, y)
        elapsed = perf_counter() - start
    return elapsed, sum(issubclass(w.category, ConvergenceWarning) for w in caught)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _prepare(X, train, test, standardize):
    X_train, X_test = X[train], X[test]
    if standardize:
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    return X_train, X_test


def run_case(X, y, seed, configs, cv=5, standardize=False, params=None, attrs=DEFAULT_ATTRS):
    """Rows of one (data set, seed): every configuration and LRCV, with the same folds.

    Parameters
    ----------
    X, y : arrays
        The whole data set; split here into train and test parts.
    seed : int
        Seeds the split and the folds.
    configs : list of (str, regularization)
        As :func:`configurations` returns them; the first is the reference.
    cv : int, default=5
        Number of stratified, shuffled folds.
    standardize : bool, default=False
        Standardise with the train part's statistics.
    params : dict, optional
        Further :class:`~hoag_shine.HyperOptimizer` parameters.
    attrs : sequence of str
        Estimator attributes to record (None when absent).

    Returns
    -------
    rows : list of dict
        One per configuration, then LRCV's; fields :data:`ROW_FIELDS`.
    """
    train, test = split_train_test(y, seed)
    X_train, X_test = _prepare(X, train, test, standardize)
    y_train, y_test = y[train], y[test]
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    fits = [(config, HyperOptimizer(regularization=reg, cv=folds, **(params or {})))
            for config, reg in configs]
    fits.append((LRCV, LogisticRegressionCV(Cs=10, cv=folds, scoring="neg_log_loss")))
    rows = []
    for config, est in fits:
        elapsed, n_warnings = _timed_fit(est, X_train, y_train)
        is_lrcv = config == LRCV
        rows.append(dict(
            seed=seed, config=config, n_train=len(train), n_test=len(test),
            n_features=X.shape[1], n_classes=len(est.classes_),
            n_hyper=1 if is_lrcv else len(est.log_alpha_),
            test_loss=log_loss(y_test, est.predict_proba(X_test), labels=est.classes_),
            time=elapsed, n_iter=int(np.max(est.n_iter_)),
            stop=None if is_lrcv else est.stop_reason_, convergence_warnings=n_warnings,
            attrs={} if is_lrcv else {a: _jsonable(getattr(est, a, None)) for a in attrs}))
    reference = rows[0]
    for r in rows:
        r["ratio"] = r["test_loss"] / reference["test_loss"]
        r["time_ratio"] = r["time"] / reference["time"]
    return rows


def worst_first(rows):
    """The multi-strength rows, largest test-loss ratio to the scalar run first."""
    return sorted((r for r in rows if r["config"] in MULTI), key=lambda r: -r["ratio"])


def _format_attrs(attrs):
    return " ".join(f"{k}={_short(v)}" for k, v in attrs.items() if v is not None)


def _short(value):
    """A selection_ dict as what was kept and the comparison's z-score; else as is."""
    if isinstance(value, dict) and "kept" in value:
        if value.get("std_error"):
            return f"{value['kept']}(z={value['gain'] / value['std_error']:.1f})"
        return value["kept"]
    return value


def format_runs(rows):
    """The multi-strength runs, worst first, with the scalar and LRCV runs of their split."""
    by_split = {(r["dataset"], r["seed"], r["config"]): r for r in rows}
    lines = []
    for r in worst_first(rows):
        scalar = by_split[r["dataset"], r["seed"], REFERENCE]
        lrcv = by_split.get((r["dataset"], r["seed"], LRCV))
        lines.append([r["dataset"], r["seed"], r["config"], r["n_hyper"],
                      f"{r['ratio']:.4f}", f"{r['test_loss']:.4f}", f"{scalar['test_loss']:.4f}",
                      f"{lrcv['ratio']:.4f}" if lrcv else "", f"{r['time']:.2f}",
                      f"{r['time_ratio']:.1f}", r["n_iter"], r["stop"],
                      _format_attrs(r["attrs"])])
    header = ["data set", "seed", "config", "n_hyper", "ratio", "test loss", "scalar",
              "LRCV ratio", "time (s)", "time/scalar", "n_iter", "stop", "attrs"]
    return format_table(header, lines, align=["<", ">", "<"] + [">"] * 8 + ["<", "<"])


def summarize(rows):
    """Per configuration: the test-loss ratios and fit-time ratios to the scalar runs."""
    summary = {}
    for config in (*MULTI, LRCV):
        mine = [r for r in rows if r["config"] == config]
        if not mine:
            continue
        ratios = [r["ratio"] for r in mine]
        worst = max(mine, key=lambda r: r["ratio"])
        summary[config] = dict(
            runs=len(mine),
            not_worse=float(np.mean([q <= NOT_WORSE for q in ratios])),
            above=sum(q > NEVER_ABOVE for q in ratios),
            worst=worst["ratio"], worst_run=f"{worst['dataset']} seed {worst['seed']}",
            median=statistics.median(ratios),
            better=float(np.mean([q <= BETTER for q in ratios])),
            median_time_ratio=statistics.median(r["time_ratio"] for r in mine),
            median_time=statistics.median(r["time"] for r in mine))
    return summary


def format_summary(summary, rows):
    """The per-configuration table, then the scalar runs' times for scale."""
    header = ["config", "runs", f"ratio<={NOT_WORSE}", "worst ratio", "worst run",
              "median ratio", "better>=1%", "median time/scalar", "median time (s)"]
    lines = [[config, s["runs"], f"{s['not_worse']:.0%}", f"{s['worst']:.4f}", s["worst_run"],
              f"{s['median']:.4f}", f"{s['better']:.0%}", f"{s['median_time_ratio']:.2f}",
              f"{s['median_time']:.2f}"] for config, s in summary.items()]
    scalar = [r["time"] for r in rows if r["config"] == REFERENCE]
    return (format_table(header, lines, align=["<", ">", ">", ">", "<", ">", ">", ">", ">"])
            + f"\n(scalar runs: {len(scalar)}, median fit time "
              f"{statistics.median(scalar):.2f} s; ratios are test log-loss / the scalar "
              "run's on the same split, LRCV's included)")


def family_medians(rows):
    """``{(dataset, config): median ratio over seeds}`` of the multi-strength runs."""
    ratios = {}
    for r in rows:
        if r["config"] in MULTI:
            ratios.setdefault((r["dataset"], r["config"]), []).append(r["ratio"])
    return {key: statistics.median(values) for key, values in ratios.items()}


def format_targets(summary, rows):
    """The targets for many strengths, each with its measured numbers."""
    multi = [c for c in MULTI if c in summary]
    lines = [f"targets for many strengths, measured over {len(worst_first(rows))} "
             "multi-strength runs:"]
    lines.append(f"- test-loss ratio <= {NOT_WORSE} in >= {SHARE:.0%} of runs: " + "; ".join(
        f"{c} {summary[c]['not_worse']:.0%} of {summary[c]['runs']}" for c in multi))
    lines.append(f"- never above {NEVER_ABOVE}: " + "; ".join(
        f"{c} worst {summary[c]['worst']:.4f} ({summary[c]['worst_run']}), "
        f"{summary[c]['above']} run(s) above" for c in multi))
    if "per-feature" in summary:
        lines.append(f"- median per-feature fit time <= {TIME_FACTOR:g}x scalar: "
                     f"{summary['per-feature']['median_time_ratio']:.2f}x"
                     + (f" (grouped {summary['grouped']['median_time_ratio']:.2f}x)"
                        if "grouped" in summary else ""))
    better = sorted((ratio, name, config) for (name, config), ratio
                    in family_medians(rows).items() if ratio <= BETTER)
    lines.append("- at least one family better than scalar by >= 1% (median over seeds): "
                 + ("; ".join(f"{name} {config} {ratio:.4f}" for ratio, name, config in better)
                    or "none"))
    return "\n".join(lines)


def plot_ratios(rows, path):
    """Test-loss ratio to the scalar run per data set and configuration (one dot per seed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    names = sorted({r["dataset"] for r in rows})
    configs = [c for c in (*MULTI, LRCV) if any(r["config"] == c for r in rows)]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names)), 4))
    for k, config in enumerate(configs):
        offset = (k - (len(configs) - 1) / 2) * 0.2
        mine = [r for r in rows if r["config"] == config]
        ax.scatter([names.index(r["dataset"]) + offset for r in mine],
                   [r["ratio"] for r in mine], label=config, s=18)
    for level, style in ((1.0, "-"), (NOT_WORSE, ":"), (NEVER_ABOVE, "--")):
        ax.axhline(level, color="grey", linestyle=style, linewidth=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylabel("test log-loss / scalar run's")
    ax.legend(ncol=len(configs), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"figure written to {path}")
    return ax


def build_parser():
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-home", default=None,
                        help="data home with libsvm/ (adult, reuters); default "
                             "$HOAG_SHINE_DATA")
    parser.add_argument("--datasets", nargs="+", default=None, metavar="NAME",
                        help=f"subset of: {', '.join(make_datasets())}")
    parser.add_argument("--seeds", type=int, default=None, help="split seeds (default 3)")
    parser.add_argument("--cv", type=int, default=None, help="folds (default 5)")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                        help="HyperOptimizer parameters other than the defaults "
                             "(values read as Python literals), e.g. tol=1e-3")
    parser.add_argument("--record-attr", action="append", default=[], metavar="NAME",
                        help="also record getattr(estimator, NAME, None); repeatable "
                             f"(always: {', '.join(DEFAULT_ATTRS)})")
    parser.add_argument("--max-samples", type=int, default=None,
                        help="cap every data set at this many rows (a fixed stratified "
                             "subsample; 0: no cap); default: per data set, "
                             "digits-10 500, adult 5000, reuters 4000")
    parser.add_argument("--max-features", type=int, default=10000,
                        help="skip per-feature strengths above this many features "
                             "(default 10000; 0: no limit)")
    parser.add_argument("--output", default=None, metavar="PATH",
                        help="write every row and the machine description as JSON")
    parser.add_argument("--plot", default=None, metavar="PATH",
                        help="draw the ratios per data set (matplotlib)")
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny subset for tests: {', '.join(QUICK['datasets'])}, "
                             f"{QUICK['seeds']} seed, cv={QUICK['cv']}, "
                             f"max-samples {QUICK['max_samples']} (explicit options win)")
    return parser


def _resolve(args):
    """Fill the defaults that ``--quick`` changes."""
    quick = QUICK if args.quick else dict(datasets=None, seeds=3, cv=5, max_samples=None)
    for key, value in quick.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None):
    parser = build_parser()
    args = _resolve(parser.parse_args(argv))
    try:
        params = parse_params(args.set)
    except ValueError as exc:
        parser.error(str(exc))
    datasets = make_datasets(args.data_home)
    names = list(args.datasets or datasets)
    unknown = sorted(set(names) - set(datasets))
    if unknown:
        parser.error(f"unknown data set(s) {', '.join(unknown)}; known: {', '.join(datasets)}")
    attrs = list(dict.fromkeys([*DEFAULT_ATTRS, *args.record_attr]))
    rows, notes = [], []
    with limit_threads(1):
        machine = describe_machine()
        print(format_machine(machine))
        for name in names:
            notes += _run_dataset(name, datasets[name], args, params, attrs, rows)
    if not rows:
        print("no data set could be run", file=sys.stderr)
        return rows
    print("\nmulti-strength runs, worst test-loss ratio to the scalar run first:")
    print(format_runs(rows))
    summary = summarize(rows)
    print()
    print(format_summary(summary, rows))
    print()
    print(format_targets(summary, rows))
    for note in notes:
        print(f"note: {note}")
    if args.output:
        write_json(args.output, dict(machine=machine, options=vars(args), params=params,
                                     notes=notes, summary=summary, rows=rows))
    if args.plot:
        plot_ratios(rows, args.plot)
    return rows


def _run_dataset(name, spec, args, params, attrs, rows):
    """Run every seed of one data set, appending to ``rows``; the notes to print."""
    try:
        X, y, groups = spec.load()
    except DatasetNotFound as exc:
        note = f"{name} skipped: {exc}"
        print(note, flush=True)
        return [note]
    cap = spec.max_samples if args.max_samples is None else args.max_samples
    keep = subsample(y, cap)
    notes = ([f"{name}: {len(keep):,} of {len(y):,} rows (stratified subsample)"]
             if len(keep) < len(y) else [])
    X, y = X[keep], y[keep]
    configs, skipped = configurations(groups, X.shape[1], args.max_features or None)
    notes += [f"{name}: {s}" for s in skipped]
    for s in skipped:
        print(f"{name}: {s}", flush=True)
    for seed in range(args.seeds):
        start = perf_counter()
        new = run_case(X, y, seed, configs, args.cv, spec.standardize, params, attrs)
        for r in new:
            r["dataset"] = name
        rows += new
        cells = "  ".join(f"{r['config']} {r['test_loss']:.4f} ({r['time']:.1f}s)"
                          for r in new)
        print(f"{name} {X.shape[0]}x{X.shape[1]} seed {seed}: {cells}  "
              f"[{perf_counter() - start:.0f}s]", flush=True)
    return notes


if __name__ == "__main__":
    main()
