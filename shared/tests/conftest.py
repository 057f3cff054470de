from __future__ import annotations

from pathlib import Path

import pytest
from assay.builtin import plugin as core_plugin
from assay.plugin import Catalog, discover


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache and MLflow store; nothing touches the user's."""
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "assay-home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def core_catalog() -> Catalog:
    return Catalog.from_plugins([core_plugin])


@pytest.fixture(scope="session")
def installed_catalog() -> Catalog:
    """Core, the test plugin and the broken plugin, found through entry points."""
    return discover()
