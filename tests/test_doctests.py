"""The examples in the package's docstrings run and print what they show."""
import doctest
import importlib
import pkgutil

import pytest

import hoag_shine

MODULES = sorted(m.name for m in pkgutil.walk_packages(hoag_shine.__path__, "hoag_shine."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failed == 0, f"{failed} docstring example(s) of {name} failed (see the output above)"
