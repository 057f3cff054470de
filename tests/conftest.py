from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITES = Path(__file__).parent / "suites"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment for `assay` subprocesses: own cache and MLflow store, run from tmp_path."""
    return {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "assay-home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }


def assay_command() -> list[str]:
    exe = shutil.which("assay", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "assay.cli"]


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
