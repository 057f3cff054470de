"""No marked test is orphaned: every marker a test uses is registered in pyproject.toml,
left out of a plain run, and selected by some nox session's `-m`, so every tier runs
somewhere (CONTRIBUTING.md lists them)."""

from __future__ import annotations

import ast
import itertools
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYTEST_OWN = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"}
TEST_ROOTS = ("shared/tests", "tests", *(str(p) for p in sorted(REPO.glob("packages/*/tests"))))


def _test_files() -> list[Path]:
    found = {f for root in TEST_ROOTS for f in (REPO / root).rglob("*.py")}
    return sorted(found - {Path(__file__).resolve()})


def _markers_used() -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for path in _test_files():
        for name in re.findall(r"pytest\.mark\.(\w+)", path.read_text(encoding="utf-8")):
            if name not in PYTEST_OWN:
                used.setdefault(name, []).append(str(path.relative_to(REPO)))
    return used


def _ini() -> dict[str, object]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    ini: dict[str, object] = pyproject["tool"]["pytest"]["ini_options"]
    return ini


def _registered() -> set[str]:
    return {str(line).split(":", 1)[0].strip() for line in _ini()["markers"]}  # type: ignore[attr-defined]


def _default_selection() -> str:
    found = re.search(r"-m\s+'([^']+)'", str(_ini()["addopts"]))
    assert found, "pyproject's addopts selects no default tier with -m"
    return found.group(1)


def _nox_selections() -> list[str]:
    """Every marker expression that follows "-m" in a call or list in noxfile.py (a literal,
    or a module-level string constant); `python -m pip` and the like are not ones."""
    tree = ast.parse((REPO / "noxfile.py").read_text(encoding="utf-8"))
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.List | ast.Call):
            continue
        items = node.elts if isinstance(node, ast.List) else node.args
        for flag, value in itertools.pairwise(items):
            if isinstance(flag, ast.Constant) and flag.value == "-m":
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.append(value.value)
                elif isinstance(value, ast.Name) and value.id in constants:
                    found.append(constants[value.id])
    words = _registered() | {"conformance", "and", "or", "not"}
    return [e for e in found if set(re.findall(r"\w+", e)) <= words]


def _selects(expression: str, marker: str | None, markers: set[str]) -> bool:
    """Whether a `-m` expression selects a test carrying only `marker` (None: unmarked)."""
    names = {name: name == marker for name in markers | {"conformance"}}
    return bool(eval(expression, {"__builtins__": {}}, names))


def test_every_marker_a_test_uses_is_registered() -> None:
    unregistered = {m: files for m, files in _markers_used().items() if m not in _registered()}
    assert not unregistered, f"markers not registered in pyproject.toml: {unregistered}"


@pytest.mark.parametrize("marker", sorted(_registered()))
def test_every_tier_runs_in_some_nox_session(marker: str) -> None:
    registered = _registered()
    assert not _selects(_default_selection(), marker, registered), (
        f"a plain run selects '{marker}' tests: pyproject's addopts should leave them out"
    )
    sessions = _nox_selections()
    assert any(_selects(expr, marker, registered) for expr in sessions), (
        f"no nox session selects '{marker}' with -m (it selects: {sessions})"
    )
    assert marker in _markers_used(), f"'{marker}' is registered but no test uses it"


def test_the_default_tier_runs_in_a_plain_run_and_in_a_session() -> None:
    registered = _registered()
    assert _selects(_default_selection(), None, registered)
    assert any(_selects(expr, None, registered) for expr in _nox_selections())


def test_every_deployment_test_module_is_in_its_tier() -> None:
    """Those tests start servers: outside `nox -s deployment` none may be collected."""
    modules = sorted((REPO / "tests" / "deployment").glob("test_*.py"))
    assert modules
    for module in modules:
        assert "pytestmark = pytest.mark.deployment" in module.read_text(encoding="utf-8"), module
