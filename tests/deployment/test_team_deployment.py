"""A team's deployment under load and faults (issue 24): PostgreSQL, an MLflow server with
basic auth, a Dask scheduler and two workers, each a separate process on loopback.

Every test runs its own suite: its entries carry labels and parameters of their own, so
its units have run keys no other test shares, and "every unit exactly once" is checked
on that test's runs only. Units are the core test plugin's `slow_mean` (a sleep, then the
mean) and `ridge`, on 120 rows: the harness is what is under test.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from services import Deployment, script

pytestmark = pytest.mark.deployment

SCENARIO = "testplugin/tiny-holdout"
"""One fixed test set (one unit per seed) and a 30 s limit per unit, ample on loaded CI."""
OUTPUTS: list[str] = []
"""Everything the drivers printed, searched for the password by the last test."""


def assay(*args: str) -> list[str]:
    return [*script("assay", "assay.cli.main"), *args]


def write_suite(folder: Path, label: str, *, delay: float, seeds: int, ridge: bool = False) -> Path:
    """One entry of `slow_mean` (and `ridge`), labelled and parametrised for one test."""
    models = [f'{{ name = "slow_mean", label = "{label}", params = {{ delay = {delay} }} }}']
    if ridge:
        models.append(
            f'{{ name = "ridge", label = "{label}-ridge", params = {{ alpha = {delay} }} }}'
        )
    path = folder / f"{label}.toml"
    path.write_text(
        "schema_version = 1\n"
        f'name = "{label}"\n'
        'size = "quick"\n'
        f"seeds = {list(range(seeds))}\n\n"
        "[[entries]]\n"
        f'scenario = "{SCENARIO}@1"\n'
        f"models = [{', '.join(models)}]\n"
    )
    return path


def on_cluster(deployment: Deployment) -> list[str]:
    return ["--executor", "dask", "--scheduler", deployment.scheduler]


def start(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(driver: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    out, err = driver.communicate(timeout=timeout)
    OUTPUTS.extend([out, err])
    return driver.returncode, out, err


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    return finish(start(command, env, cwd))


def client(deployment: Deployment) -> MlflowClient:
    os.environ.update(
        {k: v for k, v in deployment.driver_env().items() if k.startswith("MLFLOW_TRACKING")}
    )
    return MlflowClient(deployment.tracking_uri)


def runs_of(deployment: Deployment, kind: str, label: str) -> list[Any]:
    """Active runs of one kind (`unit` or `parent`) of one labelled entry."""
    mlflow = client(deployment)
    experiment = mlflow.get_experiment_by_name(SCENARIO)
    if experiment is None:
        return []
    found, token = [], None
    while True:
        page = mlflow.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`assay.kind` = '{kind}' and tags.`assay.model_label` = '{label}'",
            max_results=1000,
            page_token=token,
        )
        found += list(page)
        token = page.token
        if not token:
            return found


def recorded(deployment: Deployment, label: str) -> list[Any]:
    """Units that count: finished or failed, not abandoned (KILLED) nor a claim (RUNNING)."""
    return [
        r for r in runs_of(deployment, "unit", label) if r.info.status in ("FINISHED", "FAILED")
    ]


def assert_every_unit_once(deployment: Deployment, label: str, units: int) -> None:
    """Each unit recorded exactly once and finished, under the entry's one parent."""
    unit_runs = recorded(deployment, label)
    keys = Counter(r.data.tags["assay.run_key"] for r in unit_runs)
    assert len(keys) == units, f"{label}: {len(keys)} of {units} units recorded"
    assert set(keys.values()) == {1}, f"{label}: duplicates {keys.most_common(3)}"
    assert {r.info.status for r in unit_runs} == {"FINISHED"}
    parents = [r for r in runs_of(deployment, "parent", label) if r.info.status != "KILLED"]
    assert len(parents) == 1
    assert {r.data.tags["mlflow.parentRunId"] for r in unit_runs} == {parents[0].info.run_id}


