"""Run the SHINE paper's comparison and write one tidy CSV row per observed step.

Protocol: for each seed, 90% of the samples train the model, the rest is halved
into the outer part (which drives the strength) and the held-out part (used
only to report). Each method is timed by itself; the held-out loss is computed
outside the timed region. Progress goes to stderr (``-v``: a line per step);
Ctrl-C stops the run and writes the (method, seed) runs already finished.
Warnings of the methods are summarised per method at the end.

Example::

    python -m benchmarks.run --dataset 20news --data-home ../shared/datasets \\
        --seeds 10 --max-iter 30 --budget 120 --out benchmarks/results/20news.csv
    python -m benchmarks.run --quick --out /tmp/quick.csv     # a few seconds
"""
import argparse
import csv
import sys
import warnings
from collections import Counter
from pathlib import Path
from time import perf_counter

import numpy as np
from joblib import Parallel, delayed

from hoag_shine import InnerProblem, minimize_lbfgs
from hoag_shine.cli_data import canonical_name, mean_log_loss

from ._common import (ProgressPrinter, add_common_arguments, describe_data,
                      describe_machine, format_machine, limit_threads, load_from_args,
                      split_indices, thread_limit, write_json)
from .solvers import DEFAULT_SOLVERS, SOLVERS

COLUMNS = ["dataset", "method", "seed", "step", "time", "log_alpha", "outer_loss",
           "heldout_loss", "n_inner_iter", "n_grad_evals", "n_hvp", "time_forward",
           "time_backward", "accepted", "tolerance"]
#: the pseudo-method of :func:`cold_solve`: the cost unit of the paper's claims
COLD = "cold-solve"
#: the quick mode: breast cancer split 50 / 25 / 25, so that the outer part
#: (142 samples) and the held-out part (143) are large enough for their losses
#: to rank the methods; the paper's 90 / 5 / 5 would leave 28 samples in each
QUICK = {"dataset": "breast-cancer", "seeds": 1, "max_iter": 10, "budget": 30.0,
         "train_fraction": 0.5, "methods": ["cg", "shine", "shine-opa", "grid-10"]}

#: kept for the callers of the former name; the package's function is the one used
heldout_loss = mean_log_loss


def run_one(X, y, dataset, method, seed, *, max_iter, budget, n_threads,
            train_fraction=0.9, progress=None):
    """Run one method on one seed's split.

    Returns
    -------
    rows : list of dict
        One per observed step, keys :data:`COLUMNS`.
    caught : list of str
        The warnings the method raised, as "Category: message".
    """
    train, outer, held = split_indices(X.shape[0], seed, train_fraction)
    rows = []

    def observe(point):
        row = {"dataset": dataset, "method": method, "seed": seed, "step": len(rows),
               "heldout_loss": mean_log_loss(X[held], y[held], point["coef"],
                                             point["intercept"])}
        row.update({k: point.get(k, "") for k in COLUMNS if k not in row})
        rows.append(row)
        if progress is not None:
            progress.step(f"step {len(rows)}  t {point['time']:.3g} s  log alpha "
                          f"{point['log_alpha']:.3f}  held-out loss {row['heldout_loss']:.5f}")

    with limit_threads(n_threads), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SOLVERS[method](X, y, train, outer, max_iter=max_iter, budget=budget, seed=seed,
                        observe=observe)
    return rows, [f"{w.category.__name__}: {w.message}" for w in caught]


def run(X, y, dataset, methods, seeds, *, max_iter, budget, n_threads=1, n_jobs=1,
        train_fraction=0.9, progress=None, finished=None):
    """All methods on all seeds; seeds run in sequence unless ``n_jobs`` > 1.

    ``finished`` (a list), when given, receives ``(method, seed, rows, warnings)``
    as each run ends, so that a caller keeps them if the run is interrupted.

    Returns
    -------
    rows : list of dict
        Every observed step of every run.
    warnings : dict
        Method -> Counter of warning messages over its seeds.
    """
    tasks = [(method, seed) for seed in range(seeds) for method in methods]
    kwargs = dict(max_iter=max_iter, budget=budget, n_threads=n_threads,
                  train_fraction=train_fraction)
    finished = [] if finished is None else finished
    if n_jobs == 1:
        for method, seed in tasks:
            if progress is not None:
                progress.start_task(f"{method} seed {seed}")
            rows, caught = run_one(X, y, dataset, method, seed, progress=progress, **kwargs)
            if method == "cg":
                # the cost unit of this seed, kept with the run it comes from
                cold = cold_solve(X, y, dataset, seed, [(method, seed, rows, caught)],
                                  n_threads=n_threads, train_fraction=train_fraction)
                rows = rows + ([] if cold is None else [cold])
            finished.append((method, seed, rows, caught))
            if progress is not None:
                ending = (f"{len(rows)} steps, final held-out loss "
                          f"{rows[-1]['heldout_loss']:.5f}" if rows else "no step")
                progress.end_task(ending + (f", {len(caught)} warning(s)" if caught else ""))
    else:
        results = Parallel(n_jobs=n_jobs)(
            delayed(run_one)(X, y, dataset, m, s, **kwargs) for m, s in tasks)
        finished += [(m, s, rows, caught) for (m, s), (rows, caught) in zip(tasks, results)]
    return collect(finished)


