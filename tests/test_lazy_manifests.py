"""With every plugin installed, `assay list`, `assay show` and `--help` import nothing of a
plugin beyond its `plugin.py` (its manifest), and no heavy library; each plugin's own
import is checked in its tests by the conformance kit (`NAME:imports-light`)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import pytest
from assay.conformance.pytest_plugin import HEAVY_MODULES

SCRIPT = """
import json, sys
from typer.testing import CliRunner
from assay.cli.main import app

runner = CliRunner()
outputs = [runner.invoke(app, args) for args in ({commands})]
print(json.dumps({{"codes": [o.exit_code for o in outputs], "modules": sorted(sys.modules)}}))
"""


def _plugin_packages() -> dict[str, str]:
    """Top-level package -> the entry point's module, for every installed plugin but the
    core's (whose manifest is the core itself) and the test plugin's broken one."""
    return {
        ep.module.split(".")[0]: ep.module
        for ep in metadata.entry_points(group="assay.plugins")
        if not ep.module.startswith("assay.") and ep.name != "broken"
    }


@pytest.mark.parametrize(
    "commands",
    [
        [["list"], ["list", "--json"]],
        [
            ["show", "hep/top-tagging"],
            ["show", "breeding/selection-cycles"],
            ["show", "lifesci/denoising"],
        ],
        [["--help"], ["run", "--help"]],
    ],
    ids=["list", "show", "help"],
)
def test_the_catalog_commands_import_only_each_plugins_manifest(
    commands: list[list[str]], env: dict[str, str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(commands=repr(commands))],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["codes"] == [0] * len(commands), done.stdout
    loaded = set(result["modules"])
    assert not HEAVY_MODULES & loaded, sorted(HEAVY_MODULES & loaded)
    packages = _plugin_packages()
    assert {"assay_hep", "assay_breeding", "assay_lifesci"} <= set(packages)
    beyond = sorted(
        m
        for m in loaded
        if m.split(".")[0] in packages and m not in {m.split(".")[0], packages[m.split(".")[0]]}
    )
    assert not beyond, f"modules beyond the plugins' manifests: {beyond}"
