"""Executors run units and yield results as they finish; only the driver tracks them.

- `serial`: in this process, one unit after another (time limit by SIGALRM).
- `processes`: a pool of spawned worker processes; a unit past its limit, or a
  worker that dies (segfault, out of memory), is killed and replaced and the
  unit is recorded as failed.
- `dask`: Dask distributed, on a local cluster, an existing scheduler, or a
  batch-scheduler cluster from a dask-jobqueue file (`assay.engine.clusters`). Workers
  must run the driver's Assay and plugin versions: a cluster with a worker that
  does not is refused before anything runs, and a unit reaching one that
  joined later is recorded as failed.

Each calls `claim(task)` in the driver just before it dispatches a unit and
skips the unit when that returns False: the tracker claims units one at a
time, as they start, so drivers sharing a store split the work.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from assay.engine.clusters import is_cluster_file, load_cluster_config, start_cluster
from assay.engine.units import (
    Claim,
    UnitResult,
    UnitTask,
    distribution_version,
    execute_unit,
    failed_result,
)
from assay.errors import AssayError
from assay.plugin import Catalog, process_catalog
from assay.threads import budget_for

KILL_GRACE_S = 5.0
"""Extra time past the limit before a worker that ignores SIGALRM is killed."""
STARTUP_LIMIT_S = 600.0
"""How long a new worker may take to import the plugins before the run gives up."""
READY = "ready"
STARTED = "started"
"""Sent by a worker when the unit's clock starts, after its imports."""
UNIT_STARTED_TOPIC = "assay-unit-started"
"""The Dask event a worker logs ([run key, worker address]) when the unit's clock starts, after the
plugin's lazily loaded modules are imported; the driver times the unit from then on."""


class Executor(Protocol):
    name: str

    def run(
        self, tasks: Sequence[UnitTask], claim: Claim | None = None
    ) -> Iterator[UnitResult]: ...


class SerialExecutor:
    name = "serial"

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog

    def run(self, tasks: Sequence[UnitTask], claim: Claim | None = None) -> Iterator[UnitResult]:
        for task in tasks:
            if claim is None or claim(task):
                yield execute_unit(task, self.catalog)


def _worker_loop(conn: Connection, threads: int) -> None:
    # Plugin discovery and imports (torch, RDKit, ...) happen before the worker
    # takes a unit, so they never count against a unit's time limit.
    process_catalog()
    conn.send(READY)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(execute_unit(task, threads=threads, on_start=lambda: conn.send(STARTED)))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    task: UnitTask | None = None
    started: float = 0.0
    """When the unit's clock started in the worker (after its imports); until then, the
    dispatch time, and the limit is the start-up one."""
    clock_running: bool = False
    ready: bool = False
    born: float = 0.0


class ProcessExecutor:
    """Spawned workers (safe with torch and OpenMP), each running one unit at a time."""

    name = "processes"

    def __init__(self, workers: int = 2) -> None:
        self.workers = max(1, workers)
        self._context = mp.get_context("spawn")

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_loop, args=(child, budget_for(self.workers)), daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent, born=time.perf_counter())

    def _wait_ready(self, worker: _Worker) -> _Worker:
        """A worker that has finished starting up; one that died starting is replaced."""
        if worker.ready:
            return worker
        if worker.conn.poll():
            try:
                worker.ready = worker.conn.recv() == READY
            except (EOFError, OSError):
                worker.ready = False
        if not worker.ready and not worker.process.is_alive():
            _stop(worker)
            return self._start()
        if not worker.ready and time.perf_counter() - worker.born > STARTUP_LIMIT_S:
            raise AssayError(
                f"a worker process did not start within {STARTUP_LIMIT_S:g} s "
                "(importing the plugins); check `assay list` in this environment"
            )
        return worker

    def run(self, tasks: Sequence[UnitTask], claim: Claim | None = None) -> Iterator[UnitResult]:
        pending = list(reversed(tasks))
        pool = [self._start() for _ in range(min(self.workers, len(tasks)))]
        try:
            while pending or any(w.task for w in pool):
                for i, worker in enumerate(pool):
                    if worker.task is None and pending:
                        if worker.ready and not worker.process.is_alive():  # died after a result
                            _stop(worker)
                            worker = self._start()
                        pool[i] = worker = self._wait_ready(worker)
                        if not worker.ready:
                            continue
                        task = pending.pop()
                        if claim is not None and not claim(task):
                            continue
                        worker.task, worker.started = task, time.perf_counter()
                        worker.clock_running = False
                        worker.conn.send(task)
                    result = self._poll(worker)
                    if result is None:
                        continue
                    if not result.ok and not worker.process.is_alive():
                        _stop(worker)
                        pool[i] = self._start()
                    yield result
                time.sleep(0.002)
        finally:
            for worker in pool:
                _stop(worker)

    def _poll(self, worker: _Worker) -> UnitResult | None:
        task = worker.task
        if task is None:
            return None
        elapsed = time.perf_counter() - worker.started
        if worker.conn.poll():
            try:
                result: UnitResult | str = worker.conn.recv()
            except (EOFError, OSError):
                worker.process.join(timeout=10)  # reap it, so is_alive() is accurate
                result = failed_result(
                    task, f"worker died (exit code {worker.process.exitcode})", wall=elapsed
                )
            if result == STARTED:
                worker.started, worker.clock_running = time.perf_counter(), True
                return None
            assert not isinstance(result, str)
            worker.task = None
            return result
        if not worker.process.is_alive():
            worker.task = None
            code = worker.process.exitcode
            return failed_result(
                task, f"worker process died (exit code {code}) while running the unit", wall=elapsed
            )
        limit = task.time_limit_s + KILL_GRACE_S if worker.clock_running else STARTUP_LIMIT_S
        if elapsed > limit:
            worker.process.kill()
            worker.process.join()
            worker.task = None
            return failed_result(
                task,
                f"time limit of {task.time_limit_s:g} s exceeded (worker killed)",
                wall=elapsed,
            )
        return None


