"""The `assay` command line (Typer + Rich).

A user mistake (unknown scenario, bad TOML, missing file) prints one sentence
and exits with status 2; a bug still shows its traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from assay.cli.campaign import campaign_app
from assay.cli.helpers import console, err_console
from assay.cli.helpers import load_catalog as _catalog
from assay.cli.helpers import parse_size as _size
from assay.cli.helpers import plain as _plain
from assay.cli.helpers import quiet_libraries as _quiet_libraries
from assay.cli.helpers import tracking_uri as _tracking_uri
from assay.errors import AssayError
from assay.spec import ModelEntry, Size

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Assay: benchmark scenarios for AI for Science.",
)
suite_app = typer.Typer(no_args_is_help=True, help="Run suites of scenarios.")
leaderboard_app = typer.Typer(no_args_is_help=True, help="Build leaderboards from MLflow runs.")
app.add_typer(suite_app, name="suite")
app.add_typer(leaderboard_app, name="leaderboard")
plugin_app = typer.Typer(no_args_is_help=True, help="Write a new plugin.")
app.add_typer(plugin_app, name="plugin")
app.add_typer(campaign_app, name="campaign")


class _PrepareByDefault(TyperGroup):
    """`assay data SCENARIO` prepares the cache, as it always has; a known subcommand
    (`assay data export ...`) runs that one instead. Scenario ids hold a `/`, so they
    never collide with a subcommand's name."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["prepare", *args]
        return super().parse_args(ctx, args)


data_app = typer.Typer(
    cls=_PrepareByDefault,
    no_args_is_help=True,
    help="Prepare and verify a scenario's data (assay data SCENARIO), or export it.",
)
app.add_typer(data_app, name="data")

# Names stay on one line so they can be copied; long free text wraps instead.
_IDENTIFIER_COLUMNS = frozenset({"scenario", "model"})
_WIDE_TABLE = 120
"""Columns from which tables are printed; narrower (an 80-column terminal, a CI log),
plain lines that wrap but never cut a name or a number."""

Executor = Annotated[str, typer.Option(help="serial, processes or dask")]
Workers = Annotated[int, typer.Option(help="worker processes (processes, local dask)")]
Scheduler = Annotated[
    str | None,
    typer.Option(
        help="address of an existing Dask scheduler, or a dask-jobqueue cluster file (.toml)"
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print a machine-readable summary")]
DataPath = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="a user's data file, or folder where the scenario reads one (the source's path)",
    ),
]
Target = Annotated[str | None, typer.Option(help="target column in the user's data file")]
SourceParam = Annotated[list[str] | None, typer.Option("--set", help="source parameter key=value")]
RetryFailed = Annotated[bool, typer.Option(help="rerun units recorded as failed")]
RecordsOption = Annotated[
    Path | None,
    typer.Option(
        "--records",
        help="a run-records folder: its records are imported first (only missing units run), "
        "and each unit's record is written there as soon as it finishes",
    ),
]


@app.command("list")
def list_scenarios(as_json: JsonFlag = False) -> None:
    """List installed plugins, their scenarios, and plugins that failed to load."""
    catalog = _catalog()
    rows = [
        {
            "scenario": key,
            "plugin": reg.plugin,
            "task": reg.spec.task,
            "primary_metric": reg.spec.primary_metric.name,
            "title": reg.spec.title,
        }
        for key, reg in sorted(catalog.scenarios.items())
    ]
    failures = [{"plugin": f.name, "error": f.error} for f in catalog.failures]
    if as_json:
        print(
            json.dumps(
                {"scenarios": rows, "plugins": sorted(catalog.plugins), "failures": failures},
                indent=2,
            )
        )
        return
    if console.width >= _WIDE_TABLE:
        table = Table(title="Scenarios")
        for column in ("scenario", "plugin", "task", "primary metric", "title"):
            table.add_column(column, no_wrap=column in _IDENTIFIER_COLUMNS)
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
    else:  # an 80-column terminal or a CI log: one scenario per line, nothing cut
        for row in rows:
            _plain(f"{row['scenario']}  {row['task']}, {row['primary_metric']}\n    {row['title']}")
    for failure in failures:
        err_console.print(
            f"[red]plugin '{failure['plugin']}' failed to load:[/red] {failure['error']}"
        )


