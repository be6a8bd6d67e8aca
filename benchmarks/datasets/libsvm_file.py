"""Any two-class LIBSVM file, and train/test pairs of such files stacked."""
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_svmlight_file, load_svmlight_files

from ._base import (DatasetNotFound, HOW_TO_SET_DATA_HOME, as_csr,
                    binarize_labels, resolve_data_home)


def load(path=None, data_home=None):
    """Load a two-class LIBSVM file (plain, .gz or .bz2).

    Parameters
    ----------
    path : str or path-like
        The file. A relative path that does not exist is also looked up in
        ``<data home>/libsvm``.
    data_home : str or path-like, optional
        See :func:`benchmarks.datasets.resolve_data_home`.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64
    y : ndarray of float64 in {-1, +1}; the larger label is +1.
    """
    if path is None:
        raise ValueError("the libsvm-file data set needs a path "
                         "(--dataset-path on the command line)")
    path = Path(path).expanduser()
    if not path.is_file() and not path.is_absolute():
        path = resolve_data_home(data_home).path / "libsvm" / path
    if not path.is_file():
        raise DatasetNotFound(f"LIBSVM file {path} does not exist.")
    X, y = load_svmlight_file(str(path))
    return as_csr(X), binarize_labels(y)


def load_train_test(stem, data_home=None, description=None):
    """Stack ``<stem>.trn.bz2`` and ``<stem>.tst.bz2`` found in the data home.

    The two files are read together, so they share one feature count and one
    index base.

    Parameters
    ----------
    stem : str
        File name without the ``.trn.bz2`` / ``.tst.bz2`` suffix.
    data_home : str or path-like, optional
        See :func:`benchmarks.datasets.resolve_data_home`.
    description : str, optional
        Human-readable name for the error message.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64
        Training rows first, then test rows.
    y : ndarray of float64 in {-1, +1}
    """
    home = resolve_data_home(data_home)
    names = [f"{stem}.trn.bz2", f"{stem}.tst.bz2"]
    for directory in home.libsvm_dirs:
        paths = [directory / name for name in names]
        if all(p.is_file() for p in paths):
            break
    else:
        expected = home.libsvm_dirs[0]
        raise DatasetNotFound(
            f"{description or stem}: files {' and '.join(names)} not found in "
            f"{expected} (data home {home.path}, from {home.source}). Put both "
            f"LIBSVM files there. {HOW_TO_SET_DATA_HOME}")
    X_trn, y_trn, X_tst, y_tst = load_svmlight_files([str(p) for p in paths])
    X = sp.vstack([X_trn, X_tst], format="csr")
    return as_csr(X), binarize_labels(np.concatenate([y_trn, y_tst]))
