"""Cross-validation folds on joblib's backends: wall time, bytes moved, parent memory.

A k-fold :class:`~hoag_shine.HyperOptimizer` fit is timed sequentially, on
threads or loky with ``n_jobs`` workers and on a Dask ``LocalCluster`` of as
many worker processes (one thread each), in the same process; the ratios are
against the sequential fit (medians over ``--repeat`` rounds of the
backends). The workers are started, and import the package, just before
each timed fit (their start-up is reported apart); a fit with more than one
worker runs every outer iteration on them. Bytes moved per outer iteration
are measured from pickled sizes (a counting writer, so nothing is copied)
of what crosses the process boundary on each
evaluation: the arguments of the split tasks (state handles, strengths,
options) and what they return. On loky the new states are written to the
shared temporary folder; "state files" is their size. The column "per-task shipping" is what
sending every fold's data and its full warm-start state to a worker and back
on every iteration would move, measured on the sequential run. The pickling
for these measurements is timed and subtracted from the wall times. Peak
parent memory is the largest resident set size of this process during the
fit above its size just before (sampled every 10 ms); with Dask it includes
the scheduler, which a ``LocalCluster`` runs in this process.

Run from the repository root::

    python -m benchmarks.bench_parallel --dataset breast-cancer --folds 3 5
    python -m benchmarks.bench_parallel --data-home ../shared/datasets --folds 5
"""
import argparse
import contextlib
import os
import pickle
import threading
import time
import warnings

from joblib import Parallel, delayed, parallel_config
from sklearn.exceptions import ConvergenceWarning

from hoag_shine import HeldOutCriterion, HyperOptimizer

from ._common import (add_common_arguments, describe_data, describe_machine,
                      format_machine, format_table, limit_threads, load_from_args,
                      median, thread_limit)

MB = 2.0 ** 20


class _Counter:
    """File-like object that only counts the bytes written to it."""

    def __init__(self):
        self.n = 0

    def write(self, data):
        self.n += memoryview(data).nbytes


def pickled_nbytes(obj):
    """Length of ``obj``'s pickle (protocol 5), without building it."""
    counter = _Counter()
    pickle.Pickler(counter, protocol=5).dump(obj)
    return counter.n


class _Recorder:
    """Wraps ``HeldOutCriterion.evaluate`` to measure what each evaluation moves."""

    def __init__(self, shipping):
        self.shipping = shipping  # also measure the per-task-shipping baseline
        self.moved, self.baseline, self.folder, self.seconds = [], [], [], 0.0

    @contextlib.contextmanager
    def installed(self):
        original = HeldOutCriterion.evaluate
        recorder = self

        def evaluate(criterion, log_alpha, eps, states, outer_step=None, method=None):
            out = original(criterion, log_alpha, eps, states, outer_step, method)
            start = time.perf_counter()
            recorder.measure(criterion, log_alpha, eps, states, out)
            recorder.seconds += time.perf_counter() - start
            return out

        HeldOutCriterion.evaluate = evaluate
        try:
            yield self
        finally:
            HeldOutCriterion.evaluate = original

    def measure(self, criterion, log_alpha, eps, states, out):
        results, new_states = out[2], out[3]
        options = (log_alpha, eps, criterion.method, criterion.inner_max_iter)
        in_process = all(type(s).__name__ == "FoldState" for s in new_states)
        self.folder.append(sum(os.path.getsize(s.path) for s in new_states
                               if type(s).__name__ == "StateFile"))
        if in_process:
            self.moved.append(0)  # the parent's process evaluated the folds
        else:
            self.moved.append(sum(pickled_nbytes((s, options)) + pickled_nbytes((r, n))
                                  for s, r, n in zip(states, results, new_states)))
        if self.shipping:
            self.baseline.append(sum(
                pickled_nbytes((fold, s, options)) + pickled_nbytes((r, n))
                for fold, s, r, n in zip(criterion.folds, states, results, new_states)))


class _PeakRSS:
    """Largest resident set size of this process while the block runs, above its start."""

    def __init__(self, interval=0.01):
        self.interval, self.peak = interval, 0

    @staticmethod
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        self.start, self.peak, self._stop = self.rss(), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss() - self.start)
            self._stop.wait(self.interval)

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss() - self.start)


