"""Figures for a team's deployment, measured side by side in one run (`nox -s deployment`).

1. Harness overhead per unit: the same grid of near-instant units (`slow_mean` with no
   delay: the mean of 120 rows),
   recorded in a local sqlite store and through the MLflow server (basic auth,
   PostgreSQL): the driver's wall time per unit minus the units' own time, each store
   warmed by the same three units first.
2. Throughput on a CPU-bound grid (`spin`: 1 s of CPU per unit): units per second
   serially in the driver, and with the deployment's 2 Dask workers; both record
   through the server.

Prints the figures and their ratios; asserts nothing about speed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from services import Deployment

OVERHEAD_SEEDS = list(range(30))  # one unit per seed on the fixed test set
SPIN_SECONDS = 1.0
SPIN_SEEDS = list(range(16))


def grid(model: str, params: dict[str, float], seeds: list[int]) -> tuple[Any, list[Any]]:
    from assay.engine.runner import GridEntry, plan_grid
    from assay.plugin import process_catalog
    from assay.spec import ModelEntry

    catalog = process_catalog()
    # A parameter of its own (a nanosecond more) gives each grid fresh run keys: nothing
    # recorded before is skipped or reused.
    fresh = {key: value + time.time_ns() % 10**6 * 1e-15 for key, value in params.items()}
    label = f"{model}-bench-{time.time_ns()}"
    entry = GridEntry(
        "testplugin/tiny-holdout@1", [ModelEntry(name=model, params=fresh, label=label)], seeds
    )
    return catalog, list(plan_grid(catalog, [entry], "quick"))


def timed_grid(catalog: Any, tasks: list[Any], executor: Any, uri: str) -> tuple[float, float]:
    """Wall seconds of the whole grid, and the units' own seconds (fit + predict)."""
    from assay.engine.runner import run_grid
    from assay.engine.tracking import Tracker

    tracker = Tracker(uri)
    start = time.perf_counter()
    report = run_grid(catalog, tasks, executor, tracker)
    wall = time.perf_counter() - start
    assert not report.failures, report.failures
    assert len(report.results) == len(tasks)
    own = sum(r.fit_seconds + r.predict_seconds for r in report.results)
    return wall, own


def main() -> None:
    from assay.engine.executors import DaskExecutor, SerialExecutor

    root = Path(tempfile.mkdtemp(prefix="assay-bench-deployment-"))
    services = Deployment(root)
    try:
        services.start()
        os.environ.update(services.driver_env())
        catalog, tasks = grid("slow_mean", {"delay": 0.0}, OVERHEAD_SEEDS)
        units = len(tasks)
        local = f"sqlite:///{root / 'local.db'}"
        # The same three units first on each: the local store is created, and the server's
        # workers have answered once (their first requests import and connect), as a
        # team's long-running server has. Only then is the overhead per unit timed.
        for uri in (local, services.tracking_uri):
            timed_grid(catalog, tasks[:3], SerialExecutor(), uri)
        per_unit = {}
        for name, uri in (("local sqlite", local), ("MLflow server", services.tracking_uri)):
            catalog, tasks = grid("slow_mean", {"delay": 0.0}, OVERHEAD_SEEDS)
            wall, own = timed_grid(catalog, tasks, SerialExecutor(), uri)
            per_unit[name] = (wall - own) / units
            print(
                f"harness overhead per unit, {name}: {per_unit[name] * 1000:.0f} ms ({units} units)"
            )
        print(
            "overhead through the server / local sqlite: "
            f"{per_unit['MLflow server'] / per_unit['local sqlite']:.1f}x"
        )

        speed = {}
        for name, executor in (
            ("serial", SerialExecutor()),
            ("2 Dask workers", DaskExecutor(scheduler=services.scheduler)),
        ):
            catalog, tasks = grid("spin", {"seconds": SPIN_SECONDS}, SPIN_SEEDS)
            wall, _ = timed_grid(catalog, tasks, executor, services.tracking_uri)
            speed[name] = len(tasks) / wall
            print(
                f"CPU-bound grid ({len(tasks)} units of {SPIN_SECONDS:g} s CPU), {name}: "
                f"{speed[name]:.2f} units/s"
            )
        print(
            f"speed-up with 2 Dask workers over serial: {speed['2 Dask workers'] / speed['serial']:.2f}x"
        )
        print(f"(machine: {os.cpu_count()} logical CPUs; the server and driver share them)")
    finally:
        services.close()


if __name__ == "__main__":
    main()
