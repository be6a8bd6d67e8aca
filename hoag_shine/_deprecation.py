"""Renamed parameters: the former spelling keeps working, with a FutureWarning."""
import warnings


class _Deprecated:
    """Default of a parameter kept only under its former name."""

    def __repr__(self):
        return "'deprecated'"


#: default of a deprecated spelling: distinguishes "not given" from any value
DEPRECATED = _Deprecated()


def renamed(value, default, old_value, old, new):
    """The value of a renamed parameter, taking its former spelling with a FutureWarning.

    Parameters
    ----------
    value : object
        Value given under the new name.
    default : object
        Default of the new name.
    old_value : object
        Value given under the former name, :data:`DEPRECATED` when not given.
    old, new : str
        The former and the new names.

    Returns
    -------
    object
        ``old_value`` when the former name was used, else ``value``.
    """
    if old_value is DEPRECATED:
        return value
    if value is not default and value != default:
        raise TypeError(f"got both {new}={value!r} and its former name {old}={old_value!r}; "
                        f"pass {new} only")
    warnings.warn(f"{old} was renamed {new}; the former name will be removed in a future "
                  "release", FutureWarning, stacklevel=3)
    return old_value
