"""Input checks shared by the public functions and the estimator.

Every check names the parameter and the value it got. Wrong types raise
TypeError, values of the right type outside their range raise ValueError (the
convention of scikit-learn's ``check_scalar``); booleans are not accepted
where numbers are expected, and NaN or infinity is refused wherever a finite
number is expected.
"""
import numbers

import numpy as np
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.multiclass import check_classification_targets


SPARSE_FORMATS = ["csr", "csc"]

#: largest |log(alpha)| accepted: exp(100) ~ 2.7e43 is far past any useful
#: strength, and the bound keeps every product of a strength with w finite
MAX_ABS_LOG_ALPHA = 100.0


def is_bool(value):
    """True for Python and numpy booleans (which are integers to ``numbers``)."""
    return isinstance(value, (bool, np.bool_))


def _range_text(low, high, low_open=False, high_open=False):
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def check_int(name, value, low=None, high=None, *, allow_none=False):
    """Validate an integer parameter (booleans refused).

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    value : object
        Value to check.
    low, high : int, optional
        Inclusive bounds.
    allow_none : bool, default=False
        Accept None (returned as is).

    Returns
    -------
    int or None
        ``value`` as a Python int.
    """
    if value is None and allow_none:
        return None
    expected = f"an integer{_range_text(low, high)}" + (" or None" if allow_none else "")
    if is_bool(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {expected}, got {value!r} "
                        f"of type {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_real(name, value, low=None, high=None, *, low_open=False, high_open=False,
               allow_none=False):
    """Validate a finite real parameter (booleans, NaN and infinity refused).

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    value : object
        Value to check.
    low, high : float, optional
        Bounds, inclusive unless ``low_open`` / ``high_open``.
    low_open, high_open : bool, default=False
        Exclude the bound.
    allow_none : bool, default=False
        Accept None (returned as is).

    Returns
    -------
    float or None
        ``value`` as a Python float.
    """
    if value is None and allow_none:
        return None
    expected = (f"a finite real number{_range_text(low, high, low_open, high_open)}"
                + (" or None" if allow_none else ""))
    if is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {value!r} "
                        f"of type {type(value).__name__}")
    value = float(value)
    bad = not np.isfinite(value)
    if low is not None:
        bad = bad or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def check_bool(name, value):
    """Validate a boolean parameter (True, False or a numpy bool).

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    value : object
        Value to check.

    Returns
    -------
    bool
    """
    if not is_bool(value):
        raise TypeError(f"{name} must be True or False, got {value!r} "
                        f"of type {type(value).__name__}")
    return bool(value)


def check_callable(name, value, *, allow_none=True):
    """Validate a callable parameter (None accepted by default).

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    value : object
        Value to check.
    allow_none : bool, default=True
        Accept None.

    Returns
    -------
    callable or None
    """
    if value is None and allow_none:
        return None
    if not callable(value):
        raise TypeError(f"{name} must be callable{' or None' if allow_none else ''}, "
                        f"got {value!r}")
    return value


def check_real_array(name, value, *, ndim=None):
    """Validate an array of finite real numbers (lists and scalars accepted).

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    value : array-like
        Numbers; booleans, complex numbers, strings and objects that are not
        numbers are refused.
    ndim : int or tuple of int, optional
        Accepted numbers of dimensions.

    Returns
    -------
    ndarray of float64
        A new array (the input is never modified).
    """
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ValueError(f"{name} must be an array of real numbers, got {value!r}") from exc
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold real numbers, got {value!r}") from exc
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got {value!r} of dtype "
                        f"{array.dtype}")
    if ndim is not None and array.ndim not in np.atleast_1d(ndim):
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    array = np.array(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must hold finite numbers, got {value!r}")
    return array


def check_design(X, name="X"):
    """Refuse a design matrix whose squared entries overflow.

    The curvature of the logistic loss is of the order of the sum of squares
    of ``X``; when that sum is not a float, every solver step is rounding
    noise, so such data is refused rather than fitted to garbage.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Finite design matrix.
    name : str, default="X"
        Name used in the message.

    Returns
    -------
    X
        The input, unchanged.
    """
    values = X.data if hasattr(X, "nnz") else np.asarray(X)
    if values.size == 0:
        return X
    largest = float(np.max(np.abs(values)))
    if largest == 0:
        return X
    # the squared gradient norm of the loss is at most ||X||_F^2 n_samples
    scale = 2 * np.log(largest) + np.log(values.size) + np.log(max(X.shape[0], 1))
    if scale > np.log(np.finfo(float).max) - 2:
        raise ValueError(
            f"{name} holds values up to {largest:.3g} in magnitude: the sum of their "
            f"squares (the scale of the logistic loss's curvature) overflows a float. "
            f"Rescale the features, e.g. with sklearn.preprocessing.StandardScaler")
    return X


def check_data(X, y, names=("X", "y")):
    """Validate ``X`` (float, finite, dense or CSR/CSC) and ``y`` (same length).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Features.
    y : array-like of shape (n_samples,)
        Labels (any two values).
    names : (str, str), default=("X", "y")
        Names used in the messages.

    Returns
    -------
    X : {ndarray, sparse matrix} of float64
    y : ndarray of shape (n_samples,)
    """
    name_X, name_y = names
    # scikit-learn's finiteness test sums X first: +-1e308 entries make that
    # sum NaN (a warning) before the entries themselves are checked
    with np.errstate(over="ignore", invalid="ignore"):
        X = check_array(X, accept_sparse=SPARSE_FORMATS, dtype=np.float64,
                        ensure_all_finite=True, input_name=name_X)
    check_design(X, name_X)
    y = check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=True,
                    input_name=name_y)
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{name_X} and {name_y} have inconsistent numbers of samples: "
                         f"{X.shape[0]} and {y.shape[0]}")
    return X, y