@app.command()
def show(
    scenario: str,
    runs: Annotated[
        bool,
        typer.Option(
            "--runs",
            help="print what is tracked instead: every entry's stored summary (mean ± std "
            "over all its recorded units), by size and data file",
        ),
    ] = False,
) -> None:
    """Show one scenario: data, protocol, metrics, controls, references."""
    registered = _catalog().scenario(scenario)
    spec = registered.spec
    if runs:
        _show_runs(spec)
        return
    console.print(f"[bold]{spec.key}[/bold]: {spec.title} (plugin {registered.plugin})")
    if spec.description:
        console.print(" ".join(spec.description.split()))
    console.print(f"task: {spec.task}")
    if spec.environment is not None:
        console.print(
            f"environment {spec.environment.name}: {spec.environment.params}", highlight=False
        )
    for size in ("quick", "standard"):
        if spec.source is not None:
            console.print(
                f"source {spec.source.name} \\[{size}]: {spec.source.params_for(size)}",
                highlight=False,
            )
        p = spec.protocol.for_size(size)
        if spec.environment is not None:
            console.print(f"protocol \\[{size}]: {p.name} {p.params}, seeds {p.seeds}")
            continue
        console.print(
            f"protocol \\[{size}]: {p.name}, split {p.split} {p.params}, folds {p.folds} x repeats "
            f"{p.repeats}, seeds {p.seeds}, valid fraction {p.valid_fraction}"
        )
    console.print("metrics: " + ", ".join(f"{m.name} ({m.direction})" for m in spec.metrics))
    console.print(f"models: {', '.join(spec.models)}; negative control: {spec.controls.negative}")
    console.print(f"time limit per unit: {spec.budget.time_limit_s:g} s")
    for ref in spec.references:
        console.print(
            f"reference: {ref.model} {ref.metric} = {ref.value:g} ({ref.citation}) {ref.note}"
        )


def _show_runs(spec: Any) -> None:
    from mlflow.tracking import MlflowClient

    from assay.engine.remote import redact
    from assay.engine.store import open_store
    from assay.evaluation.stats import fmt_mean_std
    from assay.publish.summaries import stored_entries

    _quiet_libraries()
    client = MlflowClient()
    open_store(client.tracking_uri)
    entries = stored_entries(client, spec)
    where = redact(client.tracking_uri)
    if not entries:
        _plain(f"{spec.key}: no finished entries tracked in {where}")
        return
    _plain(f"{spec.key}: entries tracked in {where}")
    heading = None
    for e in entries:
        data = f"data {e.data_name or 'sha256'} {e.data_sha[:8]}"
        if (e.size, data) != heading:
            heading = (e.size, data)
            _plain(f"{e.size}, {data}:")
        partial = f" ({e.partial})" if e.partial else ""
        metrics = ", ".join(f"{k} {fmt_mean_std(m, sd)}" for k, (m, sd) in e.metrics.items())
        _plain(f"  {e.model}: {e.units} units, {e.failures} failed{partial}; {metrics or '-'}")


@data_app.command("prepare")
def data(
    scenario: str,
    size: Annotated[str, typer.Option(help="quick or standard")] = "quick",
    data_path: DataPath = None,
    target: Target = None,
    source_param: SourceParam = None,
) -> None:
    """Prepare and verify the cached data of a scenario (with the same --data, --target
    and --set as `assay run`, the data that run will read)."""
    from assay.data.cache import DataCache

    catalog = _catalog()
    spec = catalog.scenario(scenario).spec
    source_spec = spec.data_source
    overrides = _source_overrides(data_path, target, source_param or [])
    params = {**source_spec.params_for(_size(size)), **overrides}
    source = catalog.source(source_spec.name)
    with console.status(f"preparing {spec.key} ({size})"):
        dataset, entry = DataCache().load(source, params)
    state = (
        "rebuilt after a failed checksum"
        if entry.rebuilt
        else ("built" if entry.created else "verified")
    )
    console.print(
        f"{spec.key}: {len(dataset)} rows, data sha256 {entry.data_sha256[:16]} ({state})"
    )
    console.print(f"cache: {entry.path}")
    for note in dataset.metadata.notes:
        console.print(f"note: {note}")


def _scoped_params(models: list[str], pairs: list[str]) -> dict[str, dict[str, Any]]:
    """Each model's hyperparameters: `-p key=value` goes to every model given, and
    `-p MODEL:key=value` to that model only (`mymodels:Median:alpha=2` scopes to a
    `module:Class` model)."""
    from assay.evaluation.models import params_from_cli

    shared: list[str] = []
    scoped: dict[str, list[str]] = {m: [] for m in models}
    for pair in pairs:
        target, _, key = pair.partition("=")[0].rpartition(":")
        if not target:
            shared.append(pair)
        elif target in scoped:
            scoped[target].append(f"{key}={pair.partition('=')[2]}")
        else:
            raise AssayError(
                f"-p {pair}: '{target}' is not one of the models given ({', '.join(models)})"
            )
    return {m: {**params_from_cli(shared), **params_from_cli(scoped[m])} for m in models}


