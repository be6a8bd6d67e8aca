"""LIBSVM real-sim: 72,309 x 20,958, from a local file or through libsvmdata."""
import warnings

from ._base import (DatasetNotFound, HOW_TO_SET_DATA_HOME, as_csr,
                    binarize_labels, find_file, network_available,
                    resolve_data_home)
from .libsvm_file import load as load_libsvm_file

NAME = "real-sim"
LOCAL_NAMES = ("real-sim", "real-sim.bz2")
SOURCE_HOST = "www.csie.ntu.edu.tw"


def _libsvmdata_fetch():
    """``libsvmdata``'s loader: ``fetch_dataset`` (>= 0.5) or ``fetch_libsvm``."""
    import libsvmdata

    fetch = getattr(libsvmdata, "fetch_dataset", None)
    if fetch is None:
        fetch = libsvmdata.fetch_libsvm
    return fetch


def _libsvmdata_cached():
    """True when libsvmdata has real-sim in its own cache (no download needed)."""
    try:
        from libsvmdata import ALL_DATASETS
    except ImportError:
        return False
    directory = getattr(ALL_DATASETS.get(NAME), "dataset_dir", None)
    return directory is not None and any(
        (directory / f"{NAME}_X.{ext}").is_file() for ext in ("npz", "npy"))


def load(data_home=None, download=None):
    """Load real-sim.

    Looks, in order, for a LIBSVM file ``real-sim`` or ``real-sim.bz2`` in
    ``<data home>/libsvm`` or the data home itself; for libsvmdata's cache;
    then downloads through libsvmdata if the LIBSVM site is reachable.

    Parameters
    ----------
    data_home : str or path-like, optional
        See :func:`benchmarks.datasets.resolve_data_home`.
    download : bool, optional
        Allow libsvmdata to download (default: when the site is reachable).

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64, shape (72309, 20958)
    y : ndarray of float64 in {-1, +1}
    """
    home = resolve_data_home(data_home)
    local = find_file(home.libsvm_dirs, LOCAL_NAMES)
    if local is not None:
        return load_libsvm_file(local)
    if download is None:
        download = network_available(SOURCE_HOST)
    problem = f"the LIBSVM site ({SOURCE_HOST}) is not reachable"
    if _libsvmdata_cached() or download:
        try:
            fetch = _libsvmdata_fetch()
            with warnings.catch_warnings():
                # fetch_libsvm is deprecated in libsvmdata 0.5 for fetch_dataset
                warnings.simplefilter("ignore", FutureWarning)
                X, y = fetch(NAME)
            return as_csr(X), binarize_labels(y)
        except ImportError:
            problem = "libsvmdata is not installed (pip install libsvmdata)"
        except OSError as exc:  # failed download
            problem = f"libsvmdata could not fetch it ({exc})"
    raise DatasetNotFound(
        f"real-sim: no local copy and {problem}. Put the LIBSVM file "
        f"real-sim.bz2 (or the uncompressed real-sim) in {home.libsvm_dirs[0]} "
        f"(data home {home.path}, from "
        f"{home.source}), or run with network access so that libsvmdata "
        f"downloads it. {HOW_TO_SET_DATA_HOME}")
