"""Dask clusters on HPC batch schedulers (Slurm, PBS) through dask-jobqueue.

`assay suite run SUITE --executor dask --scheduler slurm.toml` reads a small
TOML file, data only:

    kind = "slurm"          # or "pbs"
    jobs = 4                # batch jobs to submit; each runs one Dask worker

    [options]               # passed as is to dask_jobqueue.SLURMCluster / PBSCluster
    cores = 8
    memory = "32GB"
    walltime = "02:00:00"
    queue = "normal"
    job_extra_directives = ["--account=myproject"]

The driver runs the Dask scheduler; the jobs start workers that connect back
to it. Workers must see the driver's `ASSAY_HOME` (a shared filesystem) and
run the same Assay and plugin versions (checked: `assay.engine.executors`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.errors import AssayError, SpecError, reason

OptionValue = str | int | float | bool | list[str]
CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster"}


class ClusterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["slurm", "pbs"]
    jobs: int = Field(ge=1, le=10_000)
    options: dict[str, OptionValue] = Field(default_factory=dict)


def is_cluster_file(scheduler: str) -> bool:
    """A `--scheduler` value that names a cluster file rather than a scheduler address."""
    return scheduler.endswith(".toml")


def load_cluster_config(path: Path) -> ClusterConfig:
    if not path.is_file():
        raise SpecError(f"cluster file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML ({reason(exc)})") from None
    try:
        return ClusterConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        raise SpecError(f"{path}: '{where}': {error['msg']}") from None


def start_cluster(config: ClusterConfig) -> Any:
    """The dask-jobqueue cluster, with its jobs submitted."""
    try:
        import dask_jobqueue  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise AssayError(
            f"a {config.kind} cluster needs dask-jobqueue: pip install dask-jobqueue"
        ) from None
    cluster_class = getattr(dask_jobqueue, CLASSES[config.kind])
    try:
        cluster = cluster_class(**config.options)
    except (TypeError, ValueError) as exc:
        raise AssayError(
            f"dask-jobqueue's {CLASSES[config.kind]} rejected the cluster options: {reason(exc)}"
        ) from None
    cluster.scale(jobs=config.jobs)
    return cluster