def _seeds(text: str) -> list[int]:
    return _integers("--seeds", text)


def _integers(option: str, text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise AssayError(
            f"{option} must be comma-separated integers such as 0,1,2, not '{text}'"
        ) from None


def _source_overrides(
    data_path: Path | None, target: str | None, sets: list[str]
) -> dict[str, Any]:
    from assay.evaluation.models import params_from_cli

    overrides = params_from_cli(sets)
    if data_path is not None:  # a file or a folder: the source says which it reads
        if not data_path.exists():
            raise AssayError(f"--data {data_path}: no such file or folder")
        overrides["path"] = str(data_path.resolve())
    if target is not None:
        overrides["target"] = target
    return overrides


def _run(
    entries: list[Any],
    size: Size,
    executor: str,
    workers: int,
    scheduler: str | None,
    as_json: bool,
    retry_failed: bool,
    notes: list[str],
    records_dir: Path | None = None,
) -> bool:
    """Run the grid and print what happened; True when any unit failed."""
    from assay.engine.executors import make_executor
    from assay.engine.progress import progress_bar
    from assay.engine.remote import redact
    from assay.engine.runner import plan_grid, run_grid
    from assay.engine.tracking import Tracker
    from assay.evaluation.stats import fmt_mean_std

    _quiet_libraries()
    catalog = _catalog()
    status = err_console if as_json else console
    with status.status("preparing data") as spinner:
        tasks = plan_grid(
            catalog, entries, size, on_prepare=lambda s: spinner.update(f"preparing data for {s}")
        )
    tracker = Tracker()
    scenarios = {t.scenario: catalog.scenario(t.scenario).spec for t in tasks}
    live = _live_records(tracker, records_dir, status, {s.id for s in scenarios.values()})
    runner = make_executor(executor, workers=workers, scheduler=scheduler, catalog=catalog)
    progress = progress_bar(console=status, disable=as_json and not sys.stderr.isatty())

    def finished(result: Any) -> None:
        if live is not None and result.run_id:
            live.record([result.run_id])
        progress.advance(bar)

    with progress:
        bar = progress.add_task(f"{len(tasks)} units", total=len(tasks))
        try:
            report = run_grid(
                catalog, tasks, runner, tracker, retry_failed=retry_failed, on_result=finished
            )
        finally:  # skipped and reused units too, even when the run stops early
            if live is not None:
                live.catch_up(
                    {key: tracker.experiment_id(spec) for key, spec in scenarios.items()},
                    {(t.parent_key, t.run_key) for t in tasks},
                )
        progress.update(bar, completed=len(tasks))
    report.notes += notes
    summary = report.summary()
    if as_json:
        print(
            json.dumps(
                {
                    "tracking_uri": redact(tracker.tracking_uri),
                    "planned": report.planned,
                    "skipped": report.skipped,
                    "reused": report.reused + report.shared,
                    "in_progress_elsewhere": report.elsewhere,
                    "failures": len(report.failures),
                    "notes": report.notes,
                    "data_notes": list(report.data_notes),
                    "results": summary,
                },
                indent=2,
            )
        )
        _report_failures(report, summary)
        return bool(report.failures)
    for note in report.notes:
        console.print(f"[yellow]{note}[/yellow]")
    for note in report.data_notes:
        console.print(f"data: {note}", highlight=False)
    elsewhere = f", {report.elsewhere} left to another driver" if report.elsewhere else ""
    console.print(
        f"{report.planned} units planned, {report.skipped} already complete, "
        f"{report.reused + report.shared} reused{elsewhere}, "
        f"{len(report.results) - report.shared} run; tracked in {redact(tracker.tracking_uri)}",
        highlight=False,
    )
    table = Table(title="Every recorded unit of each entry (run now or before)")
    for column in ("scenario", "model", "units", "failures", "metrics (mean ± std)"):
        table.add_column(column, no_wrap=column in _IDENTIFIER_COLUMNS)
    for row in summary:
        metrics = row["metrics"]
        assert isinstance(metrics, dict)
        # One metric per line: a narrow terminal or a CI log wraps lines, never names.
        text = "\n".join(
            f"{k} {fmt_mean_std(v['mean'], v['std'], bound=v.get('bound', ''))}"
            for k, v in metrics.items()
        )
        if console.width < _WIDE_TABLE:
            _plain(
                f"{row['scenario']}  {row['model']}: {row['units']} units, "
                f"{row['failures']} failed\n    " + text.replace("\n", "\n    ")
            )
        else:
            table.add_row(
                str(row["scenario"]),
                str(row["model"]),
                str(row["units"]),
                str(row["failures"]),
                text,
            )
    if console.width >= _WIDE_TABLE:
        console.print(table)
    _report_failures(report, summary)
    return bool(report.failures)


def _live_records(
    tracker: Any, records_dir: Path | None, status: Console, scenario_ids: set[str]
) -> Any:
    """The `--records` folder, its records imported into the store before anything runs."""
    if records_dir is None:
        return None
    from assay.publish.records import LiveRecords

    if records_dir.exists() and not records_dir.is_dir():
        raise AssayError(f"--records {records_dir}: not a folder")
    live = LiveRecords(tracker.client, records_dir)
    imported = live.import_into_store(scenario_ids)
    if imported:
        status.print(
            f"imported {imported} unit runs from {records_dir}", highlight=False, soft_wrap=True
        )
    return live


def _report_failures(report: Any, summary: list[dict[str, Any]]) -> None:
    """Every other unit has finished and is recorded; the caller then exits with 1."""
    if not report.failures:
        return
    err_console.print(
        f"[red]{len(report.failures)} of {len(report.results)} units failed:[/red]",
        highlight=False,
    )
    for row in summary:
        if not row["failures"]:
            continue
        runs = row["failed_runs"]
        where = f"; traceback: artifact error.txt of MLflow run {runs[0]}" if runs else ""
        err_console.print(
            f"  {row['scenario']} {row['model']}: {row['failures']} of {row['units']} failed: "
            f"{row['errors'][0]}{where}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


@app.command()
def run(
    scenario: str,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="registry name or module:Class (repeatable); default: the scenario's models",
        ),
    ] = None,
    size: Annotated[str, typer.Option(help="quick or standard")] = "quick",
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="hyperparameter key=value for every model, or MODEL:key=value for one (repeatable)",
        ),
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="comma-separated seeds, e.g. 0,1,2")] = None,
    folds: Annotated[
        str | None,
        typer.Option(
            help="run only these folds (units, numbered from 0), e.g. 0,2; the entry is "
            "listed unranked on the boards until every fold has run"
        ),
    ] = None,
    data_path: DataPath = None,
    target: Target = None,
    source_param: SourceParam = None,
    executor: Executor = "serial",
    workers: Workers = 2,
    scheduler: Scheduler = None,
    retry_failed: RetryFailed = False,
    as_json: JsonFlag = False,
    records: RecordsOption = None,
) -> None:
    """Run models on one scenario, tracked in MLflow."""
    from assay.engine.runner import GridEntry

    spec = _catalog().scenario(scenario).spec
    if not model and param:
        raise AssayError("--param needs --model: hyperparameters belong to one named model")
    names = list(model or spec.models)
    models = [ModelEntry(name=m, params=p) for m, p in _scoped_params(names, param or []).items()]
    seed_list = _seeds(seeds) if seeds else None
    ref = spec.key
    entry = GridEntry(
        ref,
        models,
        seed_list,
        _source_overrides(data_path, target, source_param or []),
        folds=_integers("--folds", folds) if folds else None,
    )
    if _run([entry], _size(size), executor, workers, scheduler, as_json, retry_failed, [], records):
        raise typer.Exit(1)


