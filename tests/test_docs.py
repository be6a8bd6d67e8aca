"""The documentation: the Sphinx build, the public docstrings, the code in the pages.

These tests need the ``docs`` extra (sphinx, numpydoc, sphinx-gallery,
matplotlib), which the continuous integration installs; they are not skipped
when it is missing.
"""
import dataclasses
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from numpydoc.docscrape import get_doc_object
from numpydoc.validate import Validator, validate
from threadpoolctl import threadpool_limits

import hoag_shine
from hoag_shine import cli
from hoag_shine.implicit import methods

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


# -- (i) the Sphinx build ----------------------------------------------------------


def test_sphinx_build_has_no_warnings(tmp_path):
    """``sphinx-build -W --keep-going -b html`` succeeds: no warning at all.

    The build runs every example of the gallery; ``run_stale_examples`` makes
    sphinx-gallery run them even when an earlier build left their output in
    ``docs/auto_examples``, so that an example broken by a change of the
    package fails this test.
    """
    command = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
        "-d", str(tmp_path / "doctrees"),
        "-D", "sphinx_gallery_conf.run_stale_examples=True",
        str(DOCS), str(tmp_path / "html"),
    ]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)
    log = proc.stdout[-5000:] + "\n" + proc.stderr[-20000:]
    assert proc.returncode == 0, f"sphinx-build failed:\n{log}"
    assert "WARNING" not in proc.stderr, log
    assert (tmp_path / "html" / "api.html").is_file()
    assert (tmp_path / "html" / "auto_examples" / "index.html").is_file()


# -- (ii) numpydoc validation of the public docstrings -----------------------------

#: numpydoc checks enforced on every public function, class, method and property.
ENFORCED_CHECKS = {
    "GL03",  # double blank line
    "GL05",  # tabs
    "GL06",  # unknown section
    "GL07",  # sections in the wrong order
    "GL08",  # no docstring
    "GL09",  # deprecation note after the extended summary
    "GL10",  # malformed reST directive
    "SS01",  # no summary
    "SS02",  # summary without a capital letter
    "SS03",  # summary without a final period
    "SS04",  # summary with leading whitespace
    "SS06",  # summary on several lines
    "PR01",  # parameter not documented
    "PR02",  # documented parameter that does not exist
    "PR03",  # parameters in the wrong order
    "PR04",  # parameter without a type
    "PR05",  # parameter type ending with a period
    "PR06",  # "integer"/"boolean"/"string" instead of int/bool/str
    "PR07",  # parameter without a description
    "PR08",  # parameter description without a capital letter
    "PR09",  # parameter description without a final period
    "PR10",  # no space before the colon of a parameter
    "RT01",  # a function that returns a value without a Returns section
    "RT04",  # return description without a capital letter
    "RT05",  # return description without a final period
    "YD01",  # a generator without a Yields section
    "SA02",  # See Also entry without a final period
    "SA03",  # See Also entry without a capital letter
    "SA04",  # See Also entry without a description
}

#: numpydoc checks deliberately not enforced, and why.
IGNORED_CHECKS = {
    "GL01": "where the summary starts relative to the opening quotes is layout",
    "GL02": "likewise for the closing quotes",
    "SS05": "a heuristic that flags any first word ending in 's' ('Pairs ...'); "
            "summaries of classes and properties are noun phrases",
    "ES01": "a one-line docstring is enough for a small method",
    "RT02": "naming the returned value ('result : HypergradientResult') is the "
            "convention of scipy and scikit-learn",
    "RT03": "a named return value whose type is a documented class needs no sentence",
    "SA01": "See Also sections are optional",
    "EX01": "examples are given where they help, not on every method",
}


def _public_api():
    """Names of the objects whose docstrings the API reference renders.

    Everything in ``hoag_shine.__all__`` that is a function or a class (the
    registries ``METHODS`` and ``TOLERANCE_SCHEDULES`` are dictionaries
    documented in the API page), the public classes and functions of
    :mod:`hoag_shine.implicit.methods` and :mod:`hoag_shine.cli`, and the public
    methods and properties defined by each of these classes (inherited
    scikit-learn and SciPy members, and the ``set_*_request`` methods that
    scikit-learn generates, are not part of hoag_shine's API).
    """
    top = [(f"hoag_shine.{name}", getattr(hoag_shine, name))
           for name in hoag_shine.__all__]
    extra = [(f"{module.__name__}.{name}", obj)
             for module in (methods, cli)
             for name, obj in vars(module).items()
             if not name.startswith("_")
             and (inspect.isfunction(obj) or inspect.isclass(obj))
             and obj.__module__ == module.__name__]
    names = []
    for qualname, obj in top + extra:
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if qualname in names:
            continue
        names.append(qualname)
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if member.startswith("_") or re.fullmatch(r"set_\w+_request", member):
                    continue
                if isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if inspect.isfunction(value) or isinstance(value, property):
                    names.append(f"{qualname}.{member}")
    # a class importable from two modules is checked once, under its shorter
    # name (the objects are kept alive so that their ids stay distinct)
    seen, unique = {}, []
    for name in sorted(names, key=lambda n: (n.count("."), n)):
        obj = Validator._load_obj(name)
        obj = getattr(obj, "__func__", obj)
        key = (id(obj), name.rsplit(".", 1)[-1])
        if key not in seen:
            seen[key] = obj
            unique.append(name)
    return sorted(unique)


def _inherited_doc(obj_name):
    """Docstring of a method that overrides a documented method without its own."""
    *owner, member = obj_name.split(".")
    cls = Validator._load_obj(".".join(owner))
    if not inspect.isclass(cls):
        return None
    for base in cls.__mro__[1:]:
        value = vars(base).get(member)
        if value is not None and getattr(value, "__doc__", None):
            return value.__doc__
    return None


