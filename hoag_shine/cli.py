"""``hoag-shine``: compare hypergradient methods on one data set from the command line."""
import argparse
import os
import sys
import threading
import warnings
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from time import perf_counter

import numpy as np

from . import __version__
from .estimator import HyperOptimizer
from .cli_output import (ProgressPrinter, format_legend, format_notes, format_table,
                         write_output, write_rows)
from .outer.loop import STOP_MESSAGES
from .cli_data import (DATASETS, DatasetNotFound,
                       add_data_arguments, canonical_name,
                       hoag_method_names, load_from_args, mean_log_loss, split_indices)

DEFAULT_METHODS = ["cg", "shine", "shine-opa", "shine-refine", "jacobian-free"]
#: held while a fit's warnings are recorded: the warning filters are shared by
#: every thread, and two recordings at once would leave one's filter behind
_RECORDING = threading.Lock()
#: fractions of the samples in the training and outer parts; the rest is held out
TRAIN_FRACTION, OUTER_FRACTION = 0.6, 0.2


class CommandError(Exception):
    """An expected failure of the command: one line on stderr and an exit status.

    Parameters
    ----------
    message : str
        The line printed after ``hoag-shine: error:``.
    status : int, default=1
        Exit status: 2 for a usage error, 1 for a problem with the data.
    """

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def load_data(dataset, data_home=None, path=None):
    """Load ``X, y`` for the command line (local data only).

    Parameters
    ----------
    dataset : str
        A name of :data:`hoag_shine.cli_data.DATASETS` ("breast-cancer",
        "20news" from scikit-learn's cache, "reuters", "adult",
        "libsvm-file"), or the path of a LIBSVM file.
    data_home : str, optional
        Data home; default $HOAG_SHINE_DATA, else scikit-learn's.
    path : str, optional
        File of "libsvm-file".

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
        Design matrix (breast cancer standardised).
    y : ndarray of shape (n_samples,)
        Labels in {-1, +1}.

    Raises
    ------
    CommandError
        With status 2 for an unknown name, 1 when the data are missing or
        unusable.
    """
    args = argparse.Namespace(dataset=dataset, data_home=data_home, dataset_path=path)
    try:
        return load_from_args(args)
    except DatasetNotFound as exc:
        raise CommandError(str(exc)) from exc
    except ValueError as exc:
        message = str(exc)
        if message.startswith("unknown data set"):
            raise CommandError(f"{message}, or the path of a LIBSVM file", 2) from exc
        usage = message.startswith("--dataset-path") or "needs a path" in message
        raise CommandError(message, status=2 if usage else 1) from exc


def make_split(y, seed=0, train=TRAIN_FRACTION, outer=OUTER_FRACTION):
    """Split the samples into training, outer and held-out parts, each with both classes.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels in {-1, +1}.
    seed : int, default=0
        Seed of the permutation.
    train, outer : float
        Fractions of the samples in the training and outer parts.

    Returns
    -------
    train, outer, held_out : ndarrays of indices
        See :func:`hoag_shine.cli_data.split_indices`.

    Raises
    ------
    CommandError
        When a part lacks one of the classes.
    """
    parts = split_indices(y.shape[0], seed, train, outer)
    for name, idx in zip(("training", "outer", "held-out"), parts):
        n_neg, n_pos = int(np.sum(y[idx] < 0)), int(np.sum(y[idx] > 0))
        if min(n_neg, n_pos) == 0:
            raise CommandError(
                f"the {name} part ({100 * len(idx) / y.shape[0]:.0f}% of {y.shape[0]} "
                f"samples) holds {n_neg} negative and {n_pos} positive samples; every "
                "part needs both classes: use more samples or another --seed")
    return parts


def _summarise_warnings(caught):
    counts = Counter(f"{w.category.__name__}: {w.message}" for w in caught)
    return [f"{text} (x{n})" if n > 1 else text for text, n in counts.items()]


