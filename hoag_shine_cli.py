"""Entry point of the ``hoag-shine`` command.

A module outside the ``hoag_shine`` package, whose ``__init__`` imports
NumPy, SciPy and scikit-learn: ``hoag-shine --version`` answers from the
source of the package without importing it; anything else is run by
:func:`hoag_shine.cli.main`.
"""
import ast
import sys
from importlib.util import find_spec


def source_version():
    """The ``__version__`` written in ``hoag_shine/__init__.py``, read without running it.

    Returns
    -------
    str or None
        The version string; None when it cannot be read that way.
    """
    spec = find_spec("hoag_shine")
    if spec is None or not spec.origin:
        return None
    try:
        with open(spec.origin, encoding="utf-8") as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(target, "id", None) == "__version__" for target in node.targets):
            value = node.value
            return value.value if isinstance(value, ast.Constant) else None
    return None


def main(argv=None):
    """Run ``hoag-shine``; ``--version`` alone is answered without the numerical stack.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status, as :func:`hoag_shine.cli.main` returns it.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:
        version = source_version()
        if version is not None:
            print(f"hoag-shine {version}")
            return 0
    from hoag_shine.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
