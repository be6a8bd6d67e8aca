"""Input checks shared by the public functions and the estimator."""
import numpy as np
from sklearn.utils import check_array, check_X_y

SPARSE_FORMATS = ["csr", "csc"]


def check_data(X, y):
    """Validate ``X`` (float, finite, dense or CSR/CSC) and ``y`` (same length)."""
    return check_X_y(X, y, accept_sparse=SPARSE_FORMATS, dtype=np.float64,
                     ensure_all_finite=True, y_numeric=False)


def binary_targets(y, classes=None):
    """Map two-class labels to {-1, +1} (``classes[1]`` becomes +1).

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels.
    classes : ndarray of shape (2,), optional
        The two classes, in sorted order; found from ``y`` when omitted.

    Returns
    -------
    y_pm : ndarray of float, values in {-1, +1}
    classes : ndarray of shape (2,)
    """
    if classes is None:
        classes = np.unique(y)
        if classes.shape[0] != 2:
            raise ValueError("Only binary classification is supported. "
                             f"The labels hold {classes.shape[0]} class(es): "
                             f"{classes[:5].tolist()}")
    unknown = ~np.isin(y, classes)
    if unknown.any():
        raise ValueError(f"labels {np.unique(y[unknown])[:5].tolist()} are not "
                         f"among the classes {classes.tolist()}")
    return np.where(y == classes[1], 1.0, -1.0), classes


def check_training_pair(X, y, X_val, y_val):
    """Validate training and validation data; map both label sets to {-1, +1}."""
    X, y = check_data(X, y)
    X_val, y_val = check_data(X_val, y_val)
    if X_val.shape[1] != X.shape[1]:
        raise ValueError(f"X_val has {X_val.shape[1]} features, X has {X.shape[1]}")
    y, classes = binary_targets(y)
    y_val, _ = binary_targets(y_val, classes)
    return X, y, X_val, y_val


def check_hyper(log_alpha, groups, n_features):
    """Validate log-scale strengths against a grouping of the features.

    Returns
    -------
    log_alpha : ndarray of float, shape (n_hyper,)
    groups : None, "per-feature", or ndarray of group indices in ``0..n_hyper-1``
        The form accepted by :meth:`InnerProblem.from_data`.
    """
    log_alpha = np.atleast_1d(np.asarray(log_alpha, dtype=float))
    if log_alpha.ndim != 1:
        raise ValueError(f"log_alpha must be a scalar or a 1-d array, got shape {log_alpha.shape}")
    if not np.all(np.isfinite(log_alpha)):
        raise ValueError(f"log_alpha must be finite, got {log_alpha}")
    if groups is None:
        if log_alpha.shape[0] == 1:
            return log_alpha, None
        if log_alpha.shape[0] == n_features:
            return log_alpha, "per-feature"
        raise ValueError(f"log_alpha has {log_alpha.shape[0]} entries: expected 1 "
                         f"or one per feature ({n_features}), or pass groups")
    labels = check_array(groups, ensure_2d=False, dtype=None)
    if labels.ndim != 1 or labels.shape[0] != n_features:
        raise ValueError(f"groups must hold one label per feature ({n_features}), "
                         f"got shape {labels.shape}")
    _, index = np.unique(labels, return_inverse=True)
    n_groups = index.max() + 1
    if log_alpha.shape[0] == 1:
        log_alpha = np.full(n_groups, log_alpha[0])
    if log_alpha.shape[0] != n_groups:
        raise ValueError(f"log_alpha has {log_alpha.shape[0]} entries for "
                         f"{n_groups} groups")
    return log_alpha, index
