"""One split's evaluation on a Dask worker started by its nanny, against this process.

The first split of a k-fold cross-validation is evaluated from a cold start
(forward solve and backward pass, as one outer iteration of a fit does) in
this process, then inside a task on the worker of a ``LocalCluster`` with
Dask's defaults (a nanny, whose worker starts with
``MALLOC_TRIM_THRESHOLD_=65536``). The time is measured inside the task
(the split was scattered and copied there before), so the ratio is that of
the arithmetic and its allocations alone. Medians over ``--repeat`` rounds,
alternating between the two places. ``--unset-malloc-trim`` starts the
worker without the nanny's ``MALLOC_TRIM_THRESHOLD_`` (through Dask's
configuration, as the user guide shows).

Run from the repository root::

    python -m benchmarks.bench_fold_worker --data-home ../shared/datasets
"""
import argparse
import copy
import time

import numpy as np
from sklearn.model_selection import StratifiedKFold

from hoag_shine import InnerProblem
from hoag_shine.outer.criterion import FoldState, _evaluate_fold
from hoag_shine.model.datafit import LogisticLoss
from hoag_shine.implicit.methods import get_method
from hoag_shine.solver.initial import ScaledIdentity, solver_metric

from ._common import (add_common_arguments, describe_data, limit_threads, load_from_args,
                      median, thread_limit)


def first_split(X, y, k):
    """``(InnerProblem, LogisticLoss)`` of the first of ``k`` stratified splits."""
    train, test = next(StratifiedKFold(k).split(X, y))
    return (InnerProblem.from_data(X[train], y[train], None, True),
            LogisticLoss(X[test], y[test], True))


def timed_evaluation(fold, log_alpha, eps, method, n_threads):
    """Seconds of one cold-start evaluation of ``fold`` where this function runs."""
    with limit_threads(n_threads):
        problem, _ = fold
        w0 = np.zeros(problem.n_coef)
        g0 = problem.value_and_gradient(w0, log_alpha)[1]
        g0 = ScaledIdentity(solver_metric("auto", problem, log_alpha)).gradient_norm(g0)
        state = FoldState(w0, None, None, log_alpha, g0)
        options = dict(method=get_method(method), memory_size=None, inner_max_iter=1000,
                       initial_matrix="auto", warm_start_memory=True, outer_step=None)
        start = time.perf_counter()
        _evaluate_fold(fold, state, log_alpha, eps, options)
        return time.perf_counter() - start


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_fold_worker",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--method", default="shine")
    parser.add_argument("--log-alpha", type=float, default=-9.0)
    parser.add_argument("--eps", type=float, default=1e-3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--unset-malloc-trim", action="store_true")
    args = parser.parse_args(argv)
    import dask
    from distributed import Client, LocalCluster

    unset = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}

    X, y = load_from_args(args, parser)
    print(describe_data(args.dataset, X, y))
    fold = first_split(X, y, args.folds)
    call = (np.array([args.log_alpha]), args.eps, args.method, thread_limit(args))
    with dask.config.set(unset if args.unset_malloc_trim else {}), \
            LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = client.submit(copy.deepcopy, client.scatter(fold), pure=False)
        times = {"this process": [], "dask worker": []}
        for _ in range(args.repeat):
            times["this process"].append(timed_evaluation(fold, *call))
            times["dask worker"].append(
                client.submit(timed_evaluation, remote, *call, pure=False).result())
            print("  " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
                  flush=True)
    here, there = median(times["this process"]), median(times["dask worker"])
    print(f"median: this process {here:.2f} s, dask worker {there:.2f} s, "
          f"ratio {there / here:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
