"""Input checks of the L-BFGS solver: its parameters, the objective's values, the directions."""
import numpy as np

from .._validation import check_bool, check_callable, check_int, check_real, check_real_array


def check_lbfgs_params(fun_and_grad, x0, *, memory_size, tol, max_iter, memory, memory_class,
                       extra_secant, c1, c2, max_linesearch, warn, initial_matrix=None):
    """Validate the arguments of :func:`minimize_lbfgs`.

    Parameters
    ----------
    fun_and_grad, x0, memory_size, tol, max_iter, memory, extra_secant, c1, c2, max_linesearch, warn, initial_matrix
        As in :func:`minimize_lbfgs`.
    memory_class : type
        The class ``memory`` must be an instance of (the L-BFGS memory).

    Raises
    ------
    TypeError, ValueError
        Naming the first argument found wrong and its value.
    """
    check_callable("fun_and_grad", fun_and_grad, allow_none=False)
    x0 = check_real_array("x0", x0, ndim=1)
    if x0.size == 0:
        raise ValueError("x0 must hold at least one entry, got an empty array")
    check_int("memory_size", memory_size, 1)
    check_real("tol", tol, 0.0)
    check_int("max_iter", max_iter, 0)
    if memory is not None:
        if not isinstance(memory, memory_class):
            raise TypeError(f"memory must be an LBFGSMemory or None, got {memory!r}")
        if memory.dimension not in (None, x0.shape[0]):
            raise ValueError(f"memory applies to vectors of length {memory.dimension}, "
                             f"x0 has shape {x0.shape}")
    check_callable("extra_secant", extra_secant)
    c1 = check_real("c1", c1, 0.0, 1.0, low_open=True, high_open=True)
    c2 = check_real("c2", c2, 0.0, 1.0, low_open=True, high_open=True)
    if not c1 < c2:
        raise ValueError(f"the Wolfe constants must satisfy 0 < c1 < c2 < 1, "
                         f"got c1={c1!r}, c2={c2!r}")
    check_int("max_linesearch", max_linesearch, 1)
    check_bool("warn", warn)
    check_callable("initial_matrix", initial_matrix)


def checked_objective(fun_and_grad, shape):
    """``fun_and_grad`` whose every output is checked to be a scalar and a gradient of ``shape``.

    Parameters
    ----------
    fun_and_grad : callable
        ``x -> (value, gradient)``, as :func:`minimize_lbfgs` takes it.
    shape : tuple of int
        Shape of ``x``, which the gradient must have.

    Returns
    -------
    callable
        ``x -> (float, ndarray of shape`` ``shape)``; the gradient is not
        copied when it is already a float array.

    Raises
    ------
    TypeError, ValueError
        From the returned callable, naming what ``fun_and_grad`` returned: not
        a pair, a value that is not one real number, a gradient that is not
        real or whose shape is not ``shape``.
    """
    def checked(x):
        out = fun_and_grad(x)
        try:
            value, gradient = out
        except (TypeError, ValueError):
            raise TypeError("fun_and_grad must return a pair (value, gradient), got "
                            f"{type(out).__name__}{_shape_text(out)}") from None
        try:
            value, gradient = np.asarray(value, dtype=float), np.asarray(gradient, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError("fun_and_grad must return real numbers, got a value of type "
                            f"{type(out[0]).__name__} and a gradient of type "
                            f"{type(out[1]).__name__}") from exc
        if value.size != 1:
            raise ValueError(f"fun_and_grad must return one value, got an array of shape "
                             f"{value.shape}")
        if gradient.shape != shape:
            raise ValueError(f"fun_and_grad returned a gradient of shape {gradient.shape} "
                             f"for x of shape {shape}; the gradient must have the shape of x")
        return float(value.reshape(())), gradient

    return checked


def _shape_text(value):
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f" of shape {shape}"
    return f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""


def check_direction(name, direction, shape):
    """A direction returned by a hook, as a float array of the shape of ``x``.

    Parameters
    ----------
    name : str
        The hook, named in the message.
    direction : array-like
        What it returned.
    shape : tuple of int
        Shape of ``x``.

    Returns
    -------
    ndarray of shape ``shape``
        The direction (not copied when it is already a float array).

    Raises
    ------
    TypeError, ValueError
        When it is not real, or not of shape ``shape``.
    """
    try:
        direction = np.asarray(direction, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must return None or a real array, got "
                        f"{type(direction).__name__}") from exc
    if direction.shape != shape:
        raise ValueError(f"{name} returned a direction of shape {direction.shape} for x of "
                         f"shape {shape}; it must have the shape of x")
    return direction


def check_initial_matrix(matrix, n):
    """An initial matrix returned by ``initial_matrix``, checked against the dimension ``n``.

    Parameters
    ----------
    matrix : object
        What the callable returned.
    n : int
        Number of unknowns.

    Returns
    -------
    object
        ``matrix``, an object with ``diagonal``, ``trial_step`` and
        ``shifted`` whose dimension ``n`` is None or ``n``.

    Raises
    ------
    TypeError, ValueError
        Naming what was returned.
    """
    if not all(callable(getattr(matrix, name, None))
               for name in ("diagonal", "trial_step", "shifted")):
        raise TypeError("initial_matrix must return an initial matrix (ScaledIdentity, "
                        f"InverseDiagonal or alike), got {matrix!r}")
    if getattr(matrix, "n", None) not in (None, n):
        raise ValueError(f"initial_matrix returned a matrix of dimension {matrix.n} for "
                         f"{n} unknowns")
    return matrix
