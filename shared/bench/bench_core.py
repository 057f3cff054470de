"""Core benchmarks, measured side by side in one run (`nox -s bench`).

1. Harness overhead per unit: wall time per unit minus fit and predict time,
   with a null model (the mean) and the default sqlite MLflow store.
2. Cold vs warm data preparation (build + checksum vs verify only).
3. Serial vs 2-worker Dask wall time on a CPU-bound grid of 8+ units.
4. The thread budget: a grid of OpenMP-threaded units (histogram gradient
   boosting) serially, then on 2 worker processes with the budget (cores / 2
   threads each) and without it (every worker as wide as the machine).
5. Start-up: `assay list` with every installed plugin (the six domains in the
   bench session) side by side with `python -c pass`, the interpreter alone;
   goal under 1 s. Then `assay --help` and `assay show` (which read plugin
   manifests without importing the plugins' heavy modules) next to
   `python -c "import assay"`; goal under 2 s.

`python shared/bench/bench_core.py startup` runs one section alone (names: startup,
overhead, cold_warm, serial_vs_dask, thread_budget).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from assay.builtin import SklearnBundledSource
from assay.data.cache import DataCache
from assay.engine.executors import make_executor
from assay.engine.runner import GridEntry, plan_grid, run_grid
from assay.engine.tracking import Tracker
from assay.plugin import ENTRY_POINT_GROUP, discover
from assay.spec import ModelEntry


def overhead(catalog, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    os.chdir(workdir)  # MLflow's default store: ./mlflow.db
    entry = GridEntry("core/diabetes@1", [ModelEntry(name="mean")], seeds=list(range(8)))
    tasks = plan_grid(catalog, [entry], "standard")
    tracker = Tracker()
    tracker.resume_state(catalog.scenario("core/diabetes").spec)  # create the store first
    start = time.perf_counter()
    report = run_grid(catalog, tasks, make_executor("serial", catalog=catalog), tracker)
    wall = time.perf_counter() - start
    work = sum(r.fit_seconds + r.predict_seconds for r in report.results)
    per_unit = (wall - work) / len(report.results)
    print(
        f"harness overhead: {len(report.results)} units, {wall:.2f} s wall, {work:.3f} s fit+predict"
    )
    print(
        f"  overhead per unit: {per_unit * 1000:.1f} ms (target < 200 ms) -> {'PASS' if per_unit < 0.2 else 'FAIL'}"
    )


def cold_warm(workdir: Path) -> None:
    source = SklearnBundledSource()
    params = {"dataset": "breast_cancer"}
    cold_times, warm_times = [], []
    for i in range(5):
        cache = DataCache(workdir / f"cache{i}")
        start = time.perf_counter()
        cache.load(source, params)
        cold_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        cache.load(source, params)
        warm_times.append(time.perf_counter() - start)
    cold, warm = min(cold_times), min(warm_times)
    print(
        f"data preparation: cold {cold * 1000:.1f} ms, warm {warm * 1000:.1f} ms, ratio {cold / warm:.1f}x"
    )


def timed_grid(catalog, tasks, executor) -> float:  # type: ignore[no-untyped-def]
    """Wall time of a grid on a fresh store that exists before the clock starts."""
    with tempfile.TemporaryDirectory() as store:
        tracker = Tracker(f"sqlite:///{store}/mlflow.db")
        tracker.resume_state(catalog.scenario(tasks[0].scenario).spec)
        start = time.perf_counter()
        report = run_grid(catalog, tasks, executor, tracker)
        assert all(r.ok for r in report.results), [r.error for r in report.results]
        return time.perf_counter() - start


def serial_vs_dask(catalog) -> None:  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    model = ModelEntry(name="random_forest", params={"n_estimators": 1500, "n_jobs": 1})
    entry = GridEntry("core/breast-cancer@1", [model], seeds=[0, 1, 2])
    tasks = plan_grid(catalog, [entry], "quick")  # 5 folds x 3 seeds = 15 units

    def timed(executor) -> float:  # type: ignore[no-untyped-def]
        return timed_grid(catalog, tasks, executor)

    serial = timed(make_executor("serial", catalog=catalog))
    cold = timed(make_executor("dask", workers=2))  # starts and stops its own local cluster
    with LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=40
    ) as cluster:
        warm = timed(make_executor("dask", scheduler=cluster.scheduler_address))
    print(
        f"grid of {len(tasks)} CPU-bound units: serial {serial:.2f} s; 2-worker dask {warm:.2f} s on a "
        f"running cluster, {cold:.2f} s including cluster start-up"
    )
    print(
        f"  speed-up on a running cluster {serial / warm:.2f}x (target >= 1.6x) -> "
        f"{'PASS' if serial / warm >= 1.6 else 'FAIL'}; including start-up {serial / cold:.2f}x"
    )


def thread_budget(catalog) -> None:  # type: ignore[no-untyped-def]
    import assay.engine.executors
    from assay.threads import available_cores

    model = ModelEntry(name="gradient_boosting", params={"max_iter": 100})
    entry = GridEntry("core/diabetes@1", [model], seeds=[0, 1])
    tasks = plan_grid(catalog, [entry], "quick")  # 5 folds x 2 seeds = 10 units

    def timed(executor) -> float:  # type: ignore[no-untyped-def]
        return timed_grid(catalog, tasks, executor)

    serial = timed(make_executor("serial", catalog=catalog))
    budgeted = timed(make_executor("processes", workers=2))
    original = assay.engine.executors.budget_for
    assay.engine.executors.budget_for = lambda workers: None  # type: ignore[assignment]
    try:
        unbudgeted = timed(make_executor("processes", workers=2))
    finally:
        assay.engine.executors.budget_for = original
    print(
        f"thread budget on {available_cores()} cores, {len(tasks)} OpenMP units: serial "
        f"{serial:.2f} s; 2 workers with the budget {budgeted:.2f} s, without {unbudgeted:.2f} s"
    )
    print(
        f"  without / with the budget {unbudgeted / budgeted:.2f}x; serial / 2 workers with "
        f"the budget {serial / budgeted:.2f}x"
    )


def _best_wall(command: list[str], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def startup() -> None:
    assay = str(Path(sys.executable).with_name("assay"))
    plugins = sorted(
        ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name != "core"
    )
    interpreter = _best_wall([sys.executable, "-c", "pass"])
    listing = _best_wall([assay, "list"])
    print(
        f"start-up (best of 3): assay list with {len(plugins)} plugins "
        f"({', '.join(plugins)}) {listing:.2f} s; python -c pass {interpreter:.2f} s; "
        f"difference {listing - interpreter:.2f} s"
    )
    print(f"  assay list: {listing:.2f} s (goal < 1 s) -> {'PASS' if listing < 1 else 'FAIL'}")
    baseline = _best_wall([sys.executable, "-c", "import assay"])
    print(f"  python -c 'import assay' {baseline:.2f} s")
    for args in (["--help"], ["show", "core/diabetes"]):
        wall = _best_wall([assay, *args])
        print(
            f"  assay {' '.join(args)}: {wall:.2f} s (goal < 2 s) -> {'PASS' if wall < 2 else 'FAIL'}"
        )


def main() -> None:
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.environ["ASSAY_HOME"] = str(workdir / "home")
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        catalog = discover()
        sections = {
            "startup": startup,
            "overhead": lambda: overhead(catalog, workdir),
            "cold_warm": lambda: cold_warm(workdir),
            "serial_vs_dask": lambda: serial_vs_dask(catalog),
            "thread_budget": lambda: thread_budget(catalog),
        }
        chosen = sys.argv[1:] or list(sections)
        unknown = [name for name in chosen if name not in sections]
        if unknown:
            raise SystemExit(f"unknown section {unknown}: choose from {', '.join(sections)}")
        print("== assay core bench ==")
        for name in chosen:
            sections[name]()


if __name__ == "__main__":
    main()
