"""Every plugin keeps a role in the module the skeleton of `assay plugin new` names for it
(`assay.cli.scaffold.ROLE_FILES`), so a reader finds one plugin's metrics where another's
are. Read from the manifests: each `plugin.py` imports light."""

from __future__ import annotations

import importlib
from importlib import metadata
from pathlib import Path

import pytest
from assay.cli import scaffold
from assay.kit import Plugin, UserFileSource

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = sorted(p.parent.name for p in ROOT.glob("packages/*/pyproject.toml"))


def manifest(domain: str) -> Plugin:
    (entry,) = [ep for ep in metadata.entry_points(group="assay.plugins") if ep.name == domain]
    plugin = entry.load()
    assert isinstance(plugin, Plugin)
    return plugin


def test_the_skeleton_writes_only_role_files(tmp_path: Path) -> None:
    package = scaffold.new_plugin("pendulum", tmp_path) / "src" / "assay_pendulum"
    modules = {p.stem for p in package.glob("*.py")} - {"__init__"}
    assert modules <= set(scaffold.ROLE_FILES)
    assert {"plugin", "sources", "models", "deep"} <= modules


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_plugins_metrics_live_in_its_metrics_module(domain: str) -> None:
    plugin = manifest(domain)
    modules = {
        entry.partition(":")[0]
        for entry in plugin.metrics.values()
        if isinstance(entry, str)  # objects are registered where they are defined
    }
    assert modules <= {f"assay_{domain}.metrics"}


KINDS_A_ROLE_HOLDS = {
    "plugin": set(),
    "sources": {"sources"},
    "user_files": {"sources", "splits"},  # a user's own folds come with their files
    "readers": set(),
    "models": {"models"},
    "deep": {"models"},
    "metrics": {"metrics"},
    "splits": {"splits"},
    "protocol": {"protocols", "splits"},  # a protocol's own splitter
    "export": set(),
}


def test_every_role_file_says_what_it_may_hold() -> None:
    assert set(KINDS_A_ROLE_HOLDS) == set(scaffold.ROLE_FILES)


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_role_named_module_holds_only_its_role(domain: str) -> None:
    """No splitter in `metrics`, no source in `deep`: the name of a role file is true."""
    plugin = manifest(domain)
    misplaced = []
    for kind in ("sources", "models", "metrics", "splits", "protocols", "environments", "policies"):
        for name, entry in getattr(plugin, kind).items():
            if not isinstance(entry, str):
                continue
            module = entry.partition(":")[0].removeprefix(f"assay_{domain}.")
            if module in KINDS_A_ROLE_HOLDS and kind not in KINDS_A_ROLE_HOLDS[module]:
                misplaced.append(f"{kind} {name}: {entry}")
    assert misplaced == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_users_files_are_not_read_in_the_sources_module(domain: str) -> None:
    """`sources` generates data or loads what a package ships; a source of a user's files
    (a `UserFileSource`) lives in `user_files` (or a sub-field's module)."""
    misplaced = []
    for name, entry in manifest(domain).sources.items():
        module, _, attribute = entry.partition(":") if isinstance(entry, str) else ("", "", "")
        if module != f"assay_{domain}.sources":
            continue
        source = getattr(importlib.import_module(module), attribute)
        if issubclass(source, UserFileSource):
            misplaced.append(f"{name}: {entry}")
    assert misplaced == []