def iter_compare(X, y, methods, *, seed=0, progress=None, **params):
    """Fit one HyperOptimizer per method on the same split; yield a row per method.

    The data are split by :func:`make_split` into a training part, an outer
    part (which drives the strengths) and a held-out part used only to
    report. Warnings of each fit are recorded in its row, not printed; the
    warning filters that this takes are shared by the whole process, so
    calls from several threads run their fits one at a time.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Design matrix.
    y : ndarray of shape (n_samples,)
        Labels in {-1, +1}.
    methods : list of str
        Method names, keys of :data:`hoag_shine.METHODS`.
    seed : int, default=0
        Seed of the split.
    progress : ProgressPrinter, optional
        Told of every outer step, and of every finished method once the
        caller has asked for the next row (it has kept this one by then).
    **params
        Keyword arguments of :class:`HyperOptimizer`, the same for every
        method (``cv``, ``refit`` and ``callback`` are set here).

    Yields
    ------
    dict
        The keys of :data:`LEGEND`, plus ``C`` (mean of ``C_``) and
        ``warnings`` (list of str, repeated messages counted).
    """
    train, outer, held = make_split(y, seed)
    rest = np.r_[train, outer]
    cv = [(np.arange(len(train)), np.arange(len(train), len(rest)))]
    for method in methods:
        if progress is not None:
            progress.start_task(method)
        clf = HyperOptimizer(method, cv=cv, refit=False, callback=_step_reporter(
            progress, len(outer), params.get("max_iter", 30)), **params)
        start = perf_counter()
        with _RECORDING, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf.fit(X[rest], y[rest])
        elapsed = perf_counter() - start
        row = {
            "method": method, "log_alpha": float(np.mean(clf.log_alpha_)),
            "C": float(np.mean(clf.C_)), "outer_loss": -float(clf.best_score_),
            "heldout_loss": mean_log_loss(X[held], y[held], clf.coef_, clf.intercept_[0]),
            "accuracy": float(clf.score(X[held], y[held])),
            "time": elapsed,
            "time_backward": float(sum(r["time_backward"] for r in clf.history_)),
            "n_iter": int(clf.n_iter_),
            "log_alphas": clf.log_alpha_.tolist(),
            "stop_reason": clf.stop_reason_,
            "stop_message": STOP_MESSAGES.get(clf.stop_reason_, clf.stop_reason_),
            "warnings": _summarise_warnings(caught),
        }
        row["n_warnings"] = len(caught)
        yield row
        # resumed once the caller has kept the row: only then is it reported
        # done, so that an interruption never drops a row reported done
        if progress is not None:
            progress.end_task(f"{row['n_iter']} outer it, held-out loss "
                              f"{row['heldout_loss']:.5f}, {row['stop_message']}"
                              + (f", {len(caught)} warning(s)" if caught else ""))


def _step_reporter(progress, n_outer, max_iter):
    if progress is None:
        return None

    def callback(state):
        progress.step(f"outer it {state['iteration'] + 1}/{max_iter}  log alpha "
                      f"{np.mean(state['log_alpha']):.3f}  outer loss "
                      f"{state['outer_loss'] / n_outer:.5f}  "
                      f"{'accepted' if state['accepted'] else 'rejected'}")
        return False
    return callback


def compare(X, y, methods, *, seed=0, progress=None, **params):
    """The rows of :func:`iter_compare` as a list.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Design matrix.
    y : ndarray of shape (n_samples,)
        Labels in {-1, +1}.
    methods : list of str
        Method names.
    seed : int, default=0
        Seed of the split.
    progress : ProgressPrinter, optional
        See :func:`iter_compare`.
    **params
        Keyword arguments of :class:`HyperOptimizer`.

    Returns
    -------
    list of dict
        One row per method.
    """
    return list(iter_compare(X, y, methods, seed=seed, progress=progress, **params))


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _method(text):
    try:
        return canonical_name(text, hoag_method_names(), "method")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


#: ``--output json`` or ``--output csv``: the results in that format on stdout
STDOUT_FORMATS = ("json", "csv")


def _output_path(text):
    if text in STDOUT_FORMATS:
        return text
    if Path(text).suffix not in (".csv", ".json"):
        raise argparse.ArgumentTypeError(f"the file name must end in .csv or .json, "
                                         f"got {text!r}")
    return text


