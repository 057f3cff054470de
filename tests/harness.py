"""Helpers the cross-package tests share: the workspace's paths and `assay` as a subprocess.

A module of its own (not conftest.py): tests/deployment has a conftest too, and two
modules named `conftest` cannot both be imported by name.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = Path(__file__).parent / "suites"


def assay_command() -> list[str]:
    exe = shutil.which("assay", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "assay.cli.main"]


def run_assay(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*assay_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
