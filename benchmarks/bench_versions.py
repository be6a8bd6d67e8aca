"""Binary workloads timed on this checkout and on an earlier revision, in one process.

The package of the baseline revision is exported with ``git archive`` into a
temporary folder under the name ``hoag_shine_baseline`` (the package only
imports itself relatively, so both versions load side by side). Each
workload runs alternately on the two versions, ``--repeat`` times, and the
median times are compared: the ratio is this checkout's time over the
baseline's, so a ratio above 1 is a slowdown. BLAS is pinned to one
thread. The workloads, on the binary data set given:

* ``gradient``: one value and gradient of the inner objective at a random
  point;
* ``hvp``: one Hessian-vector product (the curvature computed once);
* ``inner solve``: an L-BFGS solve from zero at ``log(alpha) = -4`` to
  relative tolerance ``1e-5`` (memory 30);
* ``hypergradient``: ``hypergradient(..., method="shine")`` at the same
  strength (inner tolerance 1e-5);
* ``fit``: ``HyperOptimizer("shine", max_iter=5)`` on one 90 / 10 split.

Run from the repository root::

    python -m benchmarks.bench_versions --baseline HEAD~1 --data-home ../shared/datasets
    python -m benchmarks.bench_versions --baseline v0.2.0 --dataset breast-cancer
"""
import argparse
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import hoag_shine

from ._common import (add_common_arguments, describe_data, describe_machine,
                      format_machine, format_table, limit_threads, load_from_args,
                      median, thread_limit)

BASELINE_NAME = "hoag_shine_baseline"
ROOT = Path(__file__).resolve().parents[1]


def import_revision(revision, folder):
    """Import the ``hoag_shine`` package of git ``revision`` as ``hoag_shine_baseline``.

    Parameters
    ----------
    revision : str
        Any git revision of this repository.
    folder : path-like
        Where the package is exported (it becomes ``folder/hoag_shine_baseline``).

    Returns
    -------
    module
        The baseline package.
    """
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision,
                              "hoag_shine"], check=True, capture_output=True).stdout
    target = Path(folder)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    (target / "hoag_shine").rename(target / BASELINE_NAME)
    sys.path.insert(0, str(target))
    return importlib.import_module(BASELINE_NAME)


def workloads(package, X, y, seed=0):
    """The timed callables on ``package`` (a version of hoag_shine), by name."""
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    order = rng.permutation(n)
    train, outer = order[: int(0.9 * n)], order[int(0.9 * n):]
    problem = package.InnerProblem.from_data(X[train], y[train])
    log_alpha = np.array([-4.0])
    w = 0.01 * rng.standard_normal(problem.n_coef)
    v = rng.standard_normal(problem.n_coef)
    hessian = problem.hessian_operator(w, log_alpha)
    hessian @ v  # the curvature is computed at the first product
    fun = problem.fun_and_grad(log_alpha)
    g0 = np.linalg.norm(fun(np.zeros(problem.n_coef))[1])
    split = [(np.arange(len(train)), np.arange(len(train), n))]
    rows = np.r_[train, outer]

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            package.HyperOptimizer("shine", cv=split, max_iter=5, refit=False,
                                   fit_intercept=False).fit(X[rows], y[rows])

    return {
        "gradient": lambda: fun(w),
        "hvp": lambda: hessian @ v,
        "inner solve": lambda: package.minimize_lbfgs(
            fun, np.zeros(problem.n_coef), memory_size=30, tol=1e-5 * g0, max_iter=1000,
            warn=False),
        "hypergradient": lambda: package.hypergradient(
            X[train], y[train], X[outer], y[outer], -4.0, method="shine", inner_tol=1e-5,
            inner_max_iter=1000),
        "fit": fit,
    }


def _seconds(call, min_time=0.2):
    """Median seconds of one call, repeated until ``min_time`` has passed."""
    times, start = [], time.perf_counter()
    while not times or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--baseline", required=True, help="git revision to compare with")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="+", help="workloads to run (default: all)")
    args = parser.parse_args(argv)
    X, y = load_from_args(args, parser)
    with limit_threads(thread_limit(args)), tempfile.TemporaryDirectory() as folder:
        print(format_machine(describe_machine()))
        print(describe_data(args.dataset, X, y))
        baseline = import_revision(args.baseline, folder)
        versions = {"baseline": workloads(baseline, X, y),
                    "this": workloads(hoag_shine, X, y)}
        names = args.only or list(versions["this"])
        times = {key: {task: [] for task in names} for key in versions}
        for _ in range(args.repeat):
            for task in names:
                for key in ("baseline", "this"):
                    times[key][task].append(_seconds(versions[key][task]))
        rows = []
        for task in names:
            base, this = median(times["baseline"][task]), median(times["this"][task])
            rows.append([task, f"{base * 1e3:.2f}", f"{this * 1e3:.2f}", f"{this / base:.3f}"])
        print(f"baseline: {args.baseline} ({baseline.__version__}); "
              f"this checkout: {hoag_shine.__version__}; medians of {args.repeat} rounds")
        print(format_table(["workload", "baseline ms", "this ms", "this / baseline"], rows))


if __name__ == "__main__":
    main()