def _float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """The argument parser of ``hoag-shine``.

    Returns
    -------
    argparse.ArgumentParser
        With the options documented in the user guide.
    """
    parser = _Parser(
        prog="hoag-shine",
        usage="hoag-shine [compare] [options] | hoag-shine tune --data FILE [options]",
        description="Tune the l2 strength of logistic regression by HOAG with each "
                    "hypergradient method and compare the results on a held-out part "
                    "(the sub-command compare, the default). Reads local data only. "
                    "'hoag-shine tune --help': tune one model on a LIBSVM or CSV file, "
                    "any number of classes.",
        epilog="Progress goes to stderr, the table to stdout. Exit status: 0 done, "
               "1 data problem, 2 usage error, 130 interrupted (the methods already "
               "done are printed).")
    add_data_arguments(parser, "breast-cancer", DATASETS)
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, type=_method,
                        metavar="METHOD",
                        help=f"among {', '.join(hoag_method_names())} "
                             f"(default: {' '.join(DEFAULT_METHODS)})")
    parser.add_argument("--regularization", default="scalar",
                        choices=["scalar", "per-feature"])
    parser.add_argument("--max-iter", type=_positive_int, default=30,
                        help="outer iterations (default: %(default)s)")
    parser.add_argument("--lambda-bounds", type=_float, nargs=2, default=(-12.0, 12.0),
                        metavar=("LOW", "HIGH"),
                        help="box on log(alpha) (default: -12 12)")
    parser.add_argument("--no-intercept", action="store_true")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the split (0)")
    parser.add_argument("--output", type=_output_path, default=None, metavar="FILE",
                        help="also write the results to FILE.csv or FILE.json; "
                             "'json' or 'csv': print them so instead of the table")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: a progress line per outer iteration; -vv: also the "
                             "outer loop's own lines")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress lines")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    return parser


def _print_warnings(caught):
    for w in caught:
        print(f"hoag-shine: warning: {w.message}", file=sys.stderr)


def _run(args, argv):
    to_stdout = args.output in STDOUT_FORMATS
    if args.output and not to_stdout and not Path(args.output).resolve().parent.is_dir():
        raise CommandError(f"--output {args.output}: no such directory", 2)
    low, high = args.lambda_bounds
    if not low < high:
        raise CommandError(f"--lambda-bounds needs LOW < HIGH, got {low:g} {high:g}", 2)
    # on a terminal, say what is loading (20news takes a while), then erase it
    live = not args.quiet and sys.stderr.isatty()
    if live:
        print(f"hoag-shine: loading {args.dataset} ...", end="", file=sys.stderr, flush=True)
    try:
        with _RECORDING, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FutureWarning)
            X, y = load_data(args.dataset, args.data_home, args.dataset_path)
    finally:
        if live:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)
    _print_warnings(caught)
    print(f"data set {args.dataset}: {X.shape[0]} samples, {X.shape[1]} features; split "
          f"{TRAIN_FRACTION:.0%} training / {OUTER_FRACTION:.0%} outer / "
          f"{1 - TRAIN_FRACTION - OUTER_FRACTION:.0%} held out (seed {args.seed})",
          file=sys.stderr if to_stdout else sys.stdout, flush=True)
    verbose = 0 if args.quiet else 1 + args.verbose
    progress = ProgressPrinter(len(args.methods), args.max_iter, verbose=verbose)
    rows, status, failure = [], 0, None
    params = dict(max_iter=args.max_iter, regularization=args.regularization,
                  fit_intercept=not args.no_intercept,
                  lambda_bounds=tuple(args.lambda_bounds),
                  verbose=max(args.verbose - 1, 0))
    try:
        for row in iter_compare(X, y, args.methods, seed=args.seed, progress=progress,
                                **params):
            rows.append(row)
    except KeyboardInterrupt:
        status = 130
        print(f"hoag-shine: interrupted; {len(rows)} of {len(args.methods)} methods "
              "finished", file=sys.stderr)
    except ValueError as exc:
        failure = CommandError(f"method {args.methods[len(rows)]}: {exc}")
        failure.__cause__ = exc
    try:
        # the file before the table: it is kept whatever becomes of stdout
        if args.output:
            _write_rows(args, argv, X, rows, interrupted=status != 0 or failure is not None)
    finally:
        if not to_stdout:
            _print_rows(rows, args.regularization == "per-feature")
    if failure is not None:
        raise failure
    if args.output and not to_stdout:
        print(f"results written to {args.output}")
    return status


