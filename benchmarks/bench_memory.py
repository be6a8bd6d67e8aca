"""Peak memory of a HyperOptimizer fit against the size of X.

The fit keeps the training and held-out parts of X (one copy of the data),
the L-BFGS memory (2 m vectors of length n_features) and a few vectors; it
never densifies X nor forms X^T X. numpy and scipy allocate through Python's
tracked allocator, so ``tracemalloc`` sees every array.

Example::

    python -m benchmarks.bench_memory --data-home ../shared/datasets
"""
import argparse
import tracemalloc
import warnings

from sklearn.exceptions import ConvergenceWarning

from hoag_shine import HyperOptimizer
from hoag_shine.implicit.methods import METHODS

from ._common import (add_common_arguments, describe_data, describe_machine,
                      format_machine, format_table, limit_threads, load_from_args,
                      thread_limit)

MB = 2.0 ** 20


def sparse_bytes(X):
    """Bytes held by a CSR/CSC matrix's three arrays."""
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def peak_of_fit(X, y, method, max_iter):
    """Peak traced bytes during ``fit`` (above what was allocated before it)."""
    clf = HyperOptimizer(method, fit_intercept=False, max_iter=max_iter, random_state=0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    m = clf.memory_size or METHODS[method].default_memory
    return peak, m


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_memory",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--methods", nargs="+", default=["cg", "shine", "shine-opa"])
    parser.add_argument("--max-iter", type=int, default=10)
    args = parser.parse_args(argv)
    X, y = load_from_args(args, parser)
    with limit_threads(thread_limit(args)):
        print(format_machine(describe_machine()))
        print(describe_data(args.dataset, X, y))
        x_mb = sparse_bytes(X) / MB
        dense_mb = X.shape[0] * X.shape[1] * 8 / MB
        rows = []
        for method in args.methods:
            peak, m = peak_of_fit(X, y, method, args.max_iter)
            lbfgs_mb = 2 * m * X.shape[1] * 8 / MB
            rows.append([method, str(m), f"{peak / MB:.1f}", f"{x_mb:.1f}",
                         f"{lbfgs_mb:.1f}", f"{peak / MB / (x_mb + lbfgs_mb):.2f}"])
    print(format_table(["method", "m", "peak MB", "X MB", "L-BFGS 2mp MB",
                        "peak / (X + 2mp)"], rows))
    print(f"(dense X would take {dense_mb:,.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
