"""Imports run one way: every import in evoact/ goes to its own layer or one below (docs/ARCHITECTURE.md's table), and
no import cycle exists."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "evoact"


def _layers() -> dict[str, int]:
    """Unit -> layer, read from the Layers table of docs/ARCHITECTURE.md."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    out = {}
    for number, modules in re.findall(r"^\| (\d+) \|[^|]*\| (.*) \|$", section, flags=re.MULTILINE):
        for name in re.findall(r"`(\w+)`", modules):
            assert name not in out, f"{name} is in two layers"
            out[name] = int(number)
    return out


def _unit(module: str) -> str:
    """The layer unit of a dotted module name: a top-level module, a subpackage, or the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module(path: Path) -> str:
    """The dotted name of a file of the package (a package's ``__init__.py`` is the package)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(("evoact", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def _units() -> set[str]:
    return {_unit(_module(p)) for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The evoact modules a file imports, anywhere in it (top level, functions, TYPE_CHECKING blocks)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "evoact":  # ``from evoact import native``: the module
            out |= {f"evoact.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} if node.module.split(".")[0] == "evoact" else set()
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; evoact imports absolutely")
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "evoact"}
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(_module(path))
        graph.setdefault(unit, set()).update(_unit(m) for m in imports_of(path) if _unit(m) != unit)
    return graph


def test_every_module_has_a_layer():
    layers = _layers()
    assert sorted(_units() - set(layers)) == [], "add these modules to the Layers table of docs/ARCHITECTURE.md"
    assert sorted(set(layers) - _units()) == [], "the Layers table names modules that do not exist"


def test_no_import_runs_up_a_layer():
    layers = _layers()
    upward = [
        f"{unit} (layer {layers[unit]}) imports {target} (layer {layers[target]})"
        for unit, targets in _graph().items()
        for target in targets
        if layers[target] > layers[unit]
    ]
    assert upward == []


def test_no_import_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(unit: str, path: list[str]) -> None:
        state[unit] = "open"
        for target in sorted(graph.get(unit, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[unit] = "done"

    for unit in sorted(graph):
        if unit not in state:
            visit(unit, [unit])
    assert cycles == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from evoact.run import RunReader\n", {"evoact.run"}),
        ("def f():\n    from evoact.driver import run_search\n", {"evoact.driver"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import evoact.api\n", {"evoact.api"}),
        ("import numpy\nfrom os import path\n", set()),
        ("from evoact import native\n", {"evoact.native"}),
    ],
)
def test_the_check_sees_imports_anywhere_in_a_file(tmp_path, source, found):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert imports_of(path) == found