@app.command()
def evaluate(
    scenario: str,
    predictions: Annotated[
        Path,
        typer.Option(
            help="CSV of predictions made anywhere: fold, row, y_pred (or y_pred_0..., prob_0...)"
        ),
    ],
    name: Annotated[str, typer.Option(help="the entry's name on the leaderboard")],
    size: Annotated[str, typer.Option(help="quick or standard")] = "quick",
    as_json: JsonFlag = False,
) -> None:
    """Score predictions made outside Assay and track them as a leaderboard entry."""
    import pandas as pd

    from assay.api import load, track_predictions
    from assay.evaluation.stats import fmt_mean_std

    _quiet_libraries()
    if not predictions.is_file():
        raise AssayError(f"predictions file {predictions} does not exist")
    try:
        table = pd.read_csv(predictions)
    except (ValueError, OSError) as exc:
        raise AssayError(f"{predictions}: not a readable CSV ({exc})") from None
    bench = load(scenario, size=_size(size), catalog=_catalog())
    report = track_predictions(bench, table, name=name, origin=str(predictions))
    summary = report.summary()
    if as_json:
        print(json.dumps({"scenario": bench.scenario, "results": summary}, indent=2))
        return
    for row in summary:
        metrics = row["metrics"]
        assert isinstance(metrics, dict)
        text = ", ".join(  # the mean alone; `≥ 222` where it is a bound
            f"{k} {fmt_mean_std(v['mean'], float('nan'), bound=v.get('bound', ''))}"
            for k, v in metrics.items()
        )
        console.print(f"{row['scenario']} {row['model']}: {text}", highlight=False)
    if not summary:
        console.print(f"{bench.scenario} {name}: already tracked ({report.skipped} units)")
    console.print(f"tracked in {_tracking_uri()}", highlight=False, soft_wrap=True)


