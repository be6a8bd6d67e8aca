"""The splits of a fit, checked, and the class weights it multiplies into the sample weights."""
import numbers

import numpy as np
from sklearn.model_selection import StratifiedShuffleSplit, check_cv
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight

from ._validation import check_sample_weight, check_weighted_classes, is_bool

#: largest |log(alpha)| accepted in lambda_bounds: exp(100) ~ 3e43 is far past
#: any useful strength, and the bound keeps every product with w finite
MAX_ABS_BOUND = 100.0


def make_splits(est, X, y, sample_weight):
    """The (training, held-out) index pairs of a fit: ``est.cv``'s, or one validation split."""
    if est.cv is None:
        splitter = StratifiedShuffleSplit(
            n_splits=1, test_size=est.validation_fraction,
            random_state=check_random_state(est.random_state))
        try:
            splits = list(splitter.split(X, y))
        except ValueError as exc:
            raise ValueError(
                f"validation_fraction={est.validation_fraction!r} of {X.shape[0]} "
                f"samples cannot put every class on each side of the validation "
                f"split ({exc}); more samples or another validation_fraction") from exc
    else:
        splits = _cv_splits(est.cv, X, y)
    splits = [_check_split(i, split, X.shape[0]) for i, split in enumerate(splits)]
    n_classes = int(y.max()) + 1
    for i, (train, test) in enumerate(splits):
        _check_classes(i, train, test, y, sample_weight, n_classes)
    return splits


def class_weighted(class_weight, classes, codes, sample_weight):
    """``sample_weight`` times the weight of each sample's class (None without either).

    "balanced" weighs class ``k`` by ``n / (n_classes n_k)``, counts weighted
    by ``sample_weight``, as scikit-learn's ``compute_class_weight`` (and
    LogisticRegressionCV) computes it; a dict maps labels to weights, the
    classes it leaves out weighing 1.
    """
    if class_weight is None:
        return sample_weight
    n_classes = classes.shape[0]
    if isinstance(class_weight, str):
        weights = compute_class_weight("balanced", classes=np.arange(n_classes), y=codes,
                                       sample_weight=sample_weight)
    else:
        weights = _class_weight_dict(class_weight, classes)
    combined = weights[codes] if sample_weight is None else weights[codes] * sample_weight
    name = "class_weight" if sample_weight is None else "sample_weight times class_weight"
    combined = check_sample_weight(combined, codes.shape[0], name)
    check_weighted_classes(codes, combined, classes, "class_weight")
    return combined


def _class_weight_dict(class_weight, classes):
    """The weight of each class from ``{label: weight}``, validated."""
    index = {label: k for k, label in enumerate(classes.tolist())}
    weights = np.ones(classes.shape[0])
    for label, weight in class_weight.items():
        if label not in index:
            raise ValueError(f"class_weight has the label {label!r}, which is not a class "
                             f"of y (classes: {classes.tolist()})")
        if is_bool(weight) or not isinstance(weight, numbers.Real):
            raise TypeError(f"class_weight must map labels to numbers, got {weight!r} "
                            f"for {label!r}")
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"class_weight must map labels to finite numbers >= 0, got "
                             f"{weight!r} for {label!r}")
        weights[index[label]] = float(weight)
    return weights


def _check_classes(i, train, test, codes, sample_weight, n_classes):
    """Refuse a split whose training part misses a class or whose held-out part has one."""
    def present(idx):
        if sample_weight is not None:
            idx = idx[sample_weight[idx] > 0]
        return np.unique(codes[idx])

    held_out = present(test)
    if held_out.shape[0] < 2:
        raise ValueError(
            f"the held-out part of split {i} holds a single class (of positive weight); "
            "at least two are needed (more samples, another cv or validation_fraction)")
    trained = present(train)
    if trained.shape[0] < n_classes:
        which = "both classes are" if n_classes == 2 else "every class is"
        raise ValueError(
            f"the training part of split {i} holds {trained.shape[0]} of the "
            f"{n_classes} classes (of positive weight); {which} needed there (more "
            "samples, another cv or validation_fraction)")


def _is_pair(value):
    try:
        return len(value) == 2
    except TypeError:
        return False


