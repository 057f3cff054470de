"""The core's modules form layers, read from their source with `ast` (nothing is imported):
no import cycle at run time, no private name taken from another module, and no folder
importing one above it. Imports under `if TYPE_CHECKING:` are annotations only and do
not count; imports inside functions do (they run)."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import assay
import pytest

SOURCE = Path(assay.__file__).resolve().parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "registry", "spec", "threads", "params"),
    ("data",),
    ("evaluation",),
    ("plugin",),
    ("loop",),
    ("engine",),
    ("publish",),
    ("api", "builtin"),
    ("conformance", "kit"),
    ("cli",),
)
"""Bottom up: a module imports from its own layer or those below (CONTRIBUTING.md)."""

ABOVE_ITS_FOLDER = {
    ("assay.loop.lab", "assay.engine.tracking"),
    ("assay.loop.lab", "assay.engine.units"),
}
"""A real lab's campaign keeps its state in MLflow: it sits on the engine that the rest of
the closed-loop folder is below."""

PRIVATE_IMPORTS_LEFT: set[tuple[str, str]] = set()
"""None left: the hand-written parameter checks went with one parameter mechanism."""


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(module: str, source: str) -> list[tuple[str, str]]:
    """(imported module, name or "") for every run-time import of another assay module."""
    found = []
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "assay" or node.module.startswith("assay."):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    if submodule in MODULES:
                        found.append((submodule, ""))
                    else:
                        found.append((node.module, alias.name))
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("assay.")]
    return [(target, name) for target, name in found if target != module]


GRAPH = {
    module: {target for target, _ in imports_of(module, path.read_text(encoding="utf-8"))}
    for module, path in MODULES.items()
}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every set of modules that import each other in a loop (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> int:
    first = module.split(".")[1] if "." in module else ""
    for level, names in enumerate(LAYERS):
        if first in names:
            return level
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS")


def test_every_module_is_read() -> None:
    assert {"assay.kit", "assay.engine.runner", "assay.publish.query", "assay.cli.main"} <= set(
        MODULES
    )


def test_the_core_has_no_import_cycle() -> None:
    assert cycles(GRAPH) == []


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_type_checking_imports_do_not_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from assay.plugin import Catalog\n"
        "def f():\n    from assay.spec import Size\n"
    )
    assert imports_of("assay.x", source) == [("assay.spec", "Size")]


def test_no_private_name_is_imported_from_another_module() -> None:
    private = {
        (module, f"{target}.{name}")
        for module, path in MODULES.items()
        for target, name in imports_of(module, path.read_text(encoding="utf-8"))
        if name.startswith("_") and not name.startswith("__")
    }
    assert private <= PRIVATE_IMPORTS_LEFT


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "assay"))
def test_a_module_imports_nothing_from_a_layer_above_it(module: str) -> None:
    above = sorted(
        target
        for target in GRAPH[module]
        if target != "assay"
        and layer_of(target) > layer_of(module)
        and (module, target) not in ABOVE_ITS_FOLDER
    )
    assert above == []