@suite_app.command("run")
def suite_run(
    file: Path,
    executor: Executor = "serial",
    workers: Workers = 2,
    scheduler: Scheduler = None,
    retry_failed: RetryFailed = False,
    as_json: JsonFlag = False,
    board: Annotated[
        Path | None,
        typer.Option(help="then build the suite's leaderboards into this folder and print them"),
    ] = None,
    records: RecordsOption = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            help="run only the suite's scenarios matching this pattern, e.g. 'hep/*' (repeatable)"
        ),
    ] = None,
) -> None:
    """Run every installed scenario of a suite file (scenario x models x seeds).

    Every unit runs and is recorded; when any failed, the command exits with 1 after
    the summary (and after the leaderboards, with --board)."""
    from assay.engine.runner import entries_from_suite
    from assay.spec import load_suite

    suite = load_suite(file)
    entries, notes = entries_from_suite(suite, _catalog())
    if not entries:
        raise AssayError(f"{file}: none of its scenarios is installed ({'; '.join(notes)})")
    if only:
        from fnmatch import fnmatchcase

        entries = [
            e for e in entries if any(fnmatchcase(e.scenario.split("@")[0], p) for p in only)
        ]
        if not entries:
            raise AssayError(f"{file}: no installed scenario matches --only {' '.join(only)}")
    if board is not None and as_json:
        raise AssayError("--board prints tables, so it does not combine with --json")
    failed = _run(
        entries, suite.size, executor, workers, scheduler, as_json, retry_failed, notes, records
    )
    if board is not None:  # the board is written whatever failed; failures stay on it
        from mlflow.tracking import MlflowClient

        from assay.publish.build import publish_boards

        client = MlflowClient()
        published = publish_boards(client, _catalog(), board, suite=suite, html=True)
        _report_boards(published, board, print_table=not as_json)
    if failed:
        raise typer.Exit(1)


@leaderboard_app.command("build")
def leaderboard_build(
    suite: Annotated[
        Path | None, typer.Option(help="restrict to this suite's scenarios, models and size")
    ] = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("leaderboards"),
    size: Annotated[str, typer.Option(help="size when no suite is given")] = "standard",
    print_table: Annotated[
        bool, typer.Option("--print", help="print the leaderboards as tables")
    ] = False,
    records: Annotated[
        bool, typer.Option(help="write the run records behind each board under OUT/records")
    ] = True,
    html: Annotated[
        bool,
        typer.Option(
            "--html", help="also write the static site: OUT/index.html and a page per board"
        ),
    ] = False,
) -> None:
    """Build Markdown + JSON + PNG leaderboards from MLflow runs.

    Run records committed under OUT/records are imported first into a store that lacks
    them, so a fresh clone rebuilds the same boards without rerunning anything."""
    from mlflow.tracking import MlflowClient

    from assay.engine.store import open_store
    from assay.publish.build import publish_boards
    from assay.spec import load_suite

    _quiet_libraries()
    client = MlflowClient()
    open_store(client.tracking_uri)
    published = publish_boards(
        client,
        _catalog(),
        out,
        suite=load_suite(suite) if suite is not None else None,
        size=_size(size),
        html=html,
        records=records,
    )
    _report_boards(published, out, print_table=print_table)


