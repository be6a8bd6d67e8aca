"""Shared fixtures: small random binary problems, strengths, a dense BFGS reference."""
import os
from collections import namedtuple

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import settings
from threadpoolctl import threadpool_limits

# CI draws the same property-test examples on every run, so that a CI result
# is reproducible; local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")



@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """BLAS and OpenMP on one thread for the whole run: the tests' matrices are
    small, and on a machine of two shared cores extra threads only compete with
    the process workers some tests start (unpinned, the suite took four times
    as long)."""
    with threadpool_limits(limits=1):
        yield


BinaryData = namedtuple("BinaryData", "X y X_val y_val X_dense X_val_dense")

_FORMATS = {"dense": np.asarray, "csr": sp.csr_matrix, "csc": sp.csc_matrix}


def _binary_data(seed=0, n=100, p=8, n_val=60, fmt="dense", density=0.5,
                 scale=1.0, offset=0.3):
    """Random logistic-model data with labels in {-1, +1}.

    For the sparse formats about ``1 - density`` of the entries are zeroed
    before the conversion, so the matrices really are sparse. ``X_dense`` and
    ``X_val_dense`` hold the same values as dense arrays, for references.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_val, p))
    if fmt != "dense":
        X *= rng.random(X.shape) < density
    w = rng.standard_normal(p)
    y = np.where(X @ w + offset + rng.standard_normal(n + n_val) > 0, 1.0, -1.0)
    X *= scale
    y_train, y_val = y[:n], y[n:]
    assert np.unique(y_train).size == 2 and np.unique(y_val).size == 2
    convert = _FORMATS[fmt]
    return BinaryData(convert(X[:n]), y_train, convert(X[n:]), y_val, X[:n], X[n:])


@pytest.fixture
def make_data():
    """Factory ``make_data(seed, n, p, n_val, fmt, density, scale, offset)``.

    ``fmt`` is one of "dense", "csr", "csc".
    """
    return _binary_data


@pytest.fixture
def seed():
    """The seed of single-problem tests."""
    return 0


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)


def _strengths(kind, n_features, base=0.0, seed=0):
    """Log-scale strengths of the three kinds around ``base``.

    Returns
    -------
    groups : None, "per-feature" or ndarray of group indices
        The argument of :meth:`InnerProblem.from_data`.
    labels : None or ndarray
        The argument ``groups`` of :func:`hoag_shine.hypergradient`: arbitrary,
        unsorted integer labels (sorted label order gives the strengths' order).
    log_alpha : ndarray of shape (n_hyper,)
    per_coef : ndarray of shape (n_features,)
        ``log_alpha`` of each feature.
    """
    rng = np.random.default_rng(seed + 1000)
    if kind == "scalar":
        log_alpha = np.array([base])
        return None, None, log_alpha, np.full(n_features, base)
    if kind == "per-feature":
        log_alpha = base + rng.uniform(-1.0, 1.0, n_features)
        return "per-feature", None, log_alpha, log_alpha
    if kind == "grouped":
        index = np.arange(n_features) % 3
        rng.shuffle(index)
        label_of_group = np.array([3, 7, 11])
        log_alpha = base + np.array([-1.0, 0.3, 1.0])
        return index, label_of_group[index], log_alpha, log_alpha[index]
    raise ValueError(kind)


@pytest.fixture
def make_strengths():
    """Factory ``make_strengths(kind, n_features, base=0.0, seed=0)``.

    ``kind`` is "scalar", "per-feature" or "grouped" (3 groups). Returns
    ``(groups, labels, log_alpha, per_coef)``, see :func:`_strengths`.
    """
    return _strengths


def _dense_bfgs_inverse(pairs):
    """Inverse-Hessian estimate of BFGS built densely from ``pairs``, oldest first.

    ``H0 = gamma I`` with ``gamma = s^T y / y^T y`` of the newest pair, then
    ``H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T`` for every pair.
    """
    s_new, y_new = pairs[-1]
    n = s_new.shape[0]
    H = (s_new @ y_new) / (y_new @ y_new) * np.eye(n)
    identity = np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        left = identity - rho * np.outer(s, y)
        H = left @ H @ left.T + rho * np.outer(s, s)
    return H


@pytest.fixture
def dense_bfgs_inverse():
    """Function ``pairs -> dense BFGS inverse`` (the independent reference)."""
    return _dense_bfgs_inverse


def _relative_error(a, b):
    """``||a - b|| / ||b||``."""
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b)


@pytest.fixture
def relative_error():
    return _relative_error