def cold_solve(X, y, dataset, seed, finished, *, train_fraction, n_threads, reference="cg"):
    """One inner solve from zero at the final strength of ``reference`` on ``seed``.

    The strength and the relative tolerance are those of the reference run's
    last step (HOAG's final inner tolerance), relative, as in the estimator,
    to the gradient norm at ``w = 0`` and ``log(alpha) = 0``. The row it
    returns (method :data:`COLD`) times that solve alone: what "a whole run
    costs k inner solves" is measured against.
    """
    last = next((rows[-1] for m, s, rows, _ in finished
                 if m == reference and s == seed and rows), None)
    if last is None or last["tolerance"] in ("", None):
        return None
    train, _, held = split_indices(X.shape[0], seed, train_fraction)
    problem = InnerProblem.from_data(X[train], y[train])
    w0 = np.zeros(problem.n_coef)
    tol = float(last["tolerance"]) * np.linalg.norm(problem.value_and_gradient(w0, [0.0])[1])
    with limit_threads(n_threads):
        start = perf_counter()
        res = minimize_lbfgs(problem.fun_and_grad([last["log_alpha"]]), w0, tol=tol,
                             max_iter=1000, warn=False)
        elapsed = perf_counter() - start
    row = {k: "" for k in COLUMNS}
    row.update(dataset=dataset, method=COLD, seed=seed, step=0, time=elapsed,
               log_alpha=last["log_alpha"], tolerance=last["tolerance"],
               n_inner_iter=res.n_iter, n_grad_evals=res.nfev,
               heldout_loss=mean_log_loss(X[held], y[held], res.x, 0.0),
               outer_loss=np.nan)
    return row


def collect(finished):
    """Rows and per-method warning counts of the finished ``(method, seed, rows, warnings)``."""
    summary = {}
    for method, _, _, caught in finished:
        summary.setdefault(method, Counter()).update(caught)
    return [row for _, _, rows, _ in finished for row in rows], summary


def format_warnings(summary, n_seeds):
    """One line per distinct warning of each method, with how often it came."""
    lines = []
    for method, counts in summary.items():
        for text, n in counts.items():
            lines.append(f"{method}: {n} time(s) over {n_seeds} seed(s): {text}")
    return "\n".join(lines) if lines else "no warnings"


def write_csv(path, rows):
    """Write the rows with :data:`COLUMNS` as header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _method(text):
    try:
        return canonical_name(text, SOLVERS, "method")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def main(argv=None):
    """Command-line entry point; returns 0, or 130 when interrupted."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--methods", nargs="+", default=None, type=_method,
                        metavar="METHOD", help=f"among {', '.join(sorted(SOLVERS))}")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--max-iter", type=int, default=30, help="outer iterations")
    parser.add_argument("--budget", type=float, default=300.0,
                        help="seconds allowed to one method on one seed")
    parser.add_argument("--train-fraction", type=float, default=0.9,
                        help="training part; the rest is halved into the outer and "
                             "held-out parts (default: %(default)s, the paper's)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="joblib workers over (method, seed) runs; 1 keeps timings "
                             "clean (and progress and Ctrl-C per run)")
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 10 outer iterations, 4 methods, breast cancer "
                             "split 50/25/25")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="a progress line per step (default: per run)")
    parser.add_argument("--out", default="benchmarks/results/results.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FutureWarning)
        args = parser.parse_args(argv)
    for w in caught:
        print(f"{parser.prog}: warning: {w.message}", file=sys.stderr)
    if args.quick:
        if args.dataset == parser.get_default("dataset"):
            args.dataset = QUICK["dataset"]
        args.seeds, args.max_iter, args.budget = QUICK["seeds"], QUICK["max_iter"], QUICK["budget"]
        args.train_fraction = QUICK["train_fraction"]
        args.methods = args.methods or QUICK["methods"]
    if not 0 < args.train_fraction < 1:
        parser.error(f"--train-fraction must be in (0, 1), got {args.train_fraction}")
    methods = args.methods or DEFAULT_SOLVERS
    print(f"loading {args.dataset}", file=sys.stderr, flush=True)
    X, y = load_from_args(args, parser)
    with limit_threads(thread_limit(args)):
        machine = describe_machine()
    print(format_machine(machine))
    print(describe_data(args.dataset, X, y))
    _, outer, held = split_indices(X.shape[0], 0, args.train_fraction)
    print(f"split   : {args.train_fraction:.0%} training, outer part {len(outer):,} "
          f"samples, held-out part {len(held):,} samples"
          + (" (quick mode: a larger outer part than the paper's 5%, so that its loss "
             "ranks the methods)" if args.quick else ""), flush=True)
    progress = ProgressPrinter(len(methods) * args.seeds, args.max_iter,
                               verbose=1 + args.verbose)
    finished, status = [], 0
    try:
        rows, summary = run(X, y, args.dataset, methods, args.seeds, max_iter=args.max_iter,
                            budget=args.budget, n_threads=thread_limit(args),
                            n_jobs=args.n_jobs, train_fraction=args.train_fraction,
                            progress=progress, finished=finished)
    except KeyboardInterrupt:
        status = 130
        rows, summary = collect(finished)
        print(f"{parser.prog}: interrupted; {len(finished)} of {len(methods) * args.seeds} "
              "runs finished and kept", file=sys.stderr)
    write_csv(args.out, rows)
    write_json(Path(args.out).with_suffix(".json"),
               {"machine": machine, "command": vars(args), "interrupted": status != 0,
                "warnings": {m: dict(c) for m, c in summary.items()}})
    print("warnings:\n" + format_warnings(summary, args.seeds))
    print(f"{len(rows)} rows written to {args.out}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
