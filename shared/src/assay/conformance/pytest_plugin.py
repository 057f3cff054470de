"""The conformance kit as a pytest plugin: a project's tests check its Assay plugins.

pytest loads this module wherever Assay is installed (the `pytest11` entry point
of the `assay` distribution). When it collects a project's `tests/` folder, and
the `pyproject.toml` beside that folder declares entry points in the
`assay.plugins` group, that `pyproject.toml` joins the collection: one test per
conformance check of each plugin it declares, as installed
(`assay.conformance.checks.conformance_checks`, plus two checks of the entry point: the
plugin reports its distribution's version, and importing it in a fresh process
imports no heavy library and no module of its package beyond it, which keeps
`assay list` fast), each marked `conformance`. No test file is needed:
every plugin of this repository and every skeleton that `assay plugin new`
writes is checked this way. `pytest packages/hep/pyproject.toml` runs the
checks alone, `-m "not conformance"` leaves them out, and a failed check is
rerun by its node id (`packages/hep/pyproject.toml::hep/top-tagging@3:split`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Generator, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ENTRY_POINT_GROUP = "assay.plugins"  # assay.plugin's; not imported, to keep pytest's start-up light
MARKER = "conformance"

HEAVY_MODULES = frozenset(
    {
        "torch",
        "rdkit",
        "pythia8",
        "pythia8mc",
        "fastjet",
        "scanpy",
        "anndata",
        "pymatgen",
        "ase",
        "chgnet",
        "qiskit",
        "qiskit_aer",
        "stim",
        "msprime",
        "tskit",
        "sklearn",
        "botorch",
    }
)
"""Libraries that take a second or more to import: loading the catalog never pays for them."""


def declared_plugins(pyproject: Path) -> dict[str, str]:
    """The `assay.plugins` entry points that `pyproject` declares (none if it is not one)."""
    if pyproject.name != "pyproject.toml" or not pyproject.is_file():
        return {}
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}  # not ours to judge: the build tools report a broken pyproject
    declared = project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    return {str(name): str(value) for name, value in declared.items()}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a check of the conformance kit (added by assay's pytest plugin)"
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """`pytest path/to/pyproject.toml`: the checks of its plugins alone."""
    if parent.session.isinitpath(file_path) and declared_plugins(file_path):
        return PluginProject.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """After a plugin project's tests folder is collected, its conformance checks join it."""
    report = yield
    if isinstance(collector, pytest.Directory) and collector.path.name == "tests":
        pyproject = collector.path.parent / "pyproject.toml"
        if report.passed and declared_plugins(pyproject):
            report.result.append(PluginProject.from_parent(collector, path=pyproject))
    return report


class PluginProject(pytest.File):
    """A plugin project's `pyproject.toml`: one test per check of each plugin it declares."""

    def collect(self) -> Iterator[pytest.Item]:
        for name, value in declared_plugins(self.path).items():
            for check_id, check in _checks(name, value):
                item = pytest.Function.from_parent(self, name=check_id, callobj=check)
                item.add_marker(MARKER)
                yield item


Check = Callable[..., None]


def _checks(name: str, declared: str) -> list[tuple[str, Check]]:
    from assay.conformance.checks import conformance_checks
    from assay.plugin import Plugin, load_entry_point

    installed = metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not installed:
        return [(f"{name}:installed", _failing(f"plugin '{name}' ({declared}) is not installed"))]
    entry_point = next(iter(installed))
    try:
        plugin: Plugin = load_entry_point(entry_point)
    except Exception as exc:
        return [(f"{name}:loads", _failing(f"plugin '{name}' failed to load: {exc!r}"))]
    checks: list[tuple[str, Check]] = [
        (f"{name}:version", _version_check(plugin, entry_point)),
        (f"{name}:imports-light", _light_import_check(entry_point)),
    ]
    for check in conformance_checks(plugin):

        def run(tmp_path: Path, check: Any = check) -> None:
            check.run(tmp_path)

        checks.append((check.id, run))
    return checks


def _failing(message: str) -> Check:
    def fail() -> None:
        pytest.fail(message, pytrace=False)

    return fail


def _version_check(plugin: Any, entry_point: metadata.EntryPoint) -> Check:
    def version() -> None:
        distribution = entry_point.dist
        assert distribution is not None, f"entry point '{entry_point.name}' has no distribution"
        assert plugin.version == distribution.version, (
            f"plugin '{plugin.name}' reports version {plugin.version}, its distribution "
            f"{distribution.name} is {distribution.version}: read it with importlib.metadata"
        )

    return version


def _light_import_check(entry_point: metadata.EntryPoint) -> Check:
    def imports_light() -> None:
        from assay.conformance.checks import modules_imported_by

        module = entry_point.module
        package = module.split(".")[0]
        loaded = modules_imported_by(module)
        heavy = sorted(HEAVY_MODULES & loaded)
        assert not heavy, f"importing {module} imports {', '.join(heavy)}: name them 'module:attr'"
        if package != "assay":  # the core's own plugin stands on the core
            own = {package, module, *_parents(module)}
            extra = sorted(m for m in loaded if m.split(".")[0] == package and m not in own)
            assert not extra, (
                f"importing {module} imports {', '.join(extra)}: name them 'module:attr'"
            )

    return imports_light


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]