def wait_for(condition: Callable[[], bool], what: str, driver: subprocess.Popen[str]) -> None:
    deadline = time.time() + 300
    while not condition():
        assert driver.poll() is None, f"the driver ended before {what}: {driver.communicate()}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_four_drivers_share_one_server_and_cluster(deployment: Deployment, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "four-drivers", delay=0.11, seeds=6, ridge=True)
    command = assay("suite", "run", str(suite), *on_cluster(deployment), "--json")
    drivers = [start(command, deployment.driver_env(), tmp_path) for _ in range(4)]
    reports = []
    for driver in drivers:
        code, out, err = finish(driver)
        assert code == 0, err
        assert "Traceback" not in err
        reports.append(json.loads(out))
    units = 6
    assert_every_unit_once(deployment, "four-drivers", units)
    assert_every_unit_once(deployment, "four-drivers-ridge", units)
    assert all(r["planned"] == 2 * units for r in reports)
    # Every board complete: both entries, every unit on it, none failed.
    code, _, err = run(
        assay("leaderboard", "build", "--suite", str(suite), "--out", str(tmp_path / "boards")),
        deployment.driver_env(),
        tmp_path,
    )
    assert code == 0, err
    board = json.loads((tmp_path / "boards" / f"{SCENARIO}.json").read_text())
    entries = {e["model"]: e for e in board["entries"]}
    assert set(entries) == {"four-drivers", "four-drivers-ridge"}
    assert [(e["units"], e["failures"]) for e in entries.values()] == [(units, 0)] * 2


def test_a_worker_killed_mid_suite_has_its_unit_rescheduled(
    deployment: Deployment, tmp_path: Path
) -> None:
    from distributed import Client

    suite = write_suite(tmp_path, "worker-killed", delay=0.8, seeds=10)
    command = assay("suite", "run", str(suite), *on_cluster(deployment), "--json")
    driver = start(command, deployment.driver_env(), tmp_path)
    with Client(deployment.scheduler) as dask:
        busy: dict[str, list[str]] = {}

        def a_unit_runs() -> bool:
            busy.update(
                {a: k for a, k in dask.processing().items() if any("unit-" in str(x) for x in k)}
            )
            return bool(busy)

        wait_for(lambda: len(recorded(deployment, "worker-killed")) >= 2, "2 units", driver)
        wait_for(a_unit_runs, "a unit running on a worker", driver)
        address, keys = next(iter(busy.items()))
        pid = dask.run(os.getpid, workers=[address])[address]
        os.kill(pid, signal.SIGKILL)  # the worker process itself; its nanny starts another
    code, out, err = finish(driver)
    assert code == 0, err
    assert_every_unit_once(deployment, "worker-killed", 10)
    killed = {str(k).removeprefix("unit-") for k in keys}
    kept = {r.data.tags["assay.run_key"] for r in recorded(deployment, "worker-killed")}
    assert killed <= kept, "the killed worker's unit was lost"
    assert json.loads(out)["failures"] == 0
    deployment.wait_for_workers(2)


@pytest.mark.parametrize("service", ["mlflow", "postgres"])
def test_a_restart_mid_suite_is_waited_out(
    deployment: Deployment, tmp_path: Path, service: str
) -> None:
    label = f"{service}-restart"
    delay = {"mlflow": 0.3, "postgres": 0.31}[service]  # run keys of its own (module doc)
    suite = write_suite(tmp_path, label, delay=delay, seeds=10)
    command = assay("suite", "run", str(suite), *on_cluster(deployment))
    # The bound outlasts a server start on a loaded machine (a minute or more).
    driver = start(command, deployment.driver_env(ASSAY_TRACKING_RETRY_S="900"), tmp_path)
    wait_for(lambda: len(recorded(deployment, label)) >= 2, "2 units", driver)
    if service == "mlflow":
        deployment.stop("mlflow")
        time.sleep(3)
        deployment.start_mlflow()
    else:
        deployment.stop_postgres()
        time.sleep(3)
        deployment.start_postgres()
    code, _, err = finish(driver)
    assert code == 0, err
    assert "is not answering" in err
    assert "answers again" in err
    assert "Traceback" not in err
    assert_every_unit_once(deployment, label, 10)


def test_a_server_down_past_the_bound_stops_the_suite_which_resumes_later(
    deployment: Deployment, tmp_path: Path
) -> None:
    label = "server-down"
    suite = write_suite(tmp_path, label, delay=0.32, seeds=10)
    command = assay("suite", "run", str(suite), *on_cluster(deployment))
    env = deployment.driver_env(ASSAY_TRACKING_RETRY_S="4")
    driver = start(command, env, tmp_path)
    wait_for(lambda: len(recorded(deployment, label)) >= 2, "2 units", driver)
    deployment.stop("mlflow")
    try:
        code, _, err = finish(driver, timeout=300)
    finally:
        deployment.start_mlflow()
    assert code == 2, err
    [line] = error_lines(err)
    waited = float(line.split(" did not answer for ")[1].split(" s ")[0])
    assert waited <= 4
    assert "did not answer" in line
    assert "rerun the same command" in line
    assert "Traceback" not in err
    code, _, err = run(command, env, tmp_path)
    assert code == 0, err
    assert_every_unit_once(deployment, label, 10)


