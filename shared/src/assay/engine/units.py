"""Units of work: one (scenario, model, fold, seed), and how one is executed.

`execute_unit` runs in whichever process an executor chooses. It rebuilds the
dataset from the cache and the plan deterministically (memoised per process),
checks both against the shas the driver planned with, and returns a
`UnitResult`: a crash or a time-out is a failed result, never an exception.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy.typing as npt
import psutil

from assay.data.cache import DataCache, assay_home
from assay.data.dataset import Dataset, DatasetMetadata, stable_hash
from assay.errors import AssayError, DataError, one_line
from assay.evaluation.checkpoints import discard_checkpoints, unit_checkpoints
from assay.evaluation.metrics import bound_info
from assay.evaluation.models import build_model
from assay.evaluation.protocols import Plan, UnitContext
from assay.loop.campaign import environment_dataset
from assay.plugin import Catalog, RegisteredScenario, process_catalog, warm_up_plugin
from assay.spec import ModelEntry, ProtocolSpec, Size
from assay.threads import limited_threads


class TimeLimitExceeded(Exception):
    pass


@dataclass(frozen=True)
class UnitTask:
    """Everything a worker needs to run one unit; small and picklable."""

    scenario: str
    size: Size
    unit: str
    seed: int
    model: ModelEntry
    time_limit_s: float
    data_sha: str
    split_sha: str
    source_params: dict[str, Any] = field(default_factory=dict)
    """Overrides of the spec's source parameters (e.g. a user's file from `--data`)."""
    dataset: DatasetMetadata | None = None
    """Provenance, licence and notes of the data, recorded with the parent run."""
    protocol_sha: str = ""
    """Hash of the resolved protocol at this size (split, folds, repeats, valid fraction...)."""
    metrics: tuple[str, ...] = ()
    plugin_version: str = ""
    folds_chosen: tuple[int, ...] = ()
    """The units (by position in the plan) a `--folds` run chose; empty for a full run.
    Not part of the run key: a fold run alone is the same computation as in a full run."""
    folds_total: int = 0
    """How many units the plan has, for a `--folds` run."""
    user_data: str = ""
    """The name of the user's data (`--data`, `--set path=...`) when a user-file source
    reads them; tagged, so boards keep one board per data file. Not in the run key."""

    @property
    def params_hash(self) -> str:
        return params_hash(self.model)

    @property
    def run_key(self) -> str:
        """Identity of a result: everything that can change it. Equal keys are the same
        computation, done once and recorded under every entry that asks for it."""
        return stable_hash(
            {
                "scenario": self.scenario,
                "data": self.data_sha,
                "split": self.split_sha,
                "protocol": self.protocol_sha,
                "metrics": list(self.metrics),
                "plugin_version": self.plugin_version,
                "model": self.model.name,
                "params": self.params_hash,
                "unit": self.unit,
                "seed": self.seed,
                "source_params": self.source_params,
            }
        )[:32]

    @property
    def parent_key(self) -> str:
        return parent_key(self.scenario, self.size, self.data_sha, self.model)


Claim = Callable[["UnitTask"], bool]
"""Called just before a unit is dispatched; False: another driver has it, skip it."""


def params_hash(model: ModelEntry) -> str:
    return stable_hash(model.params)[:16]


def parent_key(scenario: str, size: str, data_sha: str, model: ModelEntry) -> str:
    """Identity of the (scenario, model) parent run that groups units: the model's
    name, label and parameters on one dataset (leaderboards select runs by it)."""
    return stable_hash(
        {
            "scenario": scenario,
            "size": size,
            "data": data_sha,
            "model": model.name,
            "label": model.display_name,
            "params": params_hash(model),
        }
    )[:32]


@dataclass
class UnitResult:
    task: UnitTask
    status: str
    """"ok" or "failed"."""
    metrics: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = float("nan")
    predict_seconds: float = float("nan")
    peak_memory_mb: float = float("nan")
    wall_seconds: float = float("nan")
    error: str = ""
    error_detail: str = ""
    predictions: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    steps: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    """Step metrics, logged with their steps (a campaign's best-so-far per round)."""
    environment: dict[str, str] = field(default_factory=dict)
    """The process that ran the unit (a Dask worker, not the driver): its machine and the
    versions of the plugin's key libraries; tagged as `assay.<name>`."""
    run_id: str = ""
    """The MLflow run it was recorded as (set by the driver)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def failed_result(
    task: UnitTask, error: str, detail: str = "", wall: float = float("nan")
) -> UnitResult:
    return UnitResult(
        task,
        "failed",
        error=one_line(error),
        error_detail=detail,
        wall_seconds=wall,
        environment=hardware_tags(),
    )


BATCH_JOB_VARIABLES = {"slurm_job_id": "SLURM_JOB_ID", "pbs_job_id": "PBS_JOBID"}
"""Where a batch scheduler names the job a process runs in (tag -> variable): a Dask
worker submitted by dask-jobqueue tags the units it runs with its job's id."""


@cache
def hardware_tags() -> dict[str, str]:
    """This process's machine: host, CPU, cores, memory, platform, a CUDA device if any,
    and the batch job (Slurm, PBS) it runs in, if any."""
    tags = {
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": str(psutil.cpu_count(logical=True)),
        "memory_gb": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")  # only when a model already loaded it
    if torch is not None and torch.cuda.is_available():
        tags["cuda_device"] = torch.cuda.get_device_name(0)
    for tag, variable in BATCH_JOB_VARIABLES.items():
        if os.environ.get(variable):
            tags[tag] = os.environ[variable]
    return tags


@dataclass(frozen=True)
class Prepared:
    """A scenario at one size, ready to run: spec, protocol, dataset and plan."""

    registered: RegisteredScenario
    protocol: ProtocolSpec
    dataset: Dataset
    plan: Plan

    @property
    def seeds(self) -> list[int]:
        return self.protocol.seeds


_PREPARED: dict[tuple[str, str, str, str], Prepared] = {}


def prepare(
    catalog: Catalog,
    scenario: str,
    size: Size,
    cache: DataCache | None = None,
    source_params: Mapping[str, Any] | None = None,
) -> Prepared:
    """Dataset (from the cache, built if needed) and plan for a scenario; memoised per process."""
    cache = cache or DataCache()
    registered = catalog.scenario(scenario)
    spec = registered.spec
    params = {**spec.source.params_for(size), **(source_params or {})} if spec.source else {}
    memo_key = (spec.key, size, str(cache.root), stable_hash(params))
    if memo_key in _PREPARED:
        return _PREPARED[memo_key]
    if spec.source is None:  # a closed loop whose environment generates everything
        dataset = environment_dataset(spec, registered.plugin_version)
    else:
        dataset, _ = cache.load(catalog.source(spec.source.name), params)
    dataset = replace(dataset, task=spec.task)
    protocol = spec.protocol.for_size(size)
    plan = catalog.protocols.get(protocol.name).plan(spec, protocol, dataset, catalog)
    prepared = Prepared(registered, protocol, dataset, plan)
    _PREPARED[memo_key] = prepared
    return prepared


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `TimeLimitExceeded` in the main thread after `seconds` (SIGALRM).

    This stops Python code and sleeps. Executors that run units in other
    processes also kill a unit that ignores it; in a non-main thread (Dask)
    the driver enforces the limit instead.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(f"time limit of {seconds:g} s exceeded")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class PeakMemory:
    """Samples this process's resident memory in a thread; reports the peak above the start."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self._process = psutil.Process()
        self._interval = interval_s
        self._stop = threading.Event()
        self.baseline = self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def peak_above_start_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


def _import_ahead(catalog: Catalog, task: UnitTask) -> None:
    """Import what the unit will use before its clock starts. Plugins load their sources
    and models lazily, so the first unit in a fresh worker would otherwise pay seconds of
    imports (scikit-learn, torch, RDKit) against its time limit."""
    import sklearn.metrics
    import sklearn.model_selection  # noqa: F401 - the splits and metrics use them

    spec = catalog.scenario(task.scenario).spec
    if spec.source is not None:
        catalog.source(spec.source.name)
    for metric in spec.metrics:
        catalog.metrics.get(metric.name)
    if task.model.name in catalog.models or ":" in task.model.name:
        build_model(task.model.name, task.model.params, catalog.models)
    if "torch" in sys.modules:  # the model (or its plugin) trains with torch
        from assay.evaluation.torch_training import import_optimisers

        import_optimisers()


def checkpoint_folder(task: UnitTask) -> Path:
    """Where a unit's fits keep their state between epochs (`assay.evaluation.checkpoints`):
    named by the run key, so only the same computation goes on from it."""
    return assay_home() / "checkpoints" / task.run_key


def execute_unit(
    task: UnitTask,
    catalog: Catalog | None = None,
    threads: int | None = None,
    on_start: Callable[[], None] | None = None,
) -> UnitResult:
    """Run one unit; every failure (exception, time limit) comes back as a failed result.
    `threads` is the unit's thread budget (cores / workers), set by the executor.
    Plugin imports and the plugin's warm-up happen before the unit's clock starts."""
    with contextlib.suppress(Exception):  # a plugin that fails to load fails in the unit
        warm_up_plugin(catalog or process_catalog(), task.scenario)
        _import_ahead(catalog or process_catalog(), task)
    if on_start is not None:  # a parent process times the unit from here, as the unit does
        on_start()
    started = time.perf_counter()
    checkpoints = checkpoint_folder(task)
    try:
        with time_limit(task.time_limit_s):
            catalog = catalog or process_catalog()
            prepared = prepare(catalog, task.scenario, task.size, source_params=task.source_params)
            if prepared.dataset.metadata.sha256 != task.data_sha:
                raise DataError(
                    f"data sha differs between driver and worker for {task.scenario}: "
                    "the cache must be shared, or the source is not deterministic"
                )
            if prepared.plan.split_sha != task.split_sha:
                raise DataError(f"split sha differs between driver and worker for {task.scenario}")
            spec = prepared.registered.spec
            key_libraries = catalog.plugins[prepared.registered.plugin].key_libraries
            evaluation = catalog.protocols.get(prepared.protocol.name)
            model = evaluation.build_entry(task.model.name, task.model.params, catalog)
            context = UnitContext(
                spec=spec,
                protocol=prepared.protocol,
                dataset=prepared.dataset,
                plan=prepared.plan,
                unit=task.unit,
                seed=task.seed,
                model=model,
                model_name=task.model.display_name,
                metrics=[catalog.metrics.get(m.name) for m in spec.metrics],
            )
            with (
                PeakMemory() as memory,
                limited_threads(threads),
                unit_checkpoints(checkpoints),
            ):
                output = evaluation.run(context)
    except TimeLimitExceeded as exc:  # its checkpoints stay: a longer limit goes on from them
        return failed_result(task, str(exc), wall=time.perf_counter() - started)
    except AssayError as exc:
        discard_checkpoints(checkpoints)
        detail = "".join(traceback.format_exception(exc))
        return failed_result(task, str(exc), detail, time.perf_counter() - started)
    except Exception as exc:
        discard_checkpoints(checkpoints)
        detail = "".join(traceback.format_exception(exc))
        return failed_result(
            task, f"{type(exc).__name__}: {exc}", detail, time.perf_counter() - started
        )
    discard_checkpoints(checkpoints)
    return UnitResult(
        task,
        "ok",
        metrics={name: float(value) for name, value in output.metrics.items()},
        fit_seconds=output.fit_seconds,
        predict_seconds=output.predict_seconds,
        peak_memory_mb=memory.peak_above_start_mb,
        wall_seconds=time.perf_counter() - started,
        predictions=output.predictions,
        steps=output.steps,
        info={**output.info, **bound_info(output.metrics)},  # which values are bounds
        environment={
            **hardware_tags(),
            **library_versions(key_libraries),
            "threads": str(threads or "all"),
        },
    )


def library_versions(distributions: Sequence[str]) -> dict[str, str]:
    return {f"version.{name}": distribution_version(name) for name in distributions}


def distribution_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