def class_targets(y, classes=None):
    """Map labels to class indices ``0 .. n_classes - 1`` (classes in sorted order).

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels.
    classes : ndarray, optional
        The classes, in sorted order; found from ``y`` (at least two) when
        omitted.

    Returns
    -------
    codes : ndarray of intp, shape (n_samples,)
        Index of each label in ``classes``.
    classes : ndarray
        The classes.
    """
    if classes is None:
        classes = np.unique(y)
        if classes.shape[0] < 2:
            raise ValueError(f"the labels hold a single class ({classes[0]!r}); "
                             "classification needs samples of at least two classes")
    unknown = ~np.isin(y, classes)
    if unknown.any():
        raise ValueError(f"labels {np.unique(y[unknown])[:5].tolist()} are not "
                         f"among the classes {classes[:10].tolist()} of the training labels")
    return np.searchsorted(classes, y).astype(np.intp), classes


#: largest sample weight accepted: squares of gradient entries of weights
#: beyond about 1e150 overflow in the norms the tolerances are relative to
MAX_SAMPLE_WEIGHT = 1e100


def check_sample_weight(sample_weight, n_samples, name="sample_weight"):
    """Validate sample weights: None, or finite non-negative numbers not all zero.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        Weights (None: every sample weighs 1).
    n_samples : int
        Number of samples.
    name : str, default="sample_weight"
        Parameter name, for the messages.

    Returns
    -------
    ndarray of float64, shape (n_samples,), or None
        The weights (a copy), None when ``sample_weight`` is None.
    """
    if sample_weight is None:
        return None
    if is_bool(sample_weight) or isinstance(sample_weight, (str, bytes)):
        raise TypeError(f"{name} must be None or an array of numbers, got {sample_weight!r}")
    try:
        sw = np.array(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be None or an array of numbers, "
                        f"got {sample_weight!r}") from exc
    if sw.ndim == 0:
        sw = np.full(n_samples, float(sw))
    if sw.ndim != 1 or sw.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},), got {sw.shape}")
    if not np.all(np.isfinite(sw)):
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(sw)).sum())} "
                         "NaN or infinite value(s)")
    if sw.min() < 0:
        raise ValueError(f"{name} must be non-negative, got {float(sw.min())!r}")
    if not sw.max() > 0:
        raise ValueError(f"{name} is zero for every sample")
    if sw.max() > MAX_SAMPLE_WEIGHT:
        raise ValueError(f"{name} holds weights up to {float(sw.max()):.3g}, beyond "
                         f"{MAX_SAMPLE_WEIGHT:.0e}: the gradient norms would overflow; "
                         "rescale the weights (only their size relative to the penalty "
                         "matters)")
    return sw


def check_weighted_classes(codes, sample_weight, classes, name="sample_weight"):
    """Refuse a class all of whose samples have weight 0 (nothing would learn it).

    Parameters
    ----------
    codes : ndarray of int, shape (n_samples,)
        Class index of each sample.
    sample_weight : ndarray of shape (n_samples,) or None
        Validated weights.
    classes : ndarray
        The classes (for the message).
    name : str, default="sample_weight"
        Parameter name, for the message.
    """
    if sample_weight is None:
        return
    weighed = np.unique(codes[sample_weight > 0])
    if weighed.shape[0] < classes.shape[0]:
        missing = np.setdiff1d(np.arange(classes.shape[0]), weighed)
        raise ValueError(f"every sample of class(es) {classes[missing][:5].tolist()} has "
                         f"{name} 0: they cannot be learnt; drop them from the labels")


def check_training_pair(X, y, X_val, y_val):
    """Validate training and validation data; map both label sets to class indices.

    Parameters
    ----------
    X, y : array-like
        Training data and labels (at least two classes).
    X_val, y_val : array-like
        Validation data and labels from the classes of ``y``.

    Returns
    -------
    X, y, X_val, y_val
        Float data; labels as indices into ``classes``.
    classes : ndarray
        The classes of ``y``, sorted.
    """
    X, y = check_data(X, y)
    X_val, y_val = check_data(X_val, y_val, names=("X_val", "y_val"))
    if X_val.shape[1] != X.shape[1]:
        raise ValueError(f"X_val has {X_val.shape[1]} features, X has {X.shape[1]}")
    y, classes = class_targets(y)
    y_val, _ = class_targets(y_val, classes)
    return X, y, X_val, y_val, classes