def test_a_driver_killed_then_rerun_leaves_no_duplicates(
    deployment: Deployment, tmp_path: Path
) -> None:
    label = "driver-killed"
    suite = write_suite(tmp_path, label, delay=0.33, seeds=12)
    command = assay("suite", "run", str(suite), *on_cluster(deployment), "--json")
    driver = start(command, deployment.driver_env(), tmp_path)
    wait_for(lambda: len(recorded(deployment, label)) >= 3, "3 units", driver)
    driver.send_signal(signal.SIGKILL)
    finish(driver)
    before = len(recorded(deployment, label))
    assert before < 12, "the suite finished before the kill landed"
    code, out, err = run(command, deployment.driver_env(), tmp_path)
    assert code == 0, err
    assert json.loads(out)["skipped"] >= before
    assert_every_unit_once(deployment, label, 12)


def test_a_worker_with_another_plugin_version_is_refused(
    deployment: Deployment, tmp_path: Path
) -> None:
    # The worker's environment has assay-testplugin 9.9.9 installed (its metadata first
    # on the path), as a worker left on an older or newer release would.
    fake = tmp_path / "site"
    dist = fake / "assay_testplugin-9.9.9.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: assay-testplugin\nVersion: 9.9.9\n"
    )
    (dist / "entry_points.txt").write_text(
        "[assay.plugins]\ntestplugin = assay_testplugin:plugin\n"
    )
    path = os.pathsep.join(p for p in (str(fake), os.environ.get("PYTHONPATH", "")) if p)
    deployment.start_worker("worker-other-version", PYTHONPATH=path)
    try:
        deployment.wait_for_workers(3)
        suite = write_suite(tmp_path, "other-version", delay=0.1, seeds=1)
        code, _, err = run(
            assay("suite", "run", str(suite), *on_cluster(deployment)),
            deployment.driver_env(),
            tmp_path,
        )
    finally:
        deployment.stop("worker-other-version")
    assert code == 2, err
    [line] = error_lines(err)
    assert "refused" in line
    assert "assay-testplugin 9.9.9 where the driver has" in line
    assert "Traceback" not in err
    assert recorded(deployment, "other-version") == []
    deployment.wait_for_workers(2)


def test_writes_need_the_right_credentials_which_never_leak(
    deployment: Deployment, tmp_path: Path
) -> None:
    create = f"{deployment.tracking_uri}/api/2.0/mlflow/experiments/create"

    def write(user: str | None, password: str | None) -> int:
        request = urllib.request.Request(
            create,
            data=json.dumps({"name": f"auth-{user}-{time.time()}"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return refused.code

    assert write(None, None) == 401
    assert write("admin", "not-the-password") == 401
    assert write("admin", deployment.password) == 200

    command = assay("run", SCENARIO, "-m", "mean", "--seeds", "91")
    for credentials in ({"MLFLOW_TRACKING_PASSWORD": "not-the-password"}, {}):
        env = {**deployment.driver_env(), **credentials}
        if not credentials:
            del env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]
        code, _, err = run(command, env, tmp_path)
        assert code == 2, err
        [line] = error_lines(err)
        assert "refused this driver (HTTP 401)" in line
        assert "Traceback" not in err

    # Credentials never come from a suite file: it has no place for them.
    suite = write_suite(tmp_path, "with-password", delay=0.12, seeds=1)
    suite.write_text(suite.read_text() + '\n[tracking]\npassword = "hunter2"\n')
    code, _, err = run(assay("suite", "run", str(suite)), deployment.driver_env(), tmp_path)
    assert code == 2
    assert len(error_lines(err)) == 1
    assert "tracking" in err

    # The password is in no tag or parameter of any run, and in no log of any process.
    mlflow = client(deployment)
    for experiment in mlflow.search_experiments():
        for found in mlflow.search_runs([experiment.experiment_id], max_results=5000):
            stored = json.dumps([found.data.tags, found.data.params])
            assert deployment.password not in stored
    logs = [p.read_text(errors="replace") for p in (deployment.root / "logs").glob("*.log")]
    assert logs
    assert OUTPUTS
    for text in [*logs, *OUTPUTS, "\n".join(deployment.log)]:
        assert deployment.password not in text
