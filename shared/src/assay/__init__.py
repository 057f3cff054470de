"""Assay: standard benchmark scenarios for AI for Science.

The core defines specs, data sources and the cache, splits, metrics, models,
protocols, the runner, MLflow tracking and leaderboards. Domain plugins add
sources, models and scenario files through the `assay.plugins` entry point.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("assay")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