def _stop(worker: _Worker) -> None:
    try:
        if worker.process.is_alive():
            if worker.task is None:
                worker.conn.send(None)
                worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
    except (OSError, BrokenPipeError):
        pass
    worker.conn.close()


class DaskExecutor:
    """Dask distributed: a local cluster of `workers` processes, or `scheduler` if given
    (an address, or a dask-jobqueue cluster file ending in `.toml`).

    The cache (`ASSAY_HOME`) must be visible to every worker, or the sources
    must be able to rebuild identical data there (the shas are checked).
    """

    name = "dask"

    def __init__(self, workers: int = 2, scheduler: str | None = None) -> None:
        self.workers = workers
        self.scheduler = scheduler

    def run(self, tasks: Sequence[UnitTask], claim: Claim | None = None) -> Iterator[UnitResult]:
        try:
            from distributed import Client, LocalCluster, wait
        except ImportError:
            raise AssayError(
                "the dask executor needs dask distributed: pip install 'assay[dask]'"
            ) from None
        cluster = None
        if self.scheduler and is_cluster_file(self.scheduler):
            cluster = start_cluster(load_cluster_config(Path(self.scheduler)))
            client = Client(cluster)
            client.wait_for_workers(1)  # the first batch job has started
        elif self.scheduler:
            client = Client(self.scheduler)
        else:
            cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            )
            client = Client(cluster)
        local = cluster is not None and not (self.scheduler and is_cluster_file(self.scheduler))
        try:
            # Keep only as many units in flight as the cluster has threads, so a
            # unit's clock starts when it can run and the driver can enforce its
            # limit (Dask runs tasks in threads, where SIGALRM cannot reach).
            # Workers import the plugins first, so that never counts against a unit.
            expected = software_versions(tasks)
            _refuse_mismatched(client.run(_warm_up, sorted(expected)), expected)
            # A local cluster shares this machine: each unit gets cores / workers threads.
            # A remote scheduler's workers are sized by whoever started them.
            threads = budget_for(self.workers) if local else None
            queue = list(reversed(tasks))
            running: dict[Any, tuple[UnitTask, float]] = {}
            started: dict[str, tuple[float, str]] = {}
            """run key -> when (driver's clock) and where its unit's clock started."""

            def heard_start(event: tuple[float, Any]) -> None:
                run_key, address = event[1]
                started[str(run_key)] = (time.perf_counter(), str(address))

            client.subscribe_topic(UNIT_STARTED_TOPIC, heard_start)
            workers = set(client.nthreads())
            while queue or running:
                nthreads = client.nthreads()  # workers come and go
                lost = workers - set(nthreads)
                if lost:
                    # A worker left: Dask reruns its units elsewhere, from the start, after
                    # the ones in front of them. Their clocks start again when their new
                    # worker says so; until then they have the start-up allowance afresh.
                    restart = time.perf_counter()
                    running = {future: (task, restart) for future, (task, _) in running.items()}
                    for key in [k for k, (_, where) in started.items() if where in lost]:
                        del started[key]
                workers = set(nthreads)
                slots = max(1, sum(nthreads.values()))
                while queue and len(running) < slots:
                    task = queue.pop()
                    if claim is not None and not claim(task):
                        continue
                    future = client.submit(
                        _checked_unit,
                        task,
                        expected,
                        threads,
                        pure=False,
                        key=f"unit-{task.run_key}",
                    )
                    running[future] = (task, time.perf_counter())
                try:
                    done, _ = wait(list(running), timeout=0.2, return_when="FIRST_COMPLETED")
                except TimeoutError:  # distributed.wait raises rather than returning empty
                    done = set()
                for future in done:
                    task, submitted = running.pop(future)
                    if future.status == "finished":
                        yield future.result()
                    else:
                        elapsed = time.perf_counter() - submitted
                        yield failed_result(
                            task, f"dask task {future.status}: {future.exception()}", wall=elapsed
                        )
                now = time.perf_counter()
                for future, (task, submitted) in list(running.items()):
                    if future.done():  # finished while the driver was busy (a slow store)
                        continue
                    began = started[task.run_key][0] if task.run_key in started else None
                    overrun = _overrun(task, submitted, began, now)
                    if overrun is not None:
                        running.pop(future)
                        _cancel_and_restart(client, future)
                        yield failed_result(
                            task,
                            f"{overrun} (worker restarted)",
                            wall=now - (submitted if began is None else began),
                        )
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def software_versions(tasks: Sequence[UnitTask]) -> dict[str, str]:
    """The versions a worker must share with the driver to run these tasks: Assay's and
    those of the plugins they come from (`core` is Assay itself)."""
    plugins = {task.scenario.split("/", 1)[0] for task in tasks} - {"core"}
    return _installed_versions(("assay", *sorted(f"assay-{p}" for p in plugins)))


