"""``hoag-shine tune``: tune the strengths of one model on a LIBSVM or CSV file.

One :class:`~hoag_shine.HyperOptimizer` is fitted on the whole file (any
number of classes) with the validation split or cross-validation asked
for; the command reports the strengths, the score and why the loop
stopped, as a short summary, JSON or CSV, and can save the fitted model.
"""
import argparse
import csv
import json
import pickle
import sys
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from time import perf_counter

import numpy as np

from . import __version__
from .cli import (_RECORDING, CommandError, _float, _method, _Parser, _positive_int,
                  _seed, _summarise_warnings)
from .cli_output import write_atomically
from .datafiles import FORMATS, load_labelled_file
from .estimator import HyperOptimizer
from .outer.loop import STOP_MESSAGES
from .model.scoring import SCORINGS

#: output formats, by name and by file extension
OUTPUT_FORMATS = {"json": ".json", "csv": ".csv"}
#: columns of the CSV output: one line per strength, the run's fields repeated
CSV_FIELDS = ["strength", "log_alpha", "alpha", "C", "method", "regularization",
              "scoring", "best_score", "n_iter", "stop_reason", "n_samples",
              "n_features", "n_classes", "fit_time"]


def tune(X, y, **params):
    """Fit a HyperOptimizer and describe the result in plain Python values.

    Warnings raised by the fit are recorded in the report, not shown.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Labels, any number of classes.
    **params
        Keyword arguments of :class:`~hoag_shine.HyperOptimizer`.

    Returns
    -------
    estimator : HyperOptimizer
        The fitted estimator.
    report : dict
        ``method``, ``regularization``, ``scoring``, ``cv``, ``log_alpha``,
        ``alpha`` and ``C`` (lists, one entry per strength), ``best_score``,
        ``n_iter``, ``stop_reason`` (a key of
        :data:`hoag_shine.outer.loop.STOP_MESSAGES`), ``stop_message``,
        ``classes``, ``n_samples``, ``n_features``, ``n_classes``,
        ``fit_time`` (seconds) and ``warnings``, JSON-serialisable.
    """
    clf = HyperOptimizer(**params)
    start = perf_counter()
    with _RECORDING, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    return clf, {
        "method": clf.method, "regularization": clf.regularization,
        "scoring": clf.scoring, "cv": clf.cv,
        "log_alpha": clf.log_alpha_.tolist(), "alpha": clf.alpha_.tolist(),
        "C": clf.C_.tolist(), "best_score": float(clf.best_score_),
        "n_iter": int(clf.n_iter_), "stop_reason": clf.stop_reason_,
        "stop_message": STOP_MESSAGES.get(clf.stop_reason_, clf.stop_reason_),
        "classes": clf.classes_.tolist(), "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]), "n_classes": len(clf.classes_),
        "fit_time": perf_counter() - start, "warnings": _summarise_warnings(caught),
    }


def format_summary(report):
    """A few readable lines on a :func:`tune` report.

    Parameters
    ----------
    report : dict
        As returned by :func:`tune`.

    Returns
    -------
    str
        The strengths (their range when there are several), the score, the
        iterations and why the loop stopped, and the warnings.
    """
    log_alpha = np.asarray(report["log_alpha"])
    split = (f"{report['cv']}-fold cross-validation" if report["cv"]
             else "a held-out quarter")
    if log_alpha.size == 1:
        strength = (f"log alpha {log_alpha[0]:.4f} (alpha {report['alpha'][0]:.4g}, "
                    f"C {report['C'][0]:.4g})")
    else:
        strength = (f"{log_alpha.size} strengths, log alpha from {log_alpha.min():.4f} "
                    f"to {log_alpha.max():.4f} (median {np.median(log_alpha):.4f})")
    lines = [
        f"{report['n_samples']} samples, {report['n_features']} features, "
        f"{report['n_classes']} classes",
        f"method {report['method']}, {report['regularization']} strength, "
        f"{report['scoring']} on {split}",
        strength,
        f"best score {report['best_score']:.6f} ({report['scoring']})",
        f"{report['n_iter']} outer iterations in {report['fit_time']:.2f} s; stopped: "
        f"{report['stop_message']}",
    ]
    return "\n".join(lines + [f"warning: {text}" for text in report["warnings"]])


def write_report(file, report, output_format):
    """Write a :func:`tune` report as JSON or CSV.

    Parameters
    ----------
    file : file-like
        Open for writing text.
    report : dict
        As returned by :func:`tune`, possibly with more fields (JSON only).
    output_format : {"json", "csv"}
        JSON: the report as one object. CSV: one line per strength with the
        columns :data:`CSV_FIELDS`, the run's fields repeated on every line.
    """
    if output_format == "json":
        file.write(json.dumps(report, indent=2) + "\n")
        return
    writer = csv.DictWriter(file, fieldnames=CSV_FIELDS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for index, values in enumerate(zip(report["log_alpha"], report["alpha"],
                                       report["C"])):
        writer.writerow(dict(report, strength=index,
                             **dict(zip(("log_alpha", "alpha", "C"), values))))


def _existing_dir_file(text):
    if not Path(text).expanduser().resolve().parent.is_dir():
        raise argparse.ArgumentTypeError(f"no such directory for {text!r}")
    return text


def _report_path(text):
    if Path(text).suffix.lower() not in OUTPUT_FORMATS.values():
        raise argparse.ArgumentTypeError(f"the file name must end in .json or .csv, "
                                         f"got {text!r}")
    return _existing_dir_file(text)


def _positive_float(text):
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _folds(text):
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}")
    return value


