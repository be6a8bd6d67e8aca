"""``hoag-shine``: compare hypergradient methods on one data set from the command line."""
import argparse
import os
import sys
import warnings
from time import perf_counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from .estimator import HyperOptimizer
from .methods import METHODS

DEFAULT_METHODS = ["cg", "shine", "shine-opa", "shine-refine", "jacobian-free"]


def load_data(dataset, data_home=None):
    """Load ``X, y`` for the command line.

    Parameters
    ----------
    dataset : str
        "breast_cancer" (ships with scikit-learn, standardised), "20news"
        (scikit-learn's vectorised 20 newsgroups, classes 0-9 against 10-19),
        or the path of a LIBSVM file.
    data_home : str, optional
        Data home of scikit-learn for "20news" (default: scikit-learn's,
        ``SCIKIT_LEARN_DATA`` when set).

    Returns
    -------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Design matrix: dense and standardised for "breast_cancer", CSR
        otherwise.
    y : ndarray of shape (n_samples,)
        Labels: 0/1 for "breast_cancer", -1/+1 for "20news", those of the
        file for a LIBSVM file.

    Raises
    ------
    SystemExit
        If ``dataset`` is neither a known name nor an existing file.
    """
    if dataset == "breast_cancer":
        from sklearn.datasets import load_breast_cancer
        from sklearn.preprocessing import StandardScaler
        X, y = load_breast_cancer(return_X_y=True)
        return StandardScaler().fit_transform(X), y
    if dataset == "20news":
        from sklearn.datasets import fetch_20newsgroups_vectorized
        try:
            # reads scikit-learn's cache only: downloading is the benchmarks' job
            data = fetch_20newsgroups_vectorized(subset="all", data_home=data_home,
                                                 download_if_missing=False)
        except OSError as exc:
            raise SystemExit(
                "hoag-shine: the 20news cache (20newsgroup_vectorized_py3.pkl) was not "
                f"found in the scikit-learn data home ({data_home or 'default'}): pass "
                "--data-home, or fetch it once with "
                "sklearn.datasets.fetch_20newsgroups_vectorized") from exc
        return data.data.tocsr(), np.where(data.target < 10, -1, 1)
    if os.path.isfile(dataset):
        from sklearn.datasets import load_svmlight_file
        X, y = load_svmlight_file(dataset)
        return X.tocsr(), y
    raise SystemExit(f"hoag-shine: unknown data set {dataset!r}: use breast_cancer, "
                     "20news, or the path of a LIBSVM file")


def _heldout_loss(clf, X, y):
    sign = np.where(y == clf.classes_[1], 1.0, -1.0)
    return float(np.mean(np.logaddexp(0.0, -sign * clf.decision_function(X))))


def compare(X, y, methods, *, heldout_size=0.2, outer_size=0.2, seed=0, **params):
    """Fit one HyperOptimizer per method on the same split and summarise them.

    The data are split into a training part, an outer part (which drives the
    strengths) and a held-out part used only to report.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Design matrix.
    y : ndarray of shape (n_samples,)
        Two-class labels.
    methods : list of str
        Method names, keys of :data:`hoag_shine.methods.METHODS`.
    heldout_size : float, default=0.2
        Fraction of the samples held out for the report.
    outer_size : float, default=0.2
        Fraction of the samples in the outer part; the training part is the
        rest. Both splits are stratified.
    seed : int, default=0
        Random state of the two splits.
    **params
        Keyword arguments of :class:`HyperOptimizer`, the same for every
        method (``cv`` and ``refit`` are set here).

    Returns
    -------
    list of dict
        One dict per method: ``method``, ``log_alpha`` (mean of the chosen
        log-strengths), ``heldout_loss`` (mean logistic loss on the held-out
        part), ``accuracy`` (on the held-out part), ``time`` and
        ``time_backward`` (seconds of the fit and of its backward passes)
        and ``n_iter`` (outer iterations).
    """
    idx = np.arange(X.shape[0])
    rest, heldout = train_test_split(idx, test_size=heldout_size, random_state=seed,
                                     stratify=y)
    train, outer = train_test_split(np.arange(rest.shape[0]),
                                    test_size=outer_size / (1 - heldout_size),
                                    random_state=seed, stratify=y[rest])
    rows = []
    for method in methods:
        clf = HyperOptimizer(method, cv=[(train, outer)], refit=False, **params)
        start = perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X[rest], y[rest])
        rows.append({
            "method": method, "log_alpha": float(np.mean(clf.log_alpha_)),
            "heldout_loss": _heldout_loss(clf, X[heldout], y[heldout]),
            "accuracy": float(clf.score(X[heldout], y[heldout])),
            "time": perf_counter() - start,
            "time_backward": sum(r["time_backward"] for r in clf.history_),
            "n_iter": clf.n_iter_,
        })
    return rows


def format_table(rows):
    """Render :func:`compare`'s rows as a fixed-width table.

    Parameters
    ----------
    rows : list of dict
        Rows as returned by :func:`compare`.

    Returns
    -------
    str
        A header line, a rule, and one line per row.
    """
    head = (f"{'method':<15}{'log alpha':>11}{'held-out loss':>15}{'accuracy':>10}"
            f"{'time (s)':>10}{'backward (s)':>14}{'outer it':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['method']:<15}{r['log_alpha']:>11.3f}{r['heldout_loss']:>15.5f}"
                     f"{r['accuracy']:>10.4f}{r['time']:>10.2f}{r['time_backward']:>14.3f}"
                     f"{r['n_iter']:>10d}")
    return "\n".join(lines)


def main(argv=None):
    """Entry point of the ``hoag-shine`` command.

    Parses the options, loads the data set, runs :func:`compare` and prints
    the table of :func:`format_table`.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments without the program name (default:
        ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status, 0 on success.
    """
    parser = argparse.ArgumentParser(
        prog="hoag-shine",
        description="Tune the l2 strength of logistic regression by HOAG with each "
                    "hypergradient method and compare the results.")
    parser.add_argument("--dataset", default="breast_cancer",
                        help="breast_cancer (default, ships with scikit-learn), 20news, "
                             "or the path of a LIBSVM file")
    parser.add_argument("--data-home", default=None,
                        help="scikit-learn data home holding the 20news cache")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS,
                        choices=sorted(METHODS), metavar="METHOD",
                        help=f"methods among {', '.join(sorted(METHODS))}")
    parser.add_argument("--regularization", default="scalar",
                        choices=["scalar", "per-feature"])
    parser.add_argument("--max-iter", type=int, default=30, help="outer iterations")
    parser.add_argument("--no-intercept", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split")
    args = parser.parse_args(argv)
    X, y = load_data(args.dataset, args.data_home)
    print(f"data set {args.dataset}: {X.shape[0]} samples, {X.shape[1]} features")
    rows = compare(X, y, args.methods, seed=args.seed, max_iter=args.max_iter,
                   regularization=args.regularization,
                   fit_intercept=not args.no_intercept)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
