"""Shared by the benchmark scripts: threads, machine description, data, tables."""
import json
import os
import platform
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from threadpoolctl import threadpool_info, threadpool_limits

import hoag_shine
from hoag_shine import cli_data as registry
from hoag_shine.cli_output import ProgressPrinter  # noqa: F401  (re-exported for the scripts)
from hoag_shine.cli_data import format_table, split_indices  # noqa: F401  (shared)

from .datasets import DATASETS, DatasetNotFound


def limit_threads(n_threads=1):
    """Pin the BLAS/OpenMP thread pools to ``n_threads`` (None: leave them alone).

    Returns a context manager; use it as ``with limit_threads(1): ...``.
    Timings on a shared machine are only comparable with the pools pinned.
    """
    return threadpool_limits(limits=n_threads)


def describe_machine():
    """Where the numbers were measured: platform, CPUs, library versions, BLAS.

    Call it inside :func:`limit_threads` so that the recorded thread counts
    are the ones in effect.

    Returns
    -------
    description : dict
        JSON-serialisable.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not available on every platform
        usable = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "load_average_1_5_15min": (list(os.getloadavg())
                                   if hasattr(os, "getloadavg") else None),
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-learn": sklearn.__version__,
                     "hoag_shine": hoag_shine.__version__},
        "threadpools": [
            {key: pool.get(key) for key in ("user_api", "internal_api", "version",
                                            "num_threads", "threading_layer",
                                            "architecture")}
            for pool in threadpool_info()],
    }


def format_machine(description):
    """A few readable lines summarising :func:`describe_machine`."""
    versions = ", ".join(f"{k} {v}" for k, v in description["versions"].items())
    pools = "; ".join(_format_pool(p) for p in description["threadpools"]) or "none loaded"
    load = description["load_average_1_5_15min"]
    return "\n".join([
        f"machine : {description['platform']}, python {description['python']}, "
        f"{description['cpu_count']} CPUs ({description['cpus_usable']} usable)"
        + (f", load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}" if load else ""),
        f"versions: {versions}",
        f"BLAS    : {pools}",
    ])


def _format_pool(pool):
    details = [str(pool[key]) for key in ("version", "architecture", "threading_layer")
               if pool.get(key)]
    threads = pool["num_threads"]
    return (f"{pool['internal_api']} {' '.join(details[:1])}".rstrip()
            + f" ({', '.join(details[1:] + [f'{threads} thread' + 's' * (threads != 1)])})")


def add_common_arguments(parser, default_dataset="20news"):
    """Add the data options of ``hoag-shine`` and the thread and JSON options."""
    registry.add_data_arguments(parser, default_dataset, DATASETS)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads; 0 leaves the pools alone (default: 1)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the results and the machine description here")
    return parser


def load_from_args(args, parser):
    """Load the data set named on the command line; exit with one message if absent.

    The status is 2 for an unknown name (a usage error), 1 for missing or
    unusable data, as for ``hoag-shine``.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FutureWarning)
            data = registry.load_from_args(args, registry=DATASETS)
    except DatasetNotFound as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    except ValueError as exc:
        usage = str(exc).startswith("unknown data set") or "needs a path" in str(exc)
        parser.exit(2 if usage else 1, f"{parser.prog}: error: {exc}\n")
    for w in caught:
        print(f"{parser.prog}: warning: {w.message}", file=sys.stderr)
    return data


def thread_limit(args):
    """The ``n_threads`` for :func:`limit_threads` from the parsed arguments."""
    return None if args.threads == 0 else args.threads


def describe_data(name, X, y):
    """One line: shape, density and label balance."""
    n_pos = int(np.sum(y > 0))
    return (f"data    : {name}, {X.shape[0]:,} x {X.shape[1]:,}, nnz {X.nnz:,} "
            f"({X.nnz / np.prod(X.shape):.2e} dense), labels -1/+1: "
            f"{X.shape[0] - n_pos:,}/{n_pos:,}")


def median(values):
    """Median of a non-empty sequence."""
    return statistics.median(values)


def write_json(path, payload):
    """Write ``payload`` (JSON-serialisable) to ``path``, creating directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    print(f"results written to {path}")
