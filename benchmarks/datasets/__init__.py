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
from . import adult, breast_cancer, libsvm_file, news20, realsim, reuters
from ._base import (DATA_HOME_ENV, DataHome, DatasetNotFound, binarize_labels,
                    resolve_data_home)

DATASETS = {
    "20news": news20.load,
    "real-sim": realsim.load,
    "reuters": reuters.load,
    "adult": adult.load,
    "libsvm-file": libsvm_file.load,
    "breast-cancer": breast_cancer.load,
}


def load_dataset(name, data_home=None, **kwargs):
    """Load a registered data set.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
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
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name](data_home=resolve_data_home(data_home), **kwargs)


__all__ = ["DATASETS", "DATA_HOME_ENV", "DataHome", "DatasetNotFound",
           "binarize_labels", "load_dataset", "resolve_data_home"]