def _report_boards(published: Any, out: Path, *, print_table: bool) -> None:
    """What a board build wrote, then each board as a table with `--print`."""
    from assay.evaluation.stats import interval_text
    from assay.publish.board import QUICK_NOTE
    from assay.publish.rendering import mean_std, rank_text

    boards, written = published.boards, published.written
    if published.imported:
        console.print(
            f"imported {published.imported} unit runs from the records under {out}/records/",
            soft_wrap=True,
            highlight=False,
        )
    console.print(
        f"wrote {len(written)} files for {len(boards)} scenarios under {out}/",
        soft_wrap=True,
        highlight=False,
    )
    if print_table:
        for board in boards:
            table = Table(
                title=f"{board.scenario}@{board.version} ({board.size}): {board.primary}, "
                f"{board.direction}" + (f"; data {board.data_label}" if board.data_file else "")
            )
            for column in (
                "rank",
                "model",
                "mean ± std",
                "95 % CI",
                "normalised",
                "fit s",
                "failed",
            ):
                table.add_column(column, no_wrap=column in _IDENTIFIER_COLUMNS)
            narrow = console.width < _WIDE_TABLE
            if narrow:
                _plain(str(table.title))
            for e in board.entries:
                p = e.metrics.get(board.primary)
                cells = (
                    rank_text(e),
                    e.model,
                    mean_std(p),
                    interval_text(p) if p else "n/a",
                    "-" if e.normalised is None else f"{e.normalised:.3f}",
                    f"{e.fit_seconds:.3g}",
                    f"{e.failures}/{e.units}",
                )
                if narrow:
                    _plain(
                        f"  {cells[0]:>4}  {cells[1]}: {cells[2]} {cells[3]}, normalised "
                        f"{cells[4]}, fit {cells[5]} s, failed {cells[6]}"
                    )
                else:
                    table.add_row(*cells)
            if not narrow:
                console.print(table)
            if board.smoke_test:
                console.print(QUICK_NOTE, highlight=False)


@app.command("check-plugin")
def check_plugin(name: str) -> None:
    """Run the conformance kit on one installed plugin."""
    import tempfile

    catalog = _catalog()
    failure = next((f for f in catalog.failures if f.name == name), None)
    if failure is not None:
        raise AssayError(f"plugin '{name}' failed to load: {failure.error}")
    if name not in catalog.plugins:
        raise AssayError(
            f"no plugin named '{name}' (installed: {', '.join(sorted(catalog.plugins))})"
        )
    from assay.conformance.checks import conformance_checks

    failed = 0
    for check in conformance_checks(catalog.plugins[name]):
        with tempfile.TemporaryDirectory() as workdir:
            try:
                check.run(Path(workdir))
            except Exception as exc:
                failed += 1
                console.print(f"[red]FAIL[/red] {check}: {type(exc).__name__}: {exc}")
            else:
                console.print(f"[green]ok[/green]   {check}")
    if failed:
        raise AssayError(f"plugin '{name}': {failed} conformance checks failed")


def _register_more() -> None:
    from assay.cli import data as cli_data
    from assay.cli import publish as cli_publish

    cli_publish.register(app)
    cli_data.register(data_app)


_register_more()


def main() -> None:
    try:
        # Without standalone mode, click returns the code of a `typer.Exit` instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except AssayError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except (typer.Exit, SystemExit) as exc:
        code = exc.exit_code if isinstance(exc, typer.Exit) else exc.code
        sys.exit(code if isinstance(code, int) else 0)
    except Exception as exc:  # usage errors come through standalone_mode=False
        import click

        # typer vendors its own copy of click, so both exception families occur.
        show = getattr(exc, "show", None)
        if isinstance(exc, click.ClickException | typer.TyperException) and callable(show):
            show()
            sys.exit(getattr(exc, "exit_code", 2))
        raise


if __name__ == "__main__":
    main()


@plugin_app.command("new")
def plugin_new(
    name: Annotated[str, typer.Argument(help="the plugin's name: assay-NAME, import assay_NAME")],
    dest: Annotated[Path, typer.Option(help="the folder of plugin packages")] = Path("packages"),
) -> None:
    """Write a working skeleton plugin under DEST/NAME: package, scenario, source, models
    and tests that call the kit. As written, `nox -s "tests(package='NAME')"` passes."""
    from assay.cli.scaffold import new_plugin

    target = new_plugin(name, dest)
    console.print(
        f"wrote the plugin {name} under {target}/\n"
        f"next: pip install -e {target}  (then `assay list` shows {name}/pendulum)\n"
        f"      nox -s \"tests(package='{name}')\"",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
