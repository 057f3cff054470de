from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment for `assay` subprocesses: own cache and MLflow store, run from tmp_path."""
    return {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "assay-home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
