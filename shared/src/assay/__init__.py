"""Assay: standard benchmark scenarios for AI for Science.

The core defines specs, data sources and the cache, splits, metrics, models,
protocols, the runner, MLflow tracking and leaderboards. Domain plugins add
sources, models and scenario files through the `assay.plugins` entry point.
"""

import os
from importlib.metadata import PackageNotFoundError, version

# Offline at run time: MLflow 3 fetches a telemetry config and posts usage events over the
# network unless told not to. Set before any module here imports mlflow; a user who wants
# MLflow's telemetry sets MLFLOW_DISABLE_TELEMETRY=false themselves.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

try:
    __version__ = version("assay")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__", "load"]


def __getattr__(name: str) -> object:
    # `assay.load` imports the data path on first use, so `import assay` stays light.
    if name == "load":
        from assay.api import load

        return load
    raise AttributeError(f"module 'assay' has no attribute {name!r}")
