"""Plugins take everything from the core through one module, `assay.kit`, so the core can
move its modules without breaking a plugin. Read from the sources (no plugin is imported):
every plugin under packages/, the test plugin, and the skeleton `assay plugin new` writes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from assay import kit
from assay.cli import scaffold

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SOURCES = sorted(
    [
        *ROOT.glob("packages/*/src/**/*.py"),
        *ROOT.glob("tests/plugins/assay_testplugin/src/**/*.py"),
    ]
)


def core_imports_other_than_the_kit(source: str) -> list[str]:
    """Every `from assay.X import ...` / `import assay.X` whose module is not `assay.kit`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        found += [
            f"line {node.lineno}: {module}"
            for module in modules
            if module.startswith("assay.") and module != "assay.kit"
        ]
    return found


def test_the_plugin_sources_are_found() -> None:
    packages = {path.relative_to(ROOT).parts[1] for path in PLUGIN_SOURCES}
    assert {"hep", "materials", "medicine", "lifesci", "quantum", "breeding"} <= packages


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_plugin_imports_the_core_only_through_the_kit(path: Path) -> None:
    assert core_imports_other_than_the_kit(path.read_text(encoding="utf-8")) == []


def test_the_scaffold_imports_the_core_only_through_the_kit(tmp_path: Path) -> None:
    scaffold.new_plugin("pendulum", tmp_path)
    written = sorted(tmp_path.rglob("*.py"))
    assert written
    for path in written:
        assert core_imports_other_than_the_kit(path.read_text(encoding="utf-8")) == [], path


def test_the_scan_catches_an_import_beside_the_kit() -> None:
    source = (
        "from assay.kit import Dataset\nfrom assay.data.splits import kfold\nimport assay.errors\n"
    )
    assert core_imports_other_than_the_kit(source) == [
        "line 2: assay.data.splits",
        "line 3: assay.errors",
    ]


def test_every_name_the_kit_declares_resolves() -> None:
    # The torch names load torch on first use; the kit's own laziness is checked by
    # test_lazy_manifests (no plugin manifest imports a heavy module).
    assert len(set(kit.__all__)) == len(kit.__all__)
    missing = [name for name in kit.__all__ if not hasattr(kit, name)]
    assert missing == []
