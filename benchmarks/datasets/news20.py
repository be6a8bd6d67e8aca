"""20 newsgroups, vectorised by scikit-learn: 18,846 x 130,107, train and test stacked.

Labels: -1 for the first ten groups (target < 10), +1 for the others.
"""
import numpy as np
from sklearn.datasets import fetch_20newsgroups_vectorized

from ._base import (DatasetNotFound, HOW_TO_SET_DATA_HOME, as_csr,
                    network_available, resolve_data_home)

# scikit-learn downloads the archive from this host
SOURCE_HOST = "ndownloader.figshare.com"
CACHE_FILES = ("20newsgroup_vectorized_py3.pkl", "20news-bydate_py3.pkz")


def load(data_home=None, download=None):
    """Load 20news through :func:`sklearn.datasets.fetch_20newsgroups_vectorized`.

    Parameters
    ----------
    data_home : str or path-like, optional
        See :func:`benchmarks.datasets.resolve_data_home`; scikit-learn's
        cache is read from ``<data home>/scikit_learn_data`` when that
        directory exists, else from the data home itself.
    download : bool, optional
        Allow scikit-learn to download missing files. By default it may only
        when the data home was not chosen explicitly (argument or
        $HOAG_SHINE_DATA) and the source host is reachable.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64, shape (18846, 130107)
    y : ndarray of float64 in {-1, +1}
    """
    home = resolve_data_home(data_home)
    if download is None:
        download = not home.explicit and network_available(SOURCE_HOST)
    try:
        if not download and not any((home.sklearn_home / name).is_file()
                                    for name in CACHE_FILES):
            # fail before scikit-learn creates directories in the data home
            raise OSError("20Newsgroups dataset not found")
        bunch = fetch_20newsgroups_vectorized(
            subset="all", data_home=str(home.sklearn_home),
            download_if_missing=download)
    except OSError as exc:
        raise DatasetNotFound(
            f"20news: scikit-learn's 20 newsgroups cache ({' or '.join(CACHE_FILES)}) "
            f"is not in {home.sklearn_home} (data home {home.path}, from "
            f"{home.source}){'' if download else ' and downloading was not allowed'}. "
            f"Put the cache files there, or run once with network access and no "
            f"explicit data home so that scikit-learn downloads them. "
            f"{HOW_TO_SET_DATA_HOME}") from exc
    y = np.where(bunch.target < 10, -1.0, 1.0)
    return as_csr(bunch.data), y
