"""A suite on a real Slurm cluster (`nox -s slurm`): the Dask workers are batch jobs that
dask-jobqueue submits with `sbatch`, on a single-node cluster started here as root.

Marked `slurm`, which the default run deselects: it installs nothing itself but needs
Debian's `slurm-wlm` and `munge` (the nox session installs them) and root, since
slurmd runs jobs as their user. Units are the core test plugin's `slow_mean` on 120
rows: the path through Slurm is what is under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import assay_command
from mlflow.tracking import MlflowClient
from slurm_cluster import PARTITION, SlurmCluster, missing_programs

pytestmark = pytest.mark.slurm

SCENARIO = "testplugin/tiny-holdout"
JOBS = 2


@pytest.fixture(scope="module")
def slurm() -> Iterator[SlurmCluster]:
    missing = missing_programs()
    if missing:
        pytest.fail(f"{', '.join(missing)} not on PATH: apt-get install slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.fail("slurmd runs as root: run `nox -s slurm` as root")
    # Not pytest's tmp_path: the jobs' output and the shared ASSAY_HOME live here too.
    cluster = SlurmCluster(Path(tempfile.mkdtemp(prefix="assay-slurm-")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
        # Teardown is clean: every daemon stopped, no job step left behind.
        assert cluster.running_daemons() == []
        steps = subprocess.run(["pgrep", "-x", "slurmstepd"], capture_output=True, check=False)
        assert steps.stdout == b"", "a slurmstepd outlived the cluster"


def write_files(folder: Path, label: str, *, delay: float, seeds: int) -> tuple[Path, Path]:
    """The suite (one `slow_mean` entry, labelled for one test) and its Slurm cluster file."""
    suite = folder / f"{label}.toml"
    suite.write_text(
        "schema_version = 1\n"
        f'name = "{label}"\n'
        'size = "quick"\n'
        f"seeds = {list(range(seeds))}\n\n"
        "[[entries]]\n"
        f'scenario = "{SCENARIO}@1"\n'
        f'models = [{{ name = "slow_mean", label = "{label}", params = {{ delay = {delay} }} }}]\n'
    )
    cluster = folder / "slurm.toml"
    cluster.write_text(
        'kind = "slurm"\n'
        f"jobs = {JOBS}\n\n"
        "[options]\n"
        "cores = 1\n"
        "processes = 1\n"
        'memory = "2GB"\n'
        'walltime = "00:20:00"\n'
        f'queue = "{PARTITION}"\n'
        'interface = "lo"\n'  # the scheduler and the workers on loopback
        f'log_directory = "{folder / "jobs"}"\n'
        f'local_directory = "{folder / "dask"}"\n'
    )
    return suite, cluster


def driver_env(slurm: SlurmCluster, folder: Path) -> dict[str, str]:
    """The driver's environment; sbatch hands it on to the jobs (ASSAY_HOME included)."""
    return slurm.env(
        ASSAY_HOME=str(folder / "assay-home"),
        MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )


