from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def _unavailable(reason: str) -> None:
    # The browser tier is selected only where a browser must be there (`nox -s site`).
    pytest.fail(f"{reason}; `nox -s site` installs it", pytrace=False)


def chromium_path() -> str | None:
    """ASSAY_CHROMIUM, else the first Chromium on PATH."""
    given = os.environ.get("ASSAY_CHROMIUM")
    if given:
        return given
    return next((p for name in BROWSERS if (p := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    executable = chromium_path()
    if executable is None:
        _unavailable("no Chromium on PATH (Debian: apt-get install chromium-headless-shell)")
    with sync_playwright() as playwright:
        # No sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()
