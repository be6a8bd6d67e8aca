"""20 newsgroups, vectorised by scikit-learn: 18,846 x 130,107, train and test stacked.

Labels: -1 for the first ten groups (target < 10), +1 for the others. The
package reads scikit-learn's cache; this loader may first let scikit-learn
download it.
"""
from sklearn.datasets import fetch_20newsgroups_vectorized

from hoag_shine.cli_data import NEWS20_CACHE_FILES as CACHE_FILES
from hoag_shine.cli_data import load_20news

from ._base import network_available, resolve_data_home

# scikit-learn downloads the archive from this host
SOURCE_HOST = "ndownloader.figshare.com"


def load(data_home=None, download=None):
    """Load 20news, downloading scikit-learn's cache first when allowed and missing.

    Parameters
    ----------
    data_home : str or path-like, optional
        See :func:`hoag_shine.cli_data.resolve_data_home`.
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
    cached = any((home.sklearn_home / name).is_file() for name in CACHE_FILES)
    if not cached:
        if download is None:
            download = not home.explicit and network_available(SOURCE_HOST)
        if download:
            print(f"downloading 20news into {home.sklearn_home} (once)", flush=True)
            fetch_20newsgroups_vectorized(subset="all", data_home=str(home.sklearn_home),
                                          download_if_missing=True)
    return load_20news(home)
