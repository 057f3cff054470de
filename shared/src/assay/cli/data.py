"""`assay data export`: a scenario's data in open formats with a Croissant description.

Registered under `assay data` beside its default action (prepare and verify the cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(data_app: typer.Typer) -> None:
    data_app.command("export")(export)


def export(
    scenario: Annotated[str, typer.Argument(help="the scenario, e.g. medicine/freesolv")],
    out: Annotated[
        Path,
        typer.Option(
            help="the folder to write (new or empty; with --description-only, any folder)"
        ),
    ],
    size: Annotated[str, typer.Option(help="quick or standard")] = "quick",
    description_only: Annotated[
        bool,
        typer.Option(
            "--description-only",
            help="keep only the Croissant description, as OUT/<domain>/<name>.croissant.json "
            "(the boards' layout); the data files it lists are not kept",
        ),
    ] = False,
) -> None:
    """Write the prepared dataset (Parquet, CSV and the field's own formats), its folds,
    and croissant.json (MLCommons Croissant 1.0) describing all of it with sha256 hashes."""
    from assay.cli.helpers import console, load_catalog, parse_size
    from assay.publish.croissant import export_description, export_scenario

    if description_only:
        with console.status(f"describing {scenario} ({size})"):
            path = export_description(load_catalog(), scenario, parse_size(size), out)
        console.print(
            f"{scenario}: {path} (the description only; without --description-only the "
            "same command writes the files it lists)",
            highlight=False,
            soft_wrap=True,
        )
        return
    with console.status(f"exporting {scenario} ({size})"):
        summary = export_scenario(load_catalog(), scenario, parse_size(size), out)
    console.print(
        f"{scenario}: {summary.rows} rows, {summary.folds} folds -> {summary.description} "
        f"({', '.join(summary.files)})",
        highlight=False,
        soft_wrap=True,
    )