class _InheritingValidator(Validator):
    """numpydoc's validator, reading an override's docstring from its base class.

    autodoc shows the base class's docstring for an override that has none
    (``autodoc_inherit_docstrings``), so that docstring is what the reader
    sees; it is checked against the override's own signature.
    """

    def __init__(self, obj_name):
        obj = Validator._load_obj(obj_name)
        inherited = None if obj.__doc__ else _inherited_doc(obj_name)
        super().__init__(get_doc_object(obj, doc=inherited))
        if inherited:
            self.raw_doc = inherited
            self.clean_doc = inspect.cleandoc(inherited)


def _documented_attributes(obj):
    """Names listed in the Attributes section of a class docstring."""
    names = set()
    for item in get_doc_object(obj)["Attributes"]:
        names.update(part.strip() for part in item.name.split(","))
    return names


def _errors(obj_name):
    result = validate(obj_name, validator_cls=_InheritingValidator)
    errors = [(code, message) for code, message in result["errors"]
              if code in ENFORCED_CHECKS]
    obj = Validator._load_obj(obj_name)
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
        # a result record documents its fields, the constructor's
        # parameters, under Attributes (as scipy's OptimizeResult does)
        fields = {f.name for f in dataclasses.fields(obj)}
        if fields <= _documented_attributes(obj):
            errors = [(code, message) for code, message in errors if code != "PR01"]
    return errors


PUBLIC_API = _public_api()


def test_public_api_is_listed():
    """The list of checked objects covers the API: guards against an empty list."""
    for name in ["hoag_shine.HyperOptimizer", "hoag_shine.HyperOptimizer.fit",
                 "hoag_shine.minimize_lbfgs", "hoag_shine.LBFGSMemory.shifted",
                 "hoag_shine.implicit.methods.ShineOPA", "hoag_shine.hoag",
                 "hoag_shine.cli.main"]:
        assert name in PUBLIC_API
    assert not set(IGNORED_CHECKS) & ENFORCED_CHECKS


@pytest.mark.parametrize("obj_name", PUBLIC_API)
def test_numpydoc_docstring(obj_name):
    """The docstring of ``obj_name`` passes the enforced numpydoc checks.

    Enforced: every check of :data:`ENFORCED_CHECKS` -- a docstring exists
    (GL08) with a one-line summary (SS01-SS04, SS06); every parameter is
    documented, exists, is in order and has a type and a description written
    as a sentence (PR01-PR10); a function that returns a value has a Returns
    section (RT01, RT04, RT05); generators have a Yields section (YD01);
    sections are known and in order and the reST is well formed (GL03, GL05,
    GL06, GL07, GL09, GL10, SA02-SA04).

    Ignored, see :data:`IGNORED_CHECKS`: GL01 and GL02 (position of the
    quotes), SS05 (a heuristic on the first word that misfires on nouns),
    ES01 (extended summary), RT02 (a named return value), RT03 (a description
    of a self-explanatory return value), SA01 (See Also) and EX01 (Examples).

    Two conventions are accepted: a method overriding a documented method
    without a docstring of its own is checked with the inherited docstring,
    against its own signature, since that is what the API reference shows;
    and a dataclass may document its fields, which are its constructor's
    parameters, under Attributes.
    """
    errors = _errors(obj_name)
    if errors:
        pytest.fail("\n".join(f"{obj_name}: {code} {message}"
                              for code, message in errors), pytrace=False)


# -- (iii) the code in the README and in the pages ----------------------------------


def _markdown_blocks(path):
    """The ```python fenced blocks of a Markdown file, with their line numbers."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```python[ \t]*\n(.*?)^```", text, re.M | re.S):
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, match.group(1)))
    return blocks


def _rst_blocks(path):
    """The ``.. code-block:: python`` blocks of a reST file, with their line numbers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)\.\. code-block::\s*python3?\s*$", lines[i])
        i += 1
        if not match:
            continue
        indent = len(match.group(1))
        # options (":caption: ...") directly under the directive
        while i < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[i]):
            i += 1
        body, start = [], None
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            if line.strip() and start is None:
                start = i + 1
            body.append(line)
            i += 1
        if start is not None:
            blocks.append((start, textwrap.dedent("\n".join(body)).strip("\n") + "\n"))
    return blocks


def _files_with_code():
    files = [ROOT / "README.md"]
    files += sorted(DOCS.glob("*.rst")) + sorted((DOCS / "user_guide").glob("*.rst"))
    return [path for path in files
            if (_markdown_blocks if path.suffix == ".md" else _rst_blocks)(path)]


def test_pages_with_code_are_found():
    """The guide's pages are among the checked files (the parser found blocks)."""
    names = {path.relative_to(ROOT).as_posix() for path in _files_with_code()}
    for expected in ["README.md", "docs/quickstart.rst", "docs/user_guide/hoag.rst"]:
        assert expected in names


@pytest.mark.parametrize(
    "path", _files_with_code(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_code_blocks_run(path, tmp_path, monkeypatch):
    """Every Python block of the file runs; the blocks of one file share a namespace.

    The blocks run in order, in a fresh namespace per file, from a temporary
    working directory, with matplotlib drawing off screen and BLAS on one
    thread (the blocks use small matrices).
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = (_markdown_blocks if path.suffix == ".md" else _rst_blocks)(path)
    namespace = {"__name__": "__main__"}
    with threadpool_limits(limits=1, user_api="blas"):
        for line, code in blocks:
            compiled = compile(code, f"{path.name}, block at line {line}", "exec")
            exec(compiled, namespace)  # noqa: S102 (the project's own docs)