def _write_rows(args, argv, X, rows, interrupted):
    """``--output``: the rows, what was run and whether it was cut short."""
    meta = {
        "command": ["hoag-shine", *argv], "version": __version__,
        "dataset": args.dataset, "n_samples": X.shape[0], "n_features": X.shape[1],
        "split": {"train": TRAIN_FRACTION, "outer": OUTER_FRACTION, "seed": args.seed},
        "interrupted": interrupted}
    if args.output in STDOUT_FORMATS:
        write_rows(sys.stdout, rows, meta, args.output)
        return
    try:
        write_output(args.output, rows, meta)
    except OSError as exc:
        raise CommandError(f"--output {args.output}: {exc.strerror or exc}") from exc


def _print_rows(rows, per_feature):
    if rows:
        print(format_table(rows, per_feature))
        print(format_notes(rows))
        print("columns:\n" + format_legend(per_feature))


class _Guarded:
    """A text stream that stops writing once its reader has gone (a closed pipe).

    ``hoag-shine ... | head`` closes the pipe after a few lines: the writes
    after that are dropped instead of raising BrokenPipeError, so that the
    run goes on and writes its ``--output`` file.

    Parameters
    ----------
    stream : file-like
        The stream written to while its reader is there.
    """

    def __init__(self, stream):
        self.stream = stream
        self.reader_gone = False

    def write(self, text):
        if not self.reader_gone:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self.reader_gone = True
        return len(text)

    def flush(self):
        if not self.reader_gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self.reader_gone = True

    def isatty(self):
        return not self.reader_gone and self.stream.isatty()


def _point_at_devnull(stream):
    """Send the writes still buffered for a closed pipe to os.devnull.

    Python flushes the standard streams at exit; a closed pipe would then
    print "Exception ignored ... BrokenPipeError". This is the recipe of
    Python's documentation (signal module, "Note on SIGPIPE"); streams
    without a file descriptor (captured output) are left alone.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def main(argv=None):
    """Entry point of the ``hoag-shine`` command.

    Parses the options, loads the data set, runs :func:`iter_compare` with
    progress on stderr and prints the table, why each method stopped, its
    warnings and the legend of the columns. Expected errors give one line on
    stderr and a non-zero status, never a traceback. The ``--output`` file is
    written before the table is printed; when the reader of the standard
    output (or error) leaves early (``hoag-shine ... | head``), the run goes
    on without printing, writes its file and ends quietly with status 1,
    Python's convention for a broken pipe.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments without the program name (default:
        ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 for a problem with the data or a
        closed pipe, 2 for a usage error (argparse exits by itself with 2),
        130 when interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    streams = sys.stdout, sys.stderr
    guarded = _Guarded(streams[0]), _Guarded(streams[1])
    try:
        with redirect_stdout(guarded[0]), redirect_stderr(guarded[1]):
            status = _main(argv)
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        raise SystemExit(_closed_pipe_status(exc.code, streams, guarded)) from None
    return _closed_pipe_status(status, streams, guarded)


def _closed_pipe_status(status, streams, guarded):
    """The exit status, 1 rather than 0 when a reader left early (``| head``).

    That is Python's convention for a broken pipe (its documentation's
    "Note on SIGPIPE"), as is pointing the closed stream at os.devnull.
    """
    gone = [stream for stream, guard in zip(streams, guarded) if guard.reader_gone]
    for stream in gone:
        _point_at_devnull(stream)
    return (status or 1) if gone else status


def _main(argv):
    try:
        if argv[:1] == ["tune"]:
            from .cli_tune import run_tune

            return run_tune(argv[1:])
        return _compare_command(argv[1:] if argv[:1] == ["compare"] else argv)
    except CommandError as exc:
        print(f"hoag-shine: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("hoag-shine: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # no traceback, whatever the input
        print(f"hoag-shine: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _compare_command(argv):
    with _RECORDING, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FutureWarning)
        args = build_parser().parse_args(argv)
    _print_warnings(caught)
    return _run(args, argv)


if __name__ == "__main__":
    sys.exit(main())