def start_suite(slurm: SlurmCluster, folder: Path, suite: Path, cluster: Path) -> Any:
    command = [*assay_command(), "suite", "run", str(suite), "--executor", "dask"]
    command += ["--scheduler", str(cluster), "--json"]
    print(f"$ {' '.join(command)}", flush=True)
    return subprocess.Popen(
        command,
        env=driver_env(slurm, folder),
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def units(folder: Path, label: str) -> list[Any]:
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(SCENARIO)
    if experiment is None:
        return []
    return list(
        client.search_runs(
            [experiment.experiment_id],
            f"tags.`assay.kind` = 'unit' and tags.`assay.model_label` = '{label}'",
            max_results=1000,
        )
    )


def assert_every_unit_once(folder: Path, label: str, count: int) -> list[Any]:
    recorded = [r for r in units(folder, label) if r.info.status in ("FINISHED", "FAILED")]
    keys = Counter(r.data.tags["assay.run_key"] for r in recorded)
    assert len(keys) == count, f"{len(keys)} of {count} units recorded"
    assert set(keys.values()) == {1}, f"duplicates: {keys.most_common(3)}"
    assert {r.info.status for r in recorded} == {"FINISHED"}, [
        r.data.tags.get("assay.error") for r in recorded
    ]
    return recorded


def job_logs(folder: Path) -> dict[str, str]:
    """Job id -> the Dask worker's log, from the files dask-jobqueue names after the job."""
    found = {}
    for path in (folder / "jobs").glob("*.err"):
        job = re.search(r"-(\d+)\.err$", path.name)
        if job:
            found[job.group(1)] = path.read_text(errors="replace")
    return found


def finish(driver: Any, timeout: float = 900) -> tuple[str, str]:
    out, err = driver.communicate(timeout=timeout)
    print(err[-3000:], file=sys.stderr)
    assert driver.returncode == 0, err[-3000:]
    return out, err


def test_workers_run_as_slurm_jobs(slurm: SlurmCluster) -> None:
    folder = Path(tempfile.mkdtemp(prefix="suite-", dir=slurm.root))
    suite, cluster = write_files(folder, "on-slurm", delay=0.5, seeds=6)
    out, _ = finish(start_suite(slurm, folder, suite, cluster))
    assert json.loads(out)["planned"] == 6
    recorded = assert_every_unit_once(folder, "on-slurm", 6)
    jobs = {r.data.tags["assay.slurm_job_id"] for r in recorded}
    # Each tagged job id is one of the batch jobs the driver submitted: its worker's log
    # is the file Slurm wrote for that job, and it says the worker started there.
    logs = job_logs(folder)
    assert jobs <= set(logs), (jobs, sorted(logs))
    assert all("Start worker at" in logs[job] for job in jobs)
    assert len(logs) == JOBS
    print(f"units by Slurm job: {Counter(r.data.tags['assay.slurm_job_id'] for r in recorded)}")
    # The driver's cluster cancelled its jobs on the way out.
    assert slurm.wait_until_empty(), slurm.jobs()


def worker_addresses(folder: Path) -> dict[str, str]:
    """Job id -> the address its Dask worker listens on, once it has started."""
    found = {}
    for job, log in job_logs(folder).items():
        started = re.search(r"Start worker at:\s+(tcp://\S+)", log)
        if started:
            found[job] = started.group(1)
    return found


def scheduler_address(folder: Path) -> str | None:
    for log in job_logs(folder).values():
        registered = re.search(r"Registered to:\s+(tcp://\S+)", log)
        if registered:
            return registered.group(1)
    return None


def test_a_cancelled_worker_job_has_its_units_rerun(slurm: SlurmCluster) -> None:
    """`scancel` of a job whose worker holds a unit: Dask reruns it on the other job's
    worker; every unit recorded once, none failed, none lost."""
    from distributed import Client

    folder = Path(tempfile.mkdtemp(prefix="suite-", dir=slurm.root))
    suite, cluster = write_files(folder, "scancel", delay=4.0, seeds=8)
    driver = start_suite(slurm, folder, suite, cluster)
    deadline = time.time() + 600
    while len(worker_addresses(folder)) < JOBS or scheduler_address(folder) is None:
        assert driver.poll() is None, driver.communicate()
        assert time.time() < deadline, "the workers did not start"
        time.sleep(0.5)
    addresses = worker_addresses(folder)
    # Watch the driver's own scheduler (a Dask client may connect to it on loopback) and
    # cancel a job just after its worker took a unit, so the unit is surely in flight.
    with Client(scheduler_address(folder), timeout=60) as observer:
        seen: dict[str, set[str]] = {}
        cancelled, in_flight = "", set()
        while not cancelled:
            assert driver.poll() is None, driver.communicate()
            assert time.time() < deadline, "no unit reached a worker"
            processing = observer.processing()
            for job, address in addresses.items():
                keys = {str(k) for k in processing.get(address, ())}
                fresh = keys - seen.get(job, set())
                if job in seen and fresh:
                    slurm.cancel(job)
                    cancelled, in_flight = job, keys
                    break
                seen[job] = keys
            time.sleep(0.2)
    finish(driver)
    recorded = assert_every_unit_once(folder, "scancel", 8)
    survivor = next(job for job in addresses if job != cancelled)
    by_key = {f"unit-{r.data.tags['assay.run_key']}": r for r in recorded}
    print(
        f"cancelled job {cancelled} holding {sorted(in_flight)}; units by Slurm job: "
        f"{Counter(r.data.tags['assay.slurm_job_id'] for r in recorded)}"
    )
    for key in in_flight:  # what the cancelled worker held was run again on the other
        assert by_key[key].data.tags["assay.slurm_job_id"] == survivor
    assert {r.data.tags["assay.slurm_job_id"] for r in recorded} <= {cancelled, survivor}
    assert slurm.wait_until_empty(), slurm.jobs()
