"""Changes that leave the problem the same: scaled weights, scaled columns, reordered rows.

Multiplying every sample weight by ``c`` and shifting the strengths by
``log(c)``, or multiplying every column of ``X`` by ``s`` and shifting them
by ``2 log(s)``, gives the same problem in other units; reordering the rows
(with the same splits) gives the same problem summed in another order. For
every configuration (two or three classes, intercept or not, dense or
sparse, one held-out split or 3 folds, each method) and seed, the script
draws a small weighted problem, fits ``HyperOptimizer`` on it and on each
changed copy, and records:

* how far each answer's ``log_alpha_`` (shifted back) moves from the
  original's, for the scale changes and, separately, for the row orders;
* the relative difference between the cross-validated log-loss of each
  answer and of the original's, computed independently by scikit-learn's
  ``LogisticRegression`` solved to 1e-12 on each training part.

A scale change that the solver did not undo would move the answer on every
problem. Where the outer loss is flat, rounding alone decides where the
loop stops; reordering the rows shows by how much. The answers must then
agree in cross-validated loss to the estimator's ``tol``.

Usage::

    python -m benchmarks.bench_invariance --seeds 3
    python -m benchmarks.bench_invariance --quick
"""
import argparse
import itertools
import warnings

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split

from hoag_shine import HyperOptimizer

from ._common import describe_machine, format_machine, limit_threads
from .bench_strengths import parse_params

METHODS = ("cg", "shine", "shine-opa", "shine-refine")
#: weight scales, None: weights normalised to sum to 1
WEIGHT_SCALES = (1e-6, 1e-3, 1e3, 1e6, None)
COLUMN_SCALES = (1e-2, 1e2)
N_ORDERS = 2
#: the three kinds of change, as the names of :func:`changes` start
KINDS = ("weights", "columns", "row order")
#: the estimator's default tol: the relative precision its answer is claimed to
TOL = 1e-4
#: a move of log(alpha) below this is "the same answer"
SAME = 1e-6


def configurations(quick=False):
    """``(n_classes, fit_intercept, sparse, n_splits, method)`` of every run."""
    if quick:
        return [(3, True, True, 3, "shine"), (2, False, False, 1, "cg")]
    return list(itertools.product((2, 3), (True, False), (False, True), (1, 3), METHODS))


def make_problem(config, seed):
    """A small weighted problem and its splits, drawn from ``config`` and ``seed``."""
    n_classes, fit_intercept, is_sparse, n_splits, method = config
    rng = np.random.default_rng([seed, n_classes, fit_intercept, is_sparse, n_splits,
                                 METHODS.index(method)])
    n, p = int(rng.integers(60, 200)), int(rng.integers(3, 20))
    X = rng.standard_normal((n, p)) * rng.choice([0.1, 1.0, 10.0])
    scores = X @ rng.standard_normal((p, n_classes))
    scores /= scores.std()
    y = np.argmax(scores + rng.uniform(0.3, 2.0) * rng.standard_normal((n, n_classes)), 1)
    y[:n_classes] = np.arange(n_classes)
    if is_sparse:
        X[np.abs(X) < 0.5 * X.std()] = 0.0
    weights = rng.uniform(0.2, 3.0, n)
    if n_splits == 1:
        train, test = train_test_split(np.arange(n), test_size=0.3, random_state=seed,
                                       stratify=y)
        splits = [(np.sort(train), np.sort(test))]
    else:
        splits = list(StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, y))
    return X, y, weights, splits


def reference_loss(X, y, weights, splits, log_alpha, fit_intercept):
    """Weighted cross-validated log-loss per held-out weight, by tight scikit-learn fits."""
    total = held = 0.0
    for train, test in splits:
        clf = LogisticRegression(C=float(np.exp(-log_alpha)), fit_intercept=fit_intercept,
                                 tol=1e-12, max_iter=100000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X[train], y[train], sample_weight=weights[train])
        proba = clf.predict_proba(X[test])[np.arange(len(test)),
                                           np.searchsorted(clf.classes_, y[test])]
        total -= float(weights[test] @ np.log(np.maximum(proba, np.finfo(float).tiny)))
        held += float(weights[test].sum())
    return total / held


def changes(weights, n_rows, seed):
    """``(name, weight factor, column factor, row order or None)`` of every null change."""
    out = []
    for c in WEIGHT_SCALES:
        factor = 1.0 / weights.sum() if c is None else c
        out.append(("weights sum to 1" if c is None else f"weights x {c:g}", factor, 1.0, None))
    for s in COLUMN_SCALES:
        out.append((f"columns x {s:g}", 1.0, s, None))
    for k in range(N_ORDERS):
        order = np.random.default_rng([seed, k]).permutation(n_rows)
        out.append((f"row order {k}", 1.0, 1.0, order))
    return out


