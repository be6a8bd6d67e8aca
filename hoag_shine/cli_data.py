"""Data sets, method names, split and report of ``hoag-shine`` (the benchmarks reuse them).

The package only reads data already on disk: the breast-cancer set shipped
with scikit-learn, scikit-learn's 20 newsgroups cache, and LIBSVM files. The
benchmarks of the repository add downloaders on top of the same names.

Every loader returns ``X`` as a float64 CSR matrix with finite entries and
``y`` in {-1, +1}. A data set that is not on disk raises
:class:`DatasetNotFound` (a ``FileNotFoundError``) whose message says where
to put it; unreadable or unusable data raise ``ValueError``.

Examples
--------
>>> from hoag_shine.cli_data import load_dataset
>>> X, y = load_dataset("breast-cancer")
>>> X.shape, [float(label) for label in sorted(set(y))]
((569, 30), [-1.0, 1.0])
"""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .implicit.methods import METHODS

#: environment variable naming the data home of ``hoag-shine`` and the benchmarks
DATA_HOME_ENV = "HOAG_SHINE_DATA"

HOW_TO_SET_DATA_HOME = (
    "The data home is --data-home if given, else $HOAG_SHINE_DATA, else "
    "$SCIKIT_LEARN_DATA, else ~/scikit_learn_data.")

#: scikit-learn's cache files of the vectorised 20 newsgroups
NEWS20_CACHE_FILES = ("20newsgroup_vectorized_py3.pkl", "20news-bydate_py3.pkz")


class DatasetNotFound(FileNotFoundError):
    """A data set is not on disk; the message says where to put it."""


@dataclass(frozen=True)
class DataHome:
    """A resolved data home.

    Attributes
    ----------
    path : pathlib.Path
        The directory.
    source : str
        Where it came from: "argument", the environment variable's name, or
        "default".
    """

    path: Path
    source: str

    @property
    def explicit(self):
        """True when the user chose this directory (argument or $HOAG_SHINE_DATA).

        Loaders then read what is there and never download into it.
        """
        return self.source in ("argument", DATA_HOME_ENV)

    @property
    def sklearn_home(self):
        """The scikit-learn data home: ``path/scikit_learn_data`` if present, else ``path``."""
        nested = self.path / "scikit_learn_data"
        return nested if nested.is_dir() else self.path

    @property
    def libsvm_dirs(self):
        """Directories searched for LIBSVM files, in order."""
        return (self.path / "libsvm", self.path)


def resolve_data_home(data_home=None):
    """Resolve the data home: the argument, else $HOAG_SHINE_DATA, else scikit-learn's.

    scikit-learn's convention is ``$SCIKIT_LEARN_DATA``, else
    ``~/scikit_learn_data``. The directory is not created.

    Parameters
    ----------
    data_home : str, path-like or DataHome, optional
        Explicit directory.

    Returns
    -------
    DataHome
        The directory and where it came from.
    """
    if isinstance(data_home, DataHome):
        return data_home
    if data_home is not None:
        path, source = data_home, "argument"
    elif os.environ.get(DATA_HOME_ENV):
        path, source = os.environ[DATA_HOME_ENV], DATA_HOME_ENV
    elif os.environ.get("SCIKIT_LEARN_DATA"):
        path, source = os.environ["SCIKIT_LEARN_DATA"], "SCIKIT_LEARN_DATA"
    else:
        path, source = Path("~") / "scikit_learn_data", "default"
    return DataHome(Path(os.path.abspath(Path(path).expanduser())), source)


def binarize_labels(y):
    """Map two-class labels to {-1, +1}, the larger label to +1.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels taking exactly two distinct values.

    Returns
    -------
    ndarray of float64 of shape (n_samples,)
        -1 for the smaller label, +1 for the larger.

    Examples
    --------
    >>> binarize_labels([0, 2, 2])
    array([-1.,  1.,  1.])
    """
    y = np.asarray(y)
    classes = np.unique(y)
    if classes.shape[0] != 2:
        raise ValueError(f"expected two distinct labels, got {classes.shape[0]}: "
                         f"{classes[:10]}")
    return np.where(y == classes[1], 1.0, -1.0)


