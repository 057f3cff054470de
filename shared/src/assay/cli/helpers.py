"""What every `assay` command module shares: the consoles, the catalog, quiet libraries.

One module below all the command modules, so they never import each other's
private helpers (`cli`, `cli_campaign`, `cli_publish` and the rest import from
here, and `cli` imports the others only to register them).
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from rich.console import Console

from assay.errors import AssayError
from assay.spec import Size

console = Console()
err_console = Console(stderr=True)


def plain(text: str) -> None:
    """A line printed as is: it wraps on a narrow terminal but never cuts a name."""
    console.print(text, soft_wrap=True, highlight=False, markup=False)


def quiet_libraries() -> None:
    # MLflow logs store migrations at INFO and warns about its own internals.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="mlflow")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def tracking_uri() -> str:
    import mlflow

    return str(mlflow.get_tracking_uri())


def load_catalog() -> Any:
    from assay.plugin import process_catalog

    return process_catalog()


def parse_size(size: str) -> Size:
    if size not in ("quick", "standard"):
        raise AssayError(f"size must be 'quick' or 'standard', not '{size}'")
    return size  # type: ignore[return-value]