def _fit(X, y, weights, splits, config, c=1.0, s=1.0, order=None, params=None):
    """``log_alpha_`` of the fit on the changed copy, shifted back."""
    _, fit_intercept, is_sparse, _, method = config
    shift = np.log(c) + 2.0 * np.log(s)
    X, w = X * s, weights * c
    if order is not None:
        position = np.argsort(order)
        X, y, w = X[order], y[order], w[order]
        splits = [(np.sort(position[a]), np.sort(position[b])) for a, b in splits]
    est = HyperOptimizer(method, cv=splits, fit_intercept=fit_intercept, refit=False,
                         lambda_init=shift, lambda_bounds=(shift - 12.0, shift + 12.0),
                         random_state=0, tol=TOL, **(params or {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(sparse.csr_matrix(X) if is_sparse else X, y, sample_weight=w)
    return float(est.log_alpha_[0]) - shift, -float(est.best_score_)


def run_one(config, seed, params=None):
    """One row: the moves of the answer under the changes, and the loss differences."""
    X, y, weights, splits = make_problem(config, seed)
    fit_intercept = config[1]
    base, base_score = _fit(X, y, weights, splits, config, params=params)
    base_loss = reference_loss(X, y, weights, splits, base, fit_intercept)
    moves, losses = {}, {}
    for name, c, s, order in changes(weights, len(y), seed):
        log_alpha, _ = _fit(X, y, weights, splits, config, c, s, order, params)
        moves[name] = abs(log_alpha - base)
        losses[name] = abs(reference_loss(X, y, weights, splits, log_alpha, fit_intercept)
                           - base_loss) / base_loss
    n_classes, _, is_sparse, n_splits, method = config
    return dict(seed=seed, n_classes=n_classes, intercept=fit_intercept, sparse=is_sparse,
                n_splits=n_splits, method=method, log_alpha=base,
                # the estimator's loss and the independent one at the same answer
                score_vs_reference=abs(base_score - base_loss) / base_loss,
                **{f"{kind}_move": max(v for k, v in moves.items() if k.startswith(kind))
                   for kind in KINDS},
                **{f"{kind}_loss": max(v for k, v in losses.items() if k.startswith(kind))
                   for kind in KINDS},
                loss_diff=max(losses.values()), moves=moves, losses=losses)


def summarize(rows):
    """Worst cases first, then the moves per kind of change."""
    rows = sorted(rows, key=lambda r: -r["loss_diff"])
    print(f"\n{'classes':>7}{'icpt':>5}{'sparse':>7}{'splits':>7}  {'method':<13}{'seed':>5}"
          f"{'log(a)':>8}" + "".join(f"{k + ' move':>16}" for k in KINDS) + f"{'loss diff':>11}")
    for r in rows[:12]:
        print(f"{r['n_classes']:>7}{r['intercept']:>5d}{r['sparse']:>7d}{r['n_splits']:>7}  "
              f"{r['method']:<13}{r['seed']:>5}{r['log_alpha']:>8.2f}"
              + "".join(f"{r[k + '_move']:>16.1e}" for k in KINDS) + f"{r['loss_diff']:>11.1e}")
    print(f"\n{len(rows)} runs; a move of log(alpha) up to {SAME:g} counts as none")
    print(f"{'change':<32}{'runs':>6}{'no move':>9}{'moved':>7}{'worst move':>12}"
          f"{'worst / row order':>19}{'worst loss diff':>17}")
    groups = [("weights", "weights", rows),
              ("columns, no intercept", "columns", [r for r in rows if not r["intercept"]]),
              ("columns, intercept", "columns", [r for r in rows if r["intercept"]]),
              ("row order", "row order", rows)]
    for label, kind, mine in groups:
        if not mine:
            continue
        moved = [r for r in mine if r[kind + "_move"] > SAME]
        ratio = max((r[kind + "_move"] / max(r["row order_move"], SAME) for r in moved),
                    default=float("nan"))
        print(f"{label:<32}{len(mine):>6}{len(mine) - len(moved):>9}{len(moved):>7}"
              f"{max(r[kind + '_move'] for r in mine):>12.1e}"
              f"{ratio if kind != 'row order' else float('nan'):>19.1f}"
              f"{max(r[kind + '_loss'] for r in mine):>17.1e}")
    print(f"worst cross-validated loss difference between answers: "
          f"{max(r['loss_diff'] for r in rows):.1e} (tol {TOL:g}); "
          f"worst estimator loss against the reference at the same answer: "
          f"{max(r['score_vs_reference'] for r in rows):.1e}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="problems per configuration")
    parser.add_argument("--quick", action="store_true", help="two configurations, one seed")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                        help="HyperOptimizer parameters other than the defaults, e.g. "
                             "initial_matrix=gamma")
    args = parser.parse_args(argv)
    try:
        params = parse_params(args.set)
    except ValueError as exc:
        parser.error(str(exc))
    rows = []
    with limit_threads(1):
        print(format_machine(describe_machine()))
        for seed in range(1 if args.quick else args.seeds):
            for config in configurations(args.quick):
                rows.append(run_one(config, seed, params))
                r = rows[-1]
                print(f"{config}  seed {seed}: moves "
                      + ", ".join(f"{k} {r[k + '_move']:.1e}" for k in KINDS)
                      + f"; loss diff {r['loss_diff']:.1e}", flush=True)
    return summarize(rows)


if __name__ == "__main__":
    main()
