"""`assay campaign ...`: a real lab's closed loop, driven by the benchmarked policies.

assay campaign start core/hartmann6-loop --policy ucb --name run-1
assay campaign suggest --campaign run-1          # writes run-1-round-0000.csv
# measure, fill the `value` column, then:
assay campaign observe run-1-round-0000.csv --campaign run-1
assay campaign status --campaign run-1
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from assay.loop.lab import Lab

campaign_app = typer.Typer(
    no_args_is_help=True,
    help="Real-lab closed loops: start, suggest the next batch, observe measurements, status.",
)
console = Console(soft_wrap=True)

CampaignName = Annotated[
    str | None, typer.Option("--campaign", help="campaign name (optional when only one exists)")
]


def _lab() -> Lab:
    from assay.cli.helpers import load_catalog, quiet_libraries
    from assay.loop.lab import Lab

    quiet_libraries()
    return Lab(load_catalog())


@campaign_app.command()
def start(
    scenario: str,
    policy: Annotated[str, typer.Option("--policy", help="policy name or module:Class")],
    name: Annotated[str, typer.Option("--name", help="the campaign's name")] = "campaign",
    param: Annotated[
        list[str] | None, typer.Option("-p", help="policy parameter key=value")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the initial design and the policy")] = 0,
    size: Annotated[str, typer.Option(help="quick or standard (n0, q, budget)")] = "standard",
    candidates: Annotated[
        Path | None,
        typer.Option("--candidates", help="your own candidates: CSV with 'id' + numeric features"),
    ] = None,
) -> None:
    """Start a campaign on a closed-loop scenario (its candidates, or your own CSV)."""
    from assay.cli.helpers import parse_size
    from assay.evaluation.models import params_from_cli
    from assay.spec import ModelEntry

    lab = _lab()
    entry = ModelEntry(name=policy, params=params_from_cli(param or []))
    lab.start(
        scenario, entry, name=name, seed=seed, size=parse_size(size), candidates_file=candidates
    )
    console.print(
        f"started campaign '{name}' on {scenario} with policy {policy}; "
        f"next: assay campaign suggest --campaign {name}",
        highlight=False,
    )


@campaign_app.command()
def suggest(
    campaign: CampaignName = None,
    out: Annotated[Path | None, typer.Option("--out", help="where to write the batch")] = None,
) -> None:
    """Write the next batch to measure as CSV (the same batch again until it is observed)."""
    from assay.loop.lab import measurement_template

    lab = _lab()
    batch, new = lab.suggest(campaign)
    status = lab.status(campaign)
    path = out or Path(f"{status['campaign']}-round-{status['rounds_suggested'] - 1:04d}.csv")
    tmp = path.with_name(f".{path.name}.tmp")
    measurement_template(batch).to_csv(tmp, index=False)
    tmp.replace(path)
    what = "next batch" if new else "batch still awaiting measurement"
    console.print(
        f"{what}: {len(batch)} candidates written to {path}; fill the 'value' column, then "
        f"assay campaign observe {path} --campaign {status['campaign']}",
        highlight=False,
    )


@campaign_app.command()
def observe(file: Path, campaign: CampaignName = None) -> None:
    """Record a measurement file (columns id, value)."""

    lab = _lab()
    count = lab.observe(file, campaign)
    status = lab.status(campaign)
    console.print(
        f"recorded {count} measurements; {status['observed']} of {status['budget']} observed, "
        f"best {status['best_value']:g}",
        highlight=False,
    )


@campaign_app.command()
def status(
    campaign: CampaignName = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Where a campaign stands: observed, budget, best, awaiting measurement."""
    from assay.loop.lab import campaign_summary

    lab = _lab()
    state = lab.status(campaign)
    if as_json:
        print(json.dumps(state, indent=2))
        return
    for line in campaign_summary(state):
        console.print(line, highlight=False)
