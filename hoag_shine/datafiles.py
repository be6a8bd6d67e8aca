"""Read a labelled data file, LIBSVM or CSV, with any number of classes.

The readers of ``hoag-shine tune``. Unlike the data sets of
:mod:`hoag_shine.cli_data`, the labels are kept as they are in the file
(numbers or, in a CSV file, words), so that a fitted model predicts them.
Every problem with the file raises ``ValueError`` (``FileNotFoundError``
when it is missing) with a one-line message naming the file.

Examples
--------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "toy.csv")
>>> with open(path, "w") as f:
...     _ = f.write("x1,x2,label\\n0.5,1,cat\\n1.5,0,dog\\n")
>>> X, y = load_labelled_file(path)
>>> X.shape, y.tolist()
((2, 2), ['cat', 'dog'])
"""
import csv
from pathlib import Path

import numpy as np
import scipy.sparse as sp

#: file formats, and the extensions from which each is inferred
FORMATS = {"csv": (".csv",), "libsvm": (".svm", ".libsvm", ".txt", ".bz2", ".gz")}


def infer_format(path):
    """The format of a data file from its extension.

    Parameters
    ----------
    path : str or path-like
        File name.

    Returns
    -------
    str
        "csv" or "libsvm".

    Raises
    ------
    ValueError
        When the extension is none of :data:`FORMATS`.

    Examples
    --------
    >>> infer_format("news.libsvm.bz2"), infer_format("iris.csv")
    ('libsvm', 'csv')
    """
    suffix = Path(path).suffix.lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    known = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
    raise ValueError(f"cannot tell the format of {path} from its extension (known: "
                     f"{known}); give --format csv or --format libsvm")


def load_labelled_file(path, file_format=None, *, label_column=-1, header=None):
    """Read ``X, y`` from a LIBSVM or CSV file.

    Parameters
    ----------
    path : str or path-like
        The file (LIBSVM files may be compressed by gzip or bzip2).
    file_format : {"libsvm", "csv"}, optional
        Default: inferred from the extension by :func:`infer_format`.
    label_column : int or str, default=-1
        CSV only: position of the label column (negative from the end) or
        its name in the header.
    header : bool, optional
        CSV only: whether the first line names the columns; default: it does
        when one of its feature cells is not a number.

    Returns
    -------
    X : {ndarray, scipy.sparse.csr_matrix} of float64 of shape (n_samples, n_features)
        Features, all finite: dense for CSV, sparse for LIBSVM.
    y : ndarray of shape (n_samples,)
        Labels: integers when they all are, else floats, or strings (CSV).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it is empty, unreadable, or holds NaN or infinite values.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist")
    file_format = file_format or infer_format(path)
    if file_format == "csv":
        X, y = _read_csv(path, label_column, header)
    elif file_format == "libsvm":
        X, y = _read_libsvm(path)
    else:
        raise ValueError(f"unknown file format {file_format!r}; choose csv or libsvm")
    if X.shape[0] == 0:
        raise ValueError(f"data file {path} holds no sample")
    values = X.data if sp.issparse(X) else X
    if not np.all(np.isfinite(values)):
        raise ValueError(f"data file {path} holds {np.sum(~np.isfinite(values))} NaN "
                         "or infinite feature values")
    return X, _tidy_labels(y, path)


def _read_libsvm(path):
    from sklearn.datasets import load_svmlight_file

    try:
        X, y = load_svmlight_file(str(path))
    except (ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
        detail = str(exc) if len(str(exc)) <= 80 else str(exc)[:77] + "..."
        raise ValueError(f"data file {path} is not a readable LIBSVM file ({detail})") \
            from exc
    return sp.csr_matrix(X, dtype=np.float64), y


def _read_csv(path, label_column, header):
    try:
        with path.open(newline="") as file:
            rows = [row for row in csv.reader(file) if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"data file {path} is not a readable CSV file ({exc})") from exc
    if not rows:
        raise ValueError(f"data file {path} holds no sample")
    width = len(rows[0])
    if width < 2:
        raise ValueError(f"data file {path}: a CSV file needs a label column and at "
                         "least one feature column, got 1 column")
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ValueError(f"data file {path}, line {number}: {len(row)} cells where "
                             f"the first line has {width}")
    label = _label_index(label_column, rows[0], width, path)
    features = [i for i in range(width) if i != label]
    if header is None:
        header = not all(_is_number(rows[0][i]) for i in features)
    body = rows[1:] if header else rows
    X = np.empty((len(body), len(features)))
    for number, row in enumerate(body, start=1 + bool(header)):
        try:
            X[number - 1 - bool(header)] = [float(row[i]) for i in features]
        except ValueError:
            bad = next(row[i] for i in features if not _is_number(row[i]))
            raise ValueError(f"data file {path}, line {number}: {bad!r} is not a number"
                             ) from None
    return X, np.array([row[label].strip() for row in body])


def _label_index(label_column, first_row, width, path):
    if isinstance(label_column, str) and not _is_integer(label_column):
        names = [cell.strip() for cell in first_row]
        if label_column not in names:
            raise ValueError(f"data file {path}: no column named {label_column!r} in "
                             "its first line")
        return names.index(label_column)
    index = int(label_column)
    if not -width <= index < width:
        raise ValueError(f"data file {path}: label column {index} out of range for "
                         f"{width} columns")
    return index % width


def _tidy_labels(y, path):
    """Numbers as integers when they all are, else floats; words kept as words."""
    if y.dtype.kind in "US":
        if not all(_is_number(v) for v in y):
            return y
        y = y.astype(np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(y)):
        raise ValueError(f"data file {path} holds NaN or infinite labels")
    return y.astype(np.int64) if np.all(y == np.round(y)) else y


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_integer(text):
    try:
        int(text)
    except ValueError:
        return False
    return True