def _installed_versions(distributions: Sequence[str]) -> dict[str, str]:
    return {name: _cached_version(name) for name in distributions}


@cache
def _cached_version(distribution: str) -> str:
    return distribution_version(distribution)


def _mismatch(expected: dict[str, str], found: dict[str, str]) -> str | None:
    for name, version in expected.items():
        if found.get(name) != version:
            return f"{name} {found.get(name, 'not installed')} where the driver has {version}"
    return None


def _refuse_mismatched(by_worker: dict[str, dict[str, str]], expected: dict[str, str]) -> None:
    for address, found in sorted(by_worker.items()):
        mismatch = _mismatch(expected, found)
        if mismatch is not None:
            raise AssayError(
                f"Dask worker {address} runs {mismatch}: refused, since its numbers would not "
                "be this version's; install the driver's Assay and plugins on every worker "
                "and restart them"
            )


def _warm_up(distributions: Sequence[str]) -> dict[str, str]:
    process_catalog()
    return _installed_versions(distributions)


def _checked_unit(task: UnitTask, expected: dict[str, str], threads: int | None) -> UnitResult:
    """The unit, on a worker with the driver's versions; a failed result on any other
    (one that joined the cluster after the driver checked it)."""
    mismatch = _mismatch(expected, _installed_versions(list(expected)))
    if mismatch is not None:
        return failed_result(task, f"refused by this Dask worker, which runs {mismatch}")
    return execute_unit(task, threads=threads, on_start=lambda: _report_start(task.run_key))


def _overrun(task: UnitTask, submitted: float, began: float | None, now: float) -> str | None:
    """Why a Dask unit in flight is past its limit, or None. Its clock starts when its
    worker says so; until then it may import its plugin for as long as a new worker may."""
    if began is None:
        if now - submitted > STARTUP_LIMIT_S:
            return f"did not start within {STARTUP_LIMIT_S:g} s of its dispatch"
        return None
    if now - began > task.time_limit_s + KILL_GRACE_S:
        return f"time limit of {task.time_limit_s:g} s exceeded"
    return None


def _report_start(run_key: str) -> None:
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(UNIT_STARTED_TOPIC, [run_key, worker.address])


def _cancel_and_restart(client: Any, future: Any) -> None:
    """Cancel a unit that overran and restart the worker whose thread still runs it."""
    holders = [addr for addr, keys in client.processing().items() if future.key in keys]
    future.cancel()
    if holders:
        client.restart_workers(holders, raise_for_error=False)


def make_executor(
    name: str, *, workers: int = 2, scheduler: str | None = None, catalog: Catalog | None = None
) -> Executor:
    if name == "serial":
        return SerialExecutor(catalog)
    if name == "processes":
        return ProcessExecutor(workers)
    if name == "dask":
        return DaskExecutor(workers, scheduler)
    raise AssayError(f"unknown executor '{name}' (choose serial, processes or dask)")
