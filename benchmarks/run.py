"""Run the SHINE paper's comparison and write one tidy CSV row per observed step.

Protocol: for each seed, 90% of the samples train the model, the rest is halved
into the outer part (which drives the strength) and the held-out part (used
only to report). Each method is timed by itself; the held-out loss is computed
outside the timed region.

Example::

    python -m benchmarks.run --dataset 20news --data-home ../shared/datasets \
        --seeds 10 --max-iter 30 --budget 120 --out benchmarks/results/20news.csv
    python -m benchmarks.run --quick --out /tmp/quick.csv     # about a minute
"""
import argparse
import csv
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ._common import (add_common_arguments, describe_data, describe_machine,
                      format_machine, limit_threads, load_from_args, split_indices,
                      thread_limit, write_json)
from .solvers import DEFAULT_SOLVERS, SOLVERS

COLUMNS = ["dataset", "method", "seed", "step", "time", "log_alpha", "outer_loss",
           "heldout_loss", "n_inner_iter", "n_grad_evals", "n_hvp", "time_forward",
           "time_backward", "accepted"]
QUICK = {"dataset": "breast-cancer", "seeds": 1, "max_iter": 5, "budget": 30.0,
         "methods": ["hoag-cg", "shine", "shine-opa", "grid-10"]}


def heldout_loss(X, y, coef, intercept):
    """Mean logistic loss on held-out samples (labels in {-1, +1})."""
    z = y * (np.asarray(X @ coef).ravel() + intercept)
    return float(np.mean(np.logaddexp(0.0, -z)))


def run_one(X, y, dataset, method, seed, *, max_iter, budget, n_threads):
    """Run one method on one seed's split; return its rows."""
    train, outer, held = split_indices(X.shape[0], seed)
    rows = []

    def observe(point):
        row = {"dataset": dataset, "method": method, "seed": seed, "step": len(rows),
               "heldout_loss": heldout_loss(X[held], y[held], point["coef"],
                                            point["intercept"])}
        row.update({k: point.get(k, "") for k in COLUMNS if k not in row})
        rows.append(row)

    with limit_threads(n_threads):
        SOLVERS[method](X, y, train, outer, max_iter=max_iter, budget=budget, seed=seed,
                        observe=observe)
    return rows


def run(X, y, dataset, methods, seeds, *, max_iter, budget, n_threads=1, n_jobs=1):
    """All methods on all seeds; seeds run in sequence unless ``n_jobs`` > 1."""
    tasks = [(method, seed) for seed in range(seeds) for method in methods]
    kwargs = dict(max_iter=max_iter, budget=budget, n_threads=n_threads)
    if n_jobs == 1:
        results = [run_one(X, y, dataset, m, s, **kwargs) for m, s in tasks]
    else:
        results = Parallel(n_jobs=n_jobs)(
            delayed(run_one)(X, y, dataset, m, s, **kwargs) for m, s in tasks)
    return [row for rows in results for row in rows]


def write_csv(path, rows):
    """Write the rows with :data:`COLUMNS` as header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--methods", nargs="+", default=None, choices=sorted(SOLVERS),
                        metavar="METHOD", help=f"among {', '.join(sorted(SOLVERS))}")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--max-iter", type=int, default=30, help="outer iterations")
    parser.add_argument("--budget", type=float, default=300.0,
                        help="seconds allowed to one method on one seed")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="joblib workers over (method, seed) runs; 1 keeps timings clean")
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 5 outer iterations, 4 methods, breast cancer")
    parser.add_argument("--out", default="benchmarks/results/results.csv")
    args = parser.parse_args(argv)
    if args.quick:
        if args.dataset == parser.get_default("dataset"):
            args.dataset = QUICK["dataset"]
        args.seeds, args.max_iter, args.budget = QUICK["seeds"], QUICK["max_iter"], QUICK["budget"]
        args.methods = args.methods or QUICK["methods"]
    methods = args.methods or DEFAULT_SOLVERS
    X, y = load_from_args(args, parser)
    with limit_threads(thread_limit(args)):
        machine = describe_machine()
    print(format_machine(machine))
    print(describe_data(args.dataset, X, y))
    rows = run(X, y, args.dataset, methods, args.seeds, max_iter=args.max_iter,
               budget=args.budget, n_threads=thread_limit(args), n_jobs=args.n_jobs)
    write_csv(args.out, rows)
    write_json(Path(args.out).with_suffix(".json"),
               {"machine": machine, "command": vars(args)})
    print(f"{len(rows)} rows written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
