"""MLflow's own UI in headless Chromium, on a store Assay wrote: the runs page shows each
run's dataset and the experiment's description, and the README's way in lands on the runs.

Marked `browser` (deselected by default): it starts `mlflow ui` and a browser, about a
minute on a loaded machine. `nox -s site` runs it with Debian's Chromium; wherever the
browser tier is selected, a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from assay.engine.executors import make_executor
from assay.engine.runner import GridEntry, plan_grid, run_grid
from assay.engine.tracking import DIGEST_CHARS, Tracker
from assay.plugin import discover
from assay.spec import ModelEntry
from test_site_browser import REPO, screenshot_dir

pytestmark = pytest.mark.browser

SCENARIO = "testplugin/tiny-holdout"
READY_S = 300.0
"""`mlflow ui` imports MLflow's server before it answers: a minute or more when loaded."""


@dataclass(frozen=True)
class Store:
    url: str
    experiment_id: str
    dataset: str
    digest: str
    title: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mlflow() -> list[str]:
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "mlflow"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Two units of one scenario in a sqlite store, served by `mlflow ui` as the README says."""
    folder = tmp_path_factory.mktemp("mlflow-ui")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    catalog = discover()
    entry = GridEntry(f"{SCENARIO}@1", [ModelEntry(name="ridge")], [0, 1])
    tasks = plan_grid(catalog, [entry], "quick")
    tracker = Tracker(uri)
    report = run_grid(catalog, tasks, make_executor("serial", catalog=catalog), tracker)
    assert all(result.ok for result in report.results)
    spec = catalog.scenario(SCENARIO).spec
    metadata = tasks[0].dataset
    assert metadata is not None
    port = _free_port()
    command = [*_mlflow(), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1"]
    with (folder / "mlflow-ui.log").open("wb") as log:
        server = subprocess.Popen(
            command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + READY_S
        while True:
            assert server.poll() is None, (folder / "mlflow-ui.log").read_text()[-2000:]
            assert time.time() < deadline, "mlflow ui did not answer in time"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(1)
        yield Store(
            url,
            tracker.experiment_id(spec),
            metadata.name,
            tasks[0].data_sha[:DIGEST_CHARS],
            spec.title,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _dataset_cell(page: Any, store: Store) -> Any:
    """The runs table's Dataset cell: the name, then the digest (MLflow shortens it)."""
    cell = page.get_by_text(f"{store.dataset} ({store.digest[:12]}").first
    cell.wait_for(timeout=120_000)
    return cell


def test_the_runs_page_shows_a_runs_dataset_and_the_description(browser: Any, store: Store) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{store.url}/#/experiments/{store.experiment_id}/runs")
    _dataset_cell(page, store)
    headers = page.evaluate(
        "Array.from(document.querySelectorAll('[role=columnheader]')).map(h => h.innerText)"
    )
    assert any("Dataset" in header for header in headers), headers
    # The experiment's description: the UI fetches the experiment apart from its runs, so
    # it may appear after the table (wait_for raises if it never becomes visible).
    description = page.get_by_text(store.title).first
    description.wait_for(state="visible", timeout=60_000)
    assert description.is_visible()
    page.screenshot(path=str(screenshot_dir() / "mlflow-runs-dataset.png"))
    page.close()


def test_the_readme_way_in_lands_on_the_runs(browser: Any, store: Store) -> None:
    """The README: open the experiment list, pick "Model training" once, then a scenario."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "http://127.0.0.1:5000/#/experiments" in readme
    assert "**Model training**" in readme
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{store.url}/#/experiments")
    page.get_by_text("Model training").first.click(timeout=120_000)
    page.get_by_text(SCENARIO).first.click(timeout=120_000)
    _dataset_cell(page, store)
    assert f"/experiments/{store.experiment_id}/runs" in page.url
    page.screenshot(path=str(screenshot_dir() / "mlflow-readme-way-in.png"))
    page.close()