def check_group_labels(name, labels, n_features):
    """Validate one group label per feature; return group indices.

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    labels : array-like of shape (n_features,)
        Integer labels (integral floats accepted) or strings; one strength per
        distinct label, in sorted label order. Fractional numbers are refused:
        they are more likely strengths than labels.
    n_features : int
        Number of features.

    Returns
    -------
    ndarray of intp, shape (n_features,)
        Group index of each feature, in ``0 .. n_groups - 1``.
    """
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold one label per feature, got {labels!r}") from exc
    if array.ndim != 1 or array.shape[0] != n_features:
        raise ValueError(f"{name} must hold one label per feature ({n_features}), "
                         f"got shape {array.shape}")
    if array.dtype.kind == "O":
        if all(isinstance(v, str) for v in array):
            array = array.astype(str)
        else:
            try:
                array = array.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must hold integer or string labels, "
                                f"got {labels!r}") from exc
    if array.dtype.kind not in "iufUS":
        raise TypeError(f"{name} must hold integer or string labels, got dtype {array.dtype}")
    if array.dtype.kind == "f":
        integral = np.isfinite(array) & (array == np.round(array))
        if not np.all(integral):
            raise ValueError(f"{name} must hold integer or string labels, got "
                             f"{array[~integral][:5].tolist()}")
    _, index = np.unique(array, return_inverse=True)
    return index.astype(np.intp).ravel()


def check_hyper(log_alpha, groups, n_features):
    """Validate log-scale strengths against a grouping of the features.

    Parameters
    ----------
    log_alpha : float or array-like
        Finite strengths in ``[-100, 100]``.
    groups : None or array-like of shape (n_features,)
        Integer group labels.
    n_features : int
        Number of features.

    Returns
    -------
    log_alpha : ndarray of float, shape (n_hyper,)
    groups : None, "per-feature", or ndarray of group indices in ``0..n_hyper-1``
        The form accepted by :meth:`InnerProblem.from_data`.
    """
    log_alpha = np.atleast_1d(check_real_array("log_alpha", log_alpha, ndim=(0, 1)))
    if np.any(np.abs(log_alpha) > MAX_ABS_LOG_ALPHA):
        raise ValueError(f"log_alpha must lie in [-{MAX_ABS_LOG_ALPHA:g}, "
                         f"{MAX_ABS_LOG_ALPHA:g}] (alpha = exp(log_alpha)), got "
                         f"{log_alpha[np.abs(log_alpha) > MAX_ABS_LOG_ALPHA][:5].tolist()}")
    if groups is None:
        if log_alpha.shape[0] == 1:
            return log_alpha, None
        if log_alpha.shape[0] == n_features:
            return log_alpha, "per-feature"
        raise ValueError(f"log_alpha has {log_alpha.shape[0]} entries: expected 1 "
                         f"or one per feature ({n_features}), or pass groups")
    index = check_group_labels("groups", groups, n_features)
    n_groups = int(index.max()) + 1
    if log_alpha.shape[0] == 1:
        log_alpha = np.full(n_groups, log_alpha[0])
    if log_alpha.shape[0] != n_groups:
        raise ValueError(f"log_alpha has {log_alpha.shape[0]} entries for "
                         f"{n_groups} groups")
    return log_alpha, index


def check_hypergradient_params(*, inner_tol, inner_max_iter, memory_size, opa_freq,
                               backward_tol, backward_max_iter, w0, n_coef):
    """Validate the scalar options of :func:`hypergradient` and its ``w0``.

    Parameters
    ----------
    inner_tol, inner_max_iter, memory_size, opa_freq, backward_tol, backward_max_iter, w0
        As in :func:`hypergradient`.
    n_coef : int
        Length of the coefficient vector (``w0``'s expected shape).

    Returns
    -------
    w0 : ndarray of shape (n_coef,)
        A new array: zeros when ``w0`` is None.
    """
    check_real("inner_tol", inner_tol, 0.0)
    check_int("inner_max_iter", inner_max_iter, 0)
    check_int("memory_size", memory_size, 1, allow_none=True)
    check_int("opa_freq", opa_freq, 1, allow_none=True)
    check_real("backward_tol", backward_tol, 0.0)
    check_int("backward_max_iter", backward_max_iter, 0, allow_none=True)
    if w0 is None:
        return np.zeros(n_coef)
    w0 = check_real_array("w0", w0)
    if w0.shape != (n_coef,):
        raise ValueError(f"w0 must have shape ({n_coef},), got {w0.shape}")
    return w0
