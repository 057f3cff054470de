"""`assay export` and `assay import`: result bundles for outside submissions.

Kept apart from `assay.cli.main` (which registers them with one call), so the
publishing commands grow without touching the rest of the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("import")(import_)


def export(
    scenario: Annotated[list[str], typer.Argument(help="scenarios whose entries to export")],
    out: Annotated[Path, typer.Option(help="the bundle folder to write (new or empty)")],
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="only this entry (its board label); repeatable"),
    ] = None,
    size: Annotated[str, typer.Option(help="quick or standard")] = "standard",
) -> None:
    """Write a result bundle: the entries' predictions, metrics and provenance (data and
    split sha, versions) in the run-record format, with a manifest of sha256 hashes."""
    from mlflow.tracking import MlflowClient

    from assay.cli.helpers import console, load_catalog, parse_size, quiet_libraries
    from assay.engine.store import open_store
    from assay.publish.bundles import export_bundle

    quiet_libraries()
    client = MlflowClient()
    open_store(client.tracking_uri)
    units = export_bundle(client, load_catalog(), scenario, parse_size(size), model or [], out)
    console.print(f"wrote {units} unit runs to the bundle {out}/", highlight=False, soft_wrap=True)


def import_(
    bundle: Annotated[Path, typer.Argument(help="a bundle folder written by `assay export`")],
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="check hashes, data and split shas, and recompute every metric (always on)",
        ),
    ] = True,
) -> None:
    """Verify a result bundle and add its entries to the tracked runs, marked external;
    `assay leaderboard build` then ranks them beside ours."""
    from mlflow.tracking import MlflowClient

    from assay.cli.helpers import console, load_catalog, quiet_libraries, tracking_uri
    from assay.engine.store import open_store
    from assay.publish.bundles import BundleError, import_bundle, verify_bundle

    if not verify:
        raise BundleError("bundles are only imported verified: drop --no-verify")
    quiet_libraries()
    verified = verify_bundle(load_catalog(), bundle)
    client = MlflowClient()
    open_store(client.tracking_uri)
    added = import_bundle(client, verified)
    names = ", ".join(f"{label} on {scenario}" for scenario, label in verified.entries)
    console.print(
        f"verified bundle {verified.sha[:16]} ({len(verified.records)} units: {names}); "
        f"imported {added} new unit runs as external into {tracking_uri()}",
        highlight=False,
        soft_wrap=True,
    )
