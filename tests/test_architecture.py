"""The import direction of the package's layers (docs/architecture.rst)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hoag_shine"

#: what each layer may import from the package; the front (the modules at the
#: top, and __init__) may import anything
ALLOWED = {
    "_validation": set(),
    "model": {"_validation"},
    "solver": {"_validation"},
    "parallel": {"_validation"},
    "implicit": {"_validation", "model", "solver"},
    "outer": {"_validation", "model", "solver", "implicit", "parallel"},
}
FRONT = {"__init__", "estimator", "tuning", "_splits", "display", "cli", "cli_output",
         "cli_tune", "cli_data", "datafiles"}


def layer(parts):
    """The layer of a module given by its path inside the package."""
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


def imported_layers(path, root=PACKAGE):
    """The layers of the package at ``root`` that the module at ``path`` imports."""
    parts = path.relative_to(root).parts
    package = list(parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # "from . import name" at the top
                    target = [alias.name for alias in node.names]
                found.update([target[0]] if target else [])
            elif node.module and node.module.split(".")[0] == "hoag_shine":
                found.add(node.module.split(".")[1] if "." in node.module else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "hoag_shine":
                    found.add(names[1] if len(names) > 1 else "__init__")
                if names[0] == "benchmarks":
                    found.add("benchmarks")
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    unknown = {layer(p.relative_to(PACKAGE).parts) for p in MODULES} - set(ALLOWED) - FRONT
    assert not unknown


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_layer_imports_only_from_the_layers_below(path):
    own = layer(path.relative_to(PACKAGE).parts)
    imported = imported_layers(path) - {own}
    assert "benchmarks" not in imported
    if own in FRONT:
        return
    assert imported <= ALLOWED[own], f"{own} imports {sorted(imported - ALLOWED[own])}"


def test_the_check_sees_an_upward_import(tmp_path):
    # the rule itself must be able to fail: a solver module importing the model
    root = tmp_path / "hoag_shine"
    (root / "solver").mkdir(parents=True)
    module = root / "solver" / "bad.py"
    module.write_text("from ..model.problem import InnerProblem\nfrom .memory import x\n"
                      "import hoag_shine.outer.loop\n")
    assert imported_layers(module, root) == {"model", "solver", "outer"}