def build_tune_parser():
    """The argument parser of ``hoag-shine tune``.

    Returns
    -------
    argparse.ArgumentParser
        With the options documented in the user guide.
    """
    parser = _Parser(
        prog="hoag-shine tune",
        description="Tune the l2 strength(s) of logistic regression (any number of "
                    "classes) on a LIBSVM or CSV file with HyperOptimizer.",
        epilog="Exit status: 0 done, 1 data problem, 2 usage error, 130 interrupted.")
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, metavar="FILE",
                      help="LIBSVM or CSV file")
    data.add_argument("--format", choices=sorted(FORMATS), default=None,
                      help="default: from the extension (.csv; .svm, .libsvm, .txt, "
                           ".bz2, .gz)")
    data.add_argument("--label-column", default="-1", metavar="COLUMN",
                      help="CSV: position (negative from the end) or name of the label "
                           "column (default: the last)")
    data.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                      help="CSV: the first line names the columns (default: detected)")
    model = parser.add_argument_group("tuning")
    model.add_argument("--method", type=_method, default="shine",
                       help="hypergradient method (default: %(default)s)")
    model.add_argument("--regularization", default="scalar",
                       choices=["scalar", "per-feature"])
    model.add_argument("--cv", type=_folds, default=None, metavar="K",
                       help="K-fold cross-validation (default: a stratified held-out "
                            "quarter)")
    model.add_argument("--scoring", default="neg_log_loss", choices=sorted(SCORINGS))
    model.add_argument("--class-weight", choices=["balanced"], default=None)
    model.add_argument("--fit-intercept", action=argparse.BooleanOptionalAction,
                       default=True, help="fit an intercept (default: yes)")
    model.add_argument("--max-iter", type=_positive_int, default=30,
                       help="outer iterations (default: %(default)s)")
    model.add_argument("--tol", type=_positive_float, default=1e-4,
                       help="relative precision of the score (default: %(default)s)")
    model.add_argument("--random-state", type=_seed, default=0,
                       help="seed of the validation split (default: %(default)s)")
    out = parser.add_argument_group("output")
    out.add_argument("--output", type=_report_path, default=None, metavar="FILE",
                     help="write the report to FILE.json or FILE.csv")
    out.add_argument("--format-out", choices=sorted(OUTPUT_FORMATS), default=None,
                     help="print the report as JSON or CSV instead of the summary")
    out.add_argument("--save-model", type=_existing_dir_file, default=None,
                     metavar="FILE", help="pickle the fitted estimator to FILE")
    out.add_argument("-v", "--verbose", action="count", default=0,
                     help="the estimator's progress lines on stderr")
    return parser


def load_tune_data(args):
    """Read the ``--data`` file as the options say.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`build_tune_parser`.

    Returns
    -------
    X : {ndarray, sparse matrix}
        Features.
    y : ndarray
        Labels.

    Raises
    ------
    CommandError
        With status 2 when the format cannot be inferred, 1 when the file is
        missing, unreadable or has fewer than two classes.
    """
    if args.format is None and Path(args.data).suffix.lower() not in \
            {s for suffixes in FORMATS.values() for s in suffixes}:
        raise CommandError(f"cannot tell the format of {args.data} from its extension; "
                           "give --format csv or --format libsvm", 2)
    try:
        X, y = load_labelled_file(args.data, args.format, label_column=args.label_column,
                                  header=args.header)
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise CommandError(f"data file {args.data}: at least two classes are needed, "
                           f"got 1 ({classes.tolist()[0]!r})")
    return X, y


def run_tune(argv):
    """Run ``hoag-shine tune`` with the given arguments.

    Parameters
    ----------
    argv : list of str
        Arguments after ``tune``.

    Returns
    -------
    int
        Exit status (argparse exits by itself for usage errors).
    """
    args = build_tune_parser().parse_args(argv)
    X, y = load_tune_data(args)
    params = dict(method=args.method, regularization=args.regularization, cv=args.cv,
                  scoring=args.scoring, class_weight=args.class_weight,
                  fit_intercept=args.fit_intercept, max_iter=args.max_iter, tol=args.tol,
                  random_state=args.random_state, verbose=args.verbose)
    try:
        with redirect_stdout(sys.stderr):  # the estimator's progress lines
            clf, report = tune(X, y, **params)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    report = dict(report, data=str(args.data), command=["hoag-shine", "tune", *argv],
                  version=__version__)
    _save(args, clf, report)
    if args.format_out:
        write_report(sys.stdout, report, args.format_out)
    else:
        print(format_summary(report))
        for path in filter(None, (args.output, args.save_model)):
            print(f"written: {path}")
    return 0


def _save(args, clf, report):
    """``--output`` and ``--save-model``, each written whole or not at all."""
    try:
        if args.output:
            kind = "json" if Path(args.output).suffix.lower() == ".json" else "csv"
            with write_atomically(args.output) as file:
                write_report(file, report, kind)
        if args.save_model:
            with write_atomically(args.save_model, binary=True) as file:
                pickle.dump(clf, file)
    except OSError as exc:
        raise CommandError(f"cannot write {exc.filename or 'the output'}: "
                           f"{exc.strerror or exc}") from exc