def check_bounds(lambda_bounds):
    """``lambda_bounds`` as a float array ``[low, high]``, validated."""
    message = (f"lambda_bounds must be two numbers (low, high) in [-{MAX_ABS_BOUND:g}, "
               f"{MAX_ABS_BOUND:g}] with low < high, got {lambda_bounds!r}")
    if not _is_pair(lambda_bounds) or isinstance(lambda_bounds, str) or any(
            is_bool(b) or not isinstance(b, numbers.Real) for b in lambda_bounds):
        raise ValueError(message)
    bounds = np.array([float(b) for b in lambda_bounds])
    if not (np.all(np.abs(bounds) <= MAX_ABS_BOUND) and bounds[0] < bounds[1]):
        raise ValueError(message)
    return bounds


def _cv_splits(cv, X, y):
    """The list of splits given by ``cv`` (an int >= 2, a splitter or an iterable of pairs)."""
    expected = ("cv must be None, an integer >= 2, a cross-validation splitter or an "
                "iterable of (train, test) index pairs")
    if is_bool(cv) or isinstance(cv, (str, bytes)) or (
            isinstance(cv, numbers.Number) and not isinstance(cv, numbers.Integral)):
        raise TypeError(f"{expected}, got {cv!r}")
    if isinstance(cv, numbers.Integral):
        if cv < 2:
            raise ValueError(f"{expected}, got {cv!r}")
        return list(check_cv(int(cv), y, classifier=True).split(X, y))
    if hasattr(cv, "split"):
        return list(cv.split(X, y))
    if not hasattr(cv, "__iter__") or getattr(cv, "ndim", 1) == 0:
        raise TypeError(f"{expected}, got {cv!r}")  # a 0-d array has __iter__ but raises
    splits = list(cv)
    if not splits:
        if iter(cv) is cv:
            raise ValueError("cv yielded no split: an iterator or generator of splits is "
                             "used up by the first fit; pass a list of (train, test) "
                             "pairs or a splitter")
        raise ValueError(f"cv holds no split, got {cv!r}")
    return splits


def _check_indices(i, part, idx, n_samples):
    where = f"the {part} indices of split {i} of cv"
    try:
        idx = np.asarray(idx)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} must be a 1-d array of integers, got {idx!r}") from exc
    if idx.ndim != 1:
        raise ValueError(f"{where} must be a 1-d array, got shape {idx.shape}")
    if idx.dtype.kind == "b":
        if idx.shape[0] != n_samples:
            raise ValueError(f"{where} form a boolean mask of length {idx.shape[0]}, "
                             f"X has {n_samples} samples")
        idx = np.flatnonzero(idx)
    if idx.size == 0:
        raise ValueError(f"{where} are empty")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{where} must be integers, got dtype {idx.dtype}: "
                        f"{idx[:5].tolist()}")
    if idx.min() < 0 or idx.max() >= n_samples:
        bad = idx[(idx < 0) | (idx >= n_samples)]
        raise ValueError(f"{where} must lie in [0, {n_samples - 1}] (X has {n_samples} "
                         f"samples), got {bad[:5].tolist()}")
    if np.unique(idx).shape[0] != idx.shape[0]:
        values, counts = np.unique(idx, return_counts=True)
        raise ValueError(f"{where} hold duplicates: {values[counts > 1][:5].tolist()}")
    return idx.astype(np.intp)


def _check_split(i, split, n_samples):
    """Validated ``(train, test)`` index arrays of split ``i``."""
    try:
        train, test = split
    except (TypeError, ValueError) as exc:
        shape = f" of shape {np.shape(split)}" if hasattr(split, "shape") else ""
        raise ValueError(f"split {i} of cv must be a pair (train, test) of index arrays, "
                         f"got {type(split).__name__}{shape}") from exc
    train = _check_indices(i, "training", train, n_samples)
    test = _check_indices(i, "held-out", test, n_samples)
    shared = np.intersect1d(train, test)
    if shared.size:
        raise ValueError(f"the training and held-out indices of split {i} of cv overlap: "
                         f"{shared[:5].tolist()}")
    return train, test