def timed_fit(X, y, k, args, backend):
    """Fit once under ``backend``; wall time, bytes and memory of that fit."""
    clf = HyperOptimizer(args.method, cv=k, max_iter=args.max_iter, random_state=0,
                         n_jobs=None if backend == "sequential" else args.n_workers)
    recorder = _Recorder(shipping=backend == "sequential")
    config = {"sequential": {"backend": "sequential"}, "loky": {"backend": "loky"},
              "threading": {"backend": "threading"}, "dask": {"backend": "dask"}}[backend]
    with warnings.catch_warnings(), recorder.installed(), parallel_config(**config), \
            _PeakRSS() as memory:
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
        wall = time.perf_counter() - start - recorder.seconds
    return clf, wall, recorder, memory.peak


def _import_package():
    """Task run on each worker before a timed fit: the package is imported there.

    It lasts long enough (0.2 s) for every worker to get one of them.
    """
    import hoag_shine  # noqa: F401

    time.sleep(0.2)
    return os.getpid()


def start_workers(args, backends):
    """Start the process workers and import the package on them; seconds per backend.

    A plain joblib call starts them, so that the timed fit does not pay
    for the processes' start.
    """
    seconds = {}
    for backend in backends:
        if backend in ("loky", "dask"):
            start = time.perf_counter()
            with parallel_config(backend=backend):
                pids = Parallel(n_jobs=args.n_workers)(
                    delayed(_import_package)() for _ in range(2 * args.n_workers))
            seconds[backend] = time.perf_counter() - start
            if len(set(pids)) < args.n_workers:
                print(f"warning: only {len(set(pids))} {backend} workers were started")
    return seconds


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_parallel",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--folds", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--method", default="shine")
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1,
                        help="fits per backend; the median wall time is reported")
    parser.add_argument("--backends", nargs="+", default=["sequential", "loky", "dask"],
                        choices=["sequential", "threading", "loky", "dask"])
    args = parser.parse_args(argv)
    X, y = load_from_args(args, parser)
    with limit_threads(thread_limit(args)), contextlib.ExitStack() as stack:
        if "dask" in args.backends:
            from distributed import Client, LocalCluster
            cluster = stack.enter_context(LocalCluster(
                n_workers=args.n_workers, threads_per_worker=1, processes=True,
                dashboard_address=None))
            stack.enter_context(Client(cluster))
        print(format_machine(describe_machine()))
        print(describe_data(args.dataset, X, y))
        print(f"method  : {args.method}, max_iter {args.max_iter}, "
              f"{args.n_workers} workers")
        startup = start_workers(args, args.backends)
        print("start-up: " + ", ".join(f"{b} {s:.2f} s" for b, s in startup.items()))
        rows = []
        backends = ["sequential"] + [b for b in args.backends if b != "sequential"]
        for k in args.folds:
            # the repeats go round the backends, so that a change of the
            # machine's load affects them alike
            runs = {backend: [] for backend in backends}
            for _ in range(args.repeat):
                for backend in backends:
                    # workers stay up between fits only a few minutes: restart them
                    start_workers(args, [backend])
                    runs[backend].append(timed_fit(X, y, k, args, backend))
                    print(f"  k={k} {backend}: {runs[backend][-1][1]:.2f} s", flush=True)
            reference, _, base, _ = runs["sequential"][-1]
            seq_wall = median([run[1] for run in runs["sequential"]])
            shipping = sum(base.baseline) / len(base.baseline)
            for backend in backends:
                clf, _, rec, peak = runs[backend][-1]
                wall = median([run[1] for run in runs[backend]])
                n_eval = len(rec.moved)
                gap = abs(clf.log_alpha_ - reference.log_alpha_).max()
                rows.append([str(k), backend, str(clf.n_iter_),
                             f"{wall:.2f}",
                             f"{wall / seq_wall:.2f}", f"{sum(rec.moved) / n_eval / MB:.3f}",
                             f"{sum(rec.folder) / n_eval / MB:.1f}",
                             f"{shipping / MB:.1f}", f"{peak / MB:.0f}", f"{gap:.1e}"])
    print(format_table(["k", "backend", "outer it.", "wall s", "/ sequential",
                        "MB moved / it.", "state files MB / it.",
                        "per-task shipping MB / it.",
                        "peak parent MB", "|dlog_alpha|"], rows))
    print(f"load average after the run: {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
