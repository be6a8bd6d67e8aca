"""Data sets for the benchmarks: a registry of loaders returning ``(X, y)``.

Every loader returns ``X`` as a float64 CSR matrix and ``y`` in {-1, +1}, and
raises :class:`DatasetNotFound` (a ``FileNotFoundError``) with one message
saying where to put the files when the data are neither on disk nor
downloadable. Adding a data set is one module with a ``load(data_home=None,
...)`` function and one entry in :data:`DATASETS`.

Examples
--------
>>> from benchmarks.datasets import load_dataset
>>> X, y = load_dataset("20news", data_home="../shared/datasets")  # doctest: +SKIP
>>> X.shape
(18846, 130107)
"""
from hoag_shine import cli_data as registry

from . import news20, realsim
from ._base import (DATA_HOME_ENV, DataHome, DatasetNotFound, binarize_labels,
                    resolve_data_home)

#: the package's data sets (same names, same loaders), plus downloading for
#: 20news and real-sim
DATASETS = {**registry.DATASETS, "20news": news20.load, "real-sim": realsim.load}


def load_dataset(name, data_home=None, **kwargs):
    """Load a registered data set.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (or a former spelling, or the path of a
        LIBSVM file).
    data_home : str or path-like, optional
        Explicit data home; else $HOAG_SHINE_DATA, else scikit-learn's
        convention ($SCIKIT_LEARN_DATA, else ~/scikit_learn_data).
    **kwargs
        Passed to the loader (``path`` for "libsvm-file", ``download`` for
        the downloadable data sets).

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64, shape (n_samples, n_features)
    y : ndarray of float64 in {-1, +1}, shape (n_samples,)
    """
    return registry.load_dataset(name, data_home, registry=DATASETS, **kwargs)


__all__ = ["DATASETS", "DATA_HOME_ENV", "DataHome", "DatasetNotFound",
           "binarize_labels", "load_dataset", "resolve_data_home"]
