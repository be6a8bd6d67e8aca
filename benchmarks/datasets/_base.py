"""What every data-set loader shares: the data home, the error, the labels."""
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# environment variable naming the benchmarks' data home
DATA_HOME_ENV = "HOAG_SHINE_DATA"

HOW_TO_SET_DATA_HOME = (
    "The data home is --data-home if given, else $HOAG_SHINE_DATA, else "
    "$SCIKIT_LEARN_DATA, else ~/scikit_learn_data.")


class DatasetNotFound(FileNotFoundError):
    """A data set is neither on disk nor downloadable; the message says where to put it."""


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
        """True when the user chose this directory for the benchmarks.

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
    data_home : DataHome
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


def network_available(host, port=443, timeout=3.0):
    """True when a TCP connection to ``host`` can be opened within ``timeout`` seconds."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def binarize_labels(y):
    """Map two-class labels to {-1, +1}, the larger label to +1.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels taking exactly two distinct values.

    Returns
    -------
    y : ndarray of float64, values in {-1, +1}

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


def as_csr(X):
    """``X`` as a float64 CSR matrix with sorted indices (a copy only if needed)."""
    X = sp.csr_matrix(X, dtype=np.float64)
    if not X.has_sorted_indices:
        X = X.sorted_indices()
    return X


def find_file(directories, names):
    """The first existing ``directory / name``, directories outer, or None."""
    for directory in directories:
        for name in names:
            candidate = Path(directory) / name
            if candidate.is_file():
                return candidate
    return None