def as_csr(X, source="the data"):
    """``X`` as a float64 CSR matrix with sorted indices and finite entries.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Design matrix.
    source : str, default="the data"
        Named in the error message.

    Returns
    -------
    scipy.sparse.csr_matrix of float64
        A copy only if needed.
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    if not X.has_sorted_indices:
        X = X.sorted_indices()
    if not np.all(np.isfinite(X.data)):
        raise ValueError(f"{source} holds {np.sum(~np.isfinite(X.data))} NaN or "
                         "infinite feature values")
    return X


def find_file(directories, names):
    """The first existing ``directory / name``, directories outer, or None.

    Parameters
    ----------
    directories : iterable of path-like
        Searched in order.
    names : iterable of str
        File names tried in each directory.

    Returns
    -------
    pathlib.Path or None
        The first file found.
    """
    for directory in directories:
        for name in names:
            candidate = Path(directory) / name
            if candidate.is_file():
                return candidate
    return None


def _read_libsvm(paths, source):
    from sklearn.datasets import load_svmlight_files

    try:
        parts = load_svmlight_files([str(p) for p in paths])
    except (ValueError, UnicodeDecodeError) as exc:
        detail = str(exc) if len(str(exc)) <= 80 else str(exc)[:77] + "..."
        raise ValueError(f"{source} is not a readable LIBSVM file ({detail})") from exc
    X = sp.vstack(parts[0::2], format="csr")
    y = np.concatenate(parts[1::2])
    if X.shape[0] == 0:
        raise ValueError(f"{source} holds no sample")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{source} holds NaN or infinite labels")
    try:
        y = binarize_labels(y)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}; a two-class data set is needed") from exc
    return as_csr(X, source), y


def load_breast_cancer(data_home=None):
    """Breast cancer (ships with scikit-learn): 569 x 30, standardised.

    Parameters
    ----------
    data_home : ignored
        Accepted so that every loader has the same signature.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64 of shape (569, 30)
        Standardised features.
    y : ndarray of float64 of shape (569,)
        -1 malignant, +1 benign.
    """
    from sklearn.datasets import load_breast_cancer as sklearn_loader
    from sklearn.preprocessing import StandardScaler

    X, y = sklearn_loader(return_X_y=True)
    return sp.csr_matrix(StandardScaler().fit_transform(X)), np.where(y == 1, 1.0, -1.0)


def load_libsvm_file(path=None, data_home=None):
    """A two-class LIBSVM file (plain, .gz or .bz2).

    Parameters
    ----------
    path : str or path-like
        The file. A relative path that does not exist is also looked up in
        ``<data home>/libsvm``.
    data_home : str or path-like, optional
        See :func:`resolve_data_home`.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64
        Features.
    y : ndarray of float64
        Labels in {-1, +1}; the larger label of the file is +1.
    """
    if path is None:
        raise ValueError("the libsvm-file data set needs a path "
                         "(--dataset-path on the command line)")
    path = Path(path).expanduser()
    if not path.is_file() and not path.is_absolute():
        path = resolve_data_home(data_home).path / "libsvm" / path
    if not path.is_file():
        raise DatasetNotFound(f"LIBSVM file {path} does not exist.")
    return _read_libsvm([path], f"LIBSVM file {path}")


def load_libsvm_pair(stem, data_home=None, description=None):
    """Stack ``<stem>.trn.bz2`` and ``<stem>.tst.bz2`` found in the data home.

    The two files are read together, so they share one feature count and one
    index base.

    Parameters
    ----------
    stem : str
        File name without the ``.trn.bz2`` / ``.tst.bz2`` suffix.
    data_home : str or path-like, optional
        See :func:`resolve_data_home`.
    description : str, optional
        Human-readable name for the error message.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64
        Training rows first, then test rows.
    y : ndarray of float64
        Labels in {-1, +1}.
    """
    home = resolve_data_home(data_home)
    names = [f"{stem}.trn.bz2", f"{stem}.tst.bz2"]
    for directory in home.libsvm_dirs:
        paths = [directory / name for name in names]
        if all(p.is_file() for p in paths):
            break
    else:
        raise DatasetNotFound(
            f"{description or stem}: files {' and '.join(names)} not found in "
            f"{home.libsvm_dirs[0]} (data home {home.path}, from {home.source}). Put "
            f"both LIBSVM files there. {HOW_TO_SET_DATA_HOME}")
    return _read_libsvm(paths, f"{description or stem} ({paths[0].parent})")


def load_reuters(data_home=None):
    """Reuters-21578 money-fx (LIBSVM files): 11,069 x 8,315, train and test stacked.

    Parameters
    ----------
    data_home : str or path-like, optional
        Holds ``reuters.trn.bz2`` and ``reuters.tst.bz2``, in ``libsvm/`` or
        at its top.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64
        Features.
    y : ndarray of float64
        Labels in {-1, +1}.
    """
    return load_libsvm_pair("reuters", data_home, "Reuters-21578 money-fx")


def load_adult(data_home=None):
    """UCI adult (LIBSVM a9a files): 48,842 x 123, train and test stacked.

    Parameters
    ----------
    data_home : str or path-like, optional
        Holds ``adult.trn.bz2`` and ``adult.tst.bz2``, in ``libsvm/`` or at
        its top.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64
        Features.
    y : ndarray of float64
        Labels in {-1, +1}.
    """
    return load_libsvm_pair("adult", data_home, "UCI adult (a9a)")


def load_20news(data_home=None, labels="binary"):
    """20 newsgroups vectorised by scikit-learn, read from its cache (never downloaded).

    18,846 x 130,107, train and test stacked; labels -1 for the first ten
    groups (target < 10), +1 for the others, or the 20 groups.

    Parameters
    ----------
    data_home : str or path-like, optional
        See :func:`resolve_data_home`; scikit-learn's cache is read from
        ``<data home>/scikit_learn_data`` when that directory exists, else
        from the data home itself.
    labels : {"binary", "groups"}, default="binary"
        The binary labels of the SHINE paper, or the newsgroup of each
        document (0 to 19).

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64 of shape (18846, 130107)
        Features.
    y : ndarray of shape (18846,)
        Labels in {-1, +1} (float), or group indices (int).
    """
    if labels not in ("binary", "groups"):
        raise ValueError(f"labels must be 'binary' or 'groups', got {labels!r}")
    from sklearn.datasets import fetch_20newsgroups_vectorized

    home = resolve_data_home(data_home)
    message = (
        f"20news: scikit-learn's 20 newsgroups cache ({' or '.join(NEWS20_CACHE_FILES)}) "
        f"is not in {home.sklearn_home} (data home {home.path}, from {home.source}). "
        "Put the cache files there, or create them once with "
        "sklearn.datasets.fetch_20newsgroups_vectorized(subset='all', data_home=...) "
        "or, from the repository with network access, python -m benchmarks.run "
        f"--dataset 20news without a data home. {HOW_TO_SET_DATA_HOME}")
    if not any((home.sklearn_home / name).is_file() for name in NEWS20_CACHE_FILES):
        # checked first: scikit-learn would create directories in the data home
        raise DatasetNotFound(message)
    try:
        bunch = fetch_20newsgroups_vectorized(subset="all", data_home=str(home.sklearn_home),
                                              download_if_missing=False)
    except OSError as exc:
        raise DatasetNotFound(message) from exc
    if labels == "groups":
        return as_csr(bunch.data, "20news"), np.asarray(bunch.target, dtype=np.intp)
    return as_csr(bunch.data, "20news"), np.where(bunch.target < 10, -1.0, 1.0)


#: data sets readable from disk, by name
DATASETS = {
    "breast-cancer": load_breast_cancer,
    "20news": load_20news,
    "reuters": load_reuters,
    "adult": load_adult,
    "libsvm-file": load_libsvm_file,
}


def canonical_name(name, registry, kind):
    """``name`` when it is registered; else a ValueError listing the registered names.

    Parameters
    ----------
    name : str
        Name as given by the user.
    registry : collection of str
        Registered names.
    kind : str
        "data set" or "method", for the messages.

    Returns
    -------
    str
        A member of ``registry``.
    """
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; choose one of {sorted(registry)}")
    return name


def load_dataset(name, data_home=None, *, registry=None, **kwargs):
    """Load a registered data set, or a LIBSVM file given by its path.

    Parameters
    ----------
    name : str
        A key of ``registry``, or the path of an existing LIBSVM file.
    data_home : str or path-like, optional
        Explicit data home; else $HOAG_SHINE_DATA, else scikit-learn's
        convention ($SCIKIT_LEARN_DATA, else ~/scikit_learn_data).
    registry : dict, optional
        Name -> loader ``load(data_home=None, **kwargs)``; default
        :data:`DATASETS`.
    **kwargs
        Passed to the loader (``path`` for "libsvm-file").

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64 of shape (n_samples, n_features)
        Features, all finite.
    y : ndarray of float64 of shape (n_samples,)
        Labels in {-1, +1}.
    """
    registry = DATASETS if registry is None else registry
    if name not in registry and "path" not in kwargs \
            and "libsvm-file" in registry and Path(name).expanduser().is_file():
        name, kwargs = "libsvm-file", {"path": name}
    name = canonical_name(name, registry, "data set")
    return registry[name](data_home=resolve_data_home(data_home), **kwargs)


def add_data_arguments(parser, default_dataset, names):
    """Add ``--dataset``, ``--dataset-path`` and ``--data-home`` to an argparse parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Parser to extend.
    default_dataset : str
        Default of ``--dataset``.
    names : collection of str
        Registered data-set names, listed in the help.

    Returns
    -------
    argparse.ArgumentParser
        ``parser``.
    """
    parser.add_argument("--dataset", default=default_dataset, metavar="NAME",
                        help=f"one of {', '.join(sorted(names))}, or the path of a "
                             "LIBSVM file (default: %(default)s)")
    parser.add_argument("--dataset-path", default=None, metavar="FILE",
                        help="file to read for --dataset libsvm-file")
    parser.add_argument("--data-home", default=None, metavar="DIR",
                        help=f"data home (default: ${DATA_HOME_ENV}, else "
                             "$SCIKIT_LEARN_DATA, else ~/scikit_learn_data)")
    return parser


def load_from_args(args, registry=None):
    """Load the data set named by :func:`add_data_arguments`' options.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``dataset``, ``dataset_path`` and ``data_home``.
    registry : dict, optional
        As in :func:`load_dataset`.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64
        Features.
    y : ndarray of float64
        Labels in {-1, +1}.
    """
    if args.dataset_path is not None and args.dataset != "libsvm-file":
        raise ValueError(f"--dataset-path is read with --dataset libsvm-file, not "
                         f"--dataset {args.dataset}; give both, or the file as "
                         "--dataset FILE")
    kwargs = {} if args.dataset_path is None else {"path": args.dataset_path}
    return load_dataset(args.dataset, args.data_home, registry=registry, **kwargs)


def hoag_method_names():
    """Names of the hypergradient methods, as the command line and benchmarks spell them.

    Returns
    -------
    list of str
        The keys of :data:`hoag_shine.METHODS`, sorted.
    """
    return sorted(METHODS)


def split_indices(n_samples, seed=0, train=0.9, outer=None):
    """Random split into a training, an outer and a held-out part.

    Parameters
    ----------
    n_samples : int
        Number of samples.
    seed : int, default=0
        Seed of the permutation.
    train : float, default=0.9
        Fraction of the samples in the training part.
    outer : float, optional
        Fraction in the outer part (default: half of the rest, the SHINE
        paper's protocol); the held-out part is what remains.

    Returns
    -------
    train, outer, held_out : ndarrays of indices
        The outer part drives the strengths; the held-out part is for
        reporting only.
    """
    perm = np.random.default_rng(seed).permutation(n_samples)
    n_train = int(round(train * n_samples))
    n_outer = ((n_samples - n_train) // 2 if outer is None
               else int(round(outer * n_samples)))
    return perm[:n_train], perm[n_train:n_train + n_outer], perm[n_train + n_outer:]


def mean_log_loss(X, y, coef, intercept=0.0):
    """Mean logistic loss per sample (labels in {-1, +1}).

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Samples.
    y : ndarray of shape (n_samples,)
        Labels in {-1, +1}.
    coef : ndarray of shape (n_features,)
        Coefficients.
    intercept : float, default=0.0
        Intercept.

    Returns
    -------
    float
        ``mean(log(1 + exp(-y (X coef + intercept))))``.
    """
    z = y * (np.asarray(X @ np.ravel(coef)).ravel() + intercept)
    return float(np.mean(np.logaddexp(0.0, -z)))


def format_table(header, rows, align=None):
    """Plain-text table with a rule under the header.

    Parameters
    ----------
    header : sequence of str
        Column titles.
    rows : sequence of sequences
        Cells, already formatted (converted with ``str``).
    align : sequence of {"<", ">"}, optional
        Per column; default: first column left, the others right.

    Returns
    -------
    str
        The lines joined by newlines.
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    align = align or ["<"] + [">"] * (len(header) - 1)
    lines = ["  ".join(f"{str(cell):{a}{w}}" for cell, a, w in zip(row, align, widths))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
