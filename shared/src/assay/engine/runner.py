"""The runner: expands (scenario x model x unit x seed) and runs the grid.

Data is prepared (and the split planned) in the driver before anything is
dispatched, so workers hit a verified cache. Units already in MLflow are
skipped, so a suite killed at any point resumes without duplicates or losses.
A unit another entry already computed (same run key; only the label differs)
is copied under this entry's parent, not run again.
Results are written to MLflow by the driver as they arrive (through a server, on a
thread of their own beside the next units: `assay.engine.recorder`). A unit is claimed
in MLflow just before it is dispatched, so drivers sharing a store split the
work between them, and a unit another live driver holds is left to it.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from assay.data.cache import DataCache
from assay.data.dataset import stable_hash
from assay.data.user_files import UserFileSource
from assay.engine.executors import Executor
from assay.engine.recorder import Recorder
from assay.engine.tracking import Tracker, stored_result
from assay.engine.units import Prepared, UnitResult, UnitTask, prepare
from assay.errors import AssayError, UnknownNameError
from assay.evaluation.metrics import BOUND_INFO, combined_bound
from assay.evaluation.requirements import check_requirements
from assay.evaluation.stats import describe
from assay.plugin import Catalog
from assay.spec import ModelEntry, Size, SuiteSpec


@dataclass(frozen=True)
class GridEntry:
    scenario: str
    models: Sequence[ModelEntry]
    seeds: Sequence[int] | None = None
    source_params: dict[str, Any] = field(default_factory=dict)
    folds: Sequence[int] | None = None
    """Run only these units (positions in the plan, e.g. folds 0 and 2); None runs all.
    Recorded as such: a board never ranks an entry that lacks some of its units."""


@dataclass
class GridReport:
    results: list[UnitResult] = field(default_factory=list)
    skipped: int = 0
    reused: int = 0
    """Units recorded from another entry's identical computation (only the label differs)."""
    shared: int = 0
    """Units of this run recorded from one computation shared with another entry."""
    planned: int = 0
    elsewhere: int = 0
    """Units that another live driver had claimed: left to it, not run here."""
    notes: list[str] = field(default_factory=list)
    data_notes: dict[str, None] = field(default_factory=dict)
    """What the sources reported about the data (dropped rows, merged duplicates), in order."""
    stored: list[UnitResult] = field(default_factory=list)
    """Units of the grid recorded before (a resumed or repeated command) or copied from
    another entry: read from the store, so a summary describes every unit of an entry."""

    @property
    def failures(self) -> list[UnitResult]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> list[dict[str, object]]:
        """Per scenario, model and metric: mean, std over folds (seeds averaged first, as on
        the boards), n and failures (what `--json` prints), over every unit of the grid
        that is recorded: run now or before (a resumed command describes all its units)."""
        groups: dict[tuple[str, str], list[UnitResult]] = defaultdict(list)
        for result in [*self.results, *self.stored]:
            groups[(result.task.scenario, result.task.model.display_name)].append(result)
        rows: list[dict[str, object]] = []
        for (scenario, model), results in sorted(groups.items()):
            ok = [r for r in results if r.ok]
            metric_names = sorted({m for r in ok for m in r.metrics})
            metrics: dict[str, dict[str, object]] = {}
            for name in metric_names:
                by_unit = {
                    (r.task.unit, r.task.seed): r.metrics[name] for r in ok if name in r.metrics
                }
                mean, std, n = describe(by_unit)
                bound = combined_bound(r.info.get(f"{BOUND_INFO}{name}") for r in ok)
                # "bound" only where the mean is a bound (some unit's value was capped)
                metrics[name] = {
                    "mean": mean,
                    "std": std,
                    "n": n,
                    **({"bound": bound} if bound else {}),
                }
            failed = [r for r in results if not r.ok]
            rows.append(
                {
                    "scenario": scenario,
                    "model": model,
                    "units": len(results),
                    "failures": len(failed),
                    "errors": list(dict.fromkeys(r.error for r in failed))[:5],
                    "failed_runs": [r.run_id for r in failed if r.run_id and r.error_detail][:5],
                    "metrics": metrics,
                }
            )
        return rows


def entries_from_suite(suite: SuiteSpec, catalog: Catalog) -> tuple[list[GridEntry], list[str]]:
    """Grid entries for the suite's scenarios that are installed; notes for the plugins that
    are not. A scenario missing from an installed plugin is an error (a typo), raised
    before anything runs."""
    entries, notes = [], []
    for entry in suite.entries:
        plugin = entry.scenario.split("/", 1)[0]
        ref = entry.scenario
        if plugin not in catalog.plugins:
            notes.append(f"skipped {ref}: plugin '{plugin}' is not installed")
            continue
        if ref not in catalog.scenarios and ref.split("@")[0] not in {
            s.spec.id for s in catalog.scenarios.values()
        }:
            close = difflib.get_close_matches(ref, sorted(catalog.scenarios), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UnknownNameError(
                f"suite entry '{ref}': plugin '{plugin}' has no such scenario{hint}"
            )
        models = entry.model_entries() or [
            ModelEntry(name=m) for m in catalog.scenario(ref).spec.models
        ]
        entries.append(GridEntry(ref, models, entry.seeds or suite.seeds))
    return entries, notes


def plan_grid(
    catalog: Catalog,
    entries: Sequence[GridEntry],
    size: Size,
    *,
    cache: DataCache | None = None,
    on_prepare: Callable[[str], None] | None = None,
) -> list[UnitTask]:
    """Prepare every scenario's data and plan, then list its units in a stable order."""
    tasks: list[UnitTask] = []
    for entry in entries:
        if on_prepare:
            on_prepare(entry.scenario)
        prepared = prepare(catalog, entry.scenario, size, cache, entry.source_params)
        seeds = list(entry.seeds) if entry.seeds else prepared.seeds
        evaluation = catalog.protocols.get(prepared.protocol.name)
        for model in entry.models:  # a misspelt model is a user error before anything runs
            factory = evaluation.resolve_entry(model.name, model.params, catalog)
            check_requirements(model.name, factory, prepared.dataset, scenario=entry.scenario)
        chosen = _chosen_folds(entry, prepared)
        user_data = _user_data(catalog, prepared, entry)
        for model in entry.models:
            planned = unit_tasks(prepared, model, seeds, size, entry.source_params)
            if user_data:
                planned = [replace(t, user_data=user_data) for t in planned]
            if chosen:
                total = len(prepared.plan.units)
                names = {prepared.plan.units[i] for i in chosen}
                planned = [
                    replace(t, folds_chosen=chosen, folds_total=total)
                    for t in planned
                    if t.unit in names
                ]
            tasks += planned
    return tasks


def _user_data(catalog: Catalog, prepared: Prepared, entry: GridEntry) -> str:
    """The name of the data when the user pointed a user-file source at their own."""
    source = prepared.registered.spec.source
    if not entry.source_params or source is None:
        return ""
    if not isinstance(catalog.source(source.name), UserFileSource):
        return ""
    return prepared.dataset.metadata.name or "data"


def _chosen_folds(entry: GridEntry, prepared: Prepared) -> tuple[int, ...]:
    """The positions `--folds` chose, checked against the plan; empty when all run."""
    if entry.folds is None:
        return ()
    n = len(prepared.plan.units)
    chosen = tuple(sorted(set(entry.folds)))
    outside = [i for i in chosen if not 0 <= i < n]
    if outside or not chosen:
        raise AssayError(
            f"--folds {','.join(map(str, entry.folds))}: {entry.scenario} has {n} units "
            f"at this size, numbered 0 to {n - 1}"
        )
    return () if len(chosen) == n else chosen


def unit_tasks(
    prepared: Prepared,
    model: ModelEntry,
    seeds: Sequence[int],
    size: Size,
    source_params: dict[str, Any] | None = None,
) -> list[UnitTask]:
    """One model's units on a prepared scenario, in a stable order (unit, then seed)."""
    spec = prepared.registered.spec
    protocol_sha = stable_hash(prepared.protocol.model_dump(mode="json"))[:16]
    return [
        UnitTask(
            scenario=spec.key,
            size=size,
            unit=unit,
            seed=seed,
            model=model,
            time_limit_s=spec.budget.time_limit_s,
            data_sha=prepared.dataset.metadata.sha256,
            split_sha=prepared.plan.split_sha,
            source_params=dict(source_params or {}),
            dataset=prepared.dataset.metadata,
            protocol_sha=protocol_sha,
            metrics=tuple(m.name for m in spec.metrics),
            plugin_version=prepared.registered.plugin_version,
        )
        for unit in prepared.plan.units
        for seed in seeds
    ]


def run_grid(
    catalog: Catalog,
    tasks: Sequence[UnitTask],
    executor: Executor,
    tracker: Tracker,
    *,
    retry_failed: bool = False,
    on_result: Callable[[UnitResult], None] | None = None,
) -> GridReport:
    """Run the units not yet in MLflow and record each as it finishes."""
    report = GridReport(planned=len(tasks))
    for task in tasks:
        notes = task.dataset.notes if task.dataset is not None else ()
        report.data_notes.update({f"{task.scenario}: {note}": None for note in notes})
    specs = {t.scenario: catalog.scenario(t.scenario) for t in tasks}
    parents: dict[str, str] = {}
    todo: list[UnitTask] = []
    reused: list[tuple[UnitTask, str]] = []
    state_runs: dict[str, Any] = {}
    for key, registered in specs.items():
        state = tracker.resume_state(registered.spec)
        parents.update(state.parents)
        state_runs.update(state.runs)
        for task in (t for t in tasks if t.scenario == key):
            recorded = (task.parent_key, task.run_key)
            if retry_failed and state.recorded.get(recorded) in state.failed:
                tracker.discard(state.recorded.pop(recorded))
            if recorded in state.recorded:
                report.skipped += 1
                run = state.runs[state.recorded[recorded]]
                report.stored.append(stored_result(task, run))
            elif recorded in state.elsewhere:
                report.elsewhere += 1
            elif task.run_key in state.finished:
                reused.append((task, state.finished[task.run_key]))
            else:
                todo.append(task)
    for task in [*todo, *(task for task, _ in reused)]:  # parents exist before any child
        registered = specs[task.scenario]
        tracker.parent_run(registered.spec, task, registered.plugin, parents, task.dataset)
    for task, source_id in reused:
        run_id = tracker.reuse_unit(
            specs[task.scenario].spec, parents[task.parent_key], task, source_id
        )
        report.stored.append(replace(stored_result(task, state_runs[source_id]), run_id=run_id))
        report.reused += 1
    remaining: dict[str, int] = defaultdict(int)
    for task in todo:
        remaining[task.parent_key] += 1
    # Equal run keys are one computation: run the first, record it under every entry.
    same_key: dict[str, list[UnitTask]] = defaultdict(list)
    for task in todo:
        same_key[task.run_key].append(task)
    distinct = [group[0] for group in same_key.values()]
    claims: dict[tuple[str, str], str] = {}
    closed: set[str] = set()

    def claim(task: UnitTask) -> bool:
        parent_id = parents[task.parent_key]
        run_id = tracker.claim_unit(specs[task.scenario].spec, parent_id, task)
        if run_id is None:  # its copies wait for a later run, which reuses the result
            report.elsewhere += len(same_key[task.run_key])
            return False
        claims[(task.parent_key, task.run_key)] = run_id
        heartbeat.add(run_id)
        return True

    def record(computed: UnitResult) -> None:
        """Every copy of a computed unit, the first on its claim; an entry whose units are
        all in is summed up on its parent."""
        claim_key = (computed.task.parent_key, computed.task.run_key)
        claim_id = claims[claim_key]
        source_id = ""
        for copy, task in enumerate(same_key[computed.task.run_key]):
            result = replace(computed, task=task)
            spec = specs[task.scenario].spec
            result.run_id = tracker.record_unit(
                spec,
                parents[task.parent_key],
                result,
                reused_from=source_id,
                run_id=None if copy else claim_id,
            )
            if not copy:  # the claim is now a record
                del claims[claim_key]
                heartbeat.discard(claim_id)
            source_id = source_id or result.run_id
            report.shared += int(copy > 0)
            report.results.append(result)
            if on_result:
                on_result(result)
            remaining[task.parent_key] -= 1
            if remaining[task.parent_key] == 0:
                tracker.finish_parent(spec, parents[task.parent_key], task.parent_key)
                closed.add(task.parent_key)

    with tracker.heartbeat() as heartbeat:
        try:
            with Recorder(background=tracker.remote) as recorder:
                for computed in executor.run(distinct, claim=claim):
                    recorder.submit(functools.partial(record, computed))
        finally:  # interrupted: say so now rather than leave the claims to the lease
            for run_id in claims.values():
                with contextlib.suppress(Exception):
                    tracker.abandon(run_id, "its driver stopped before the unit finished")
    # Parents whose units were all done before (a resumed run), or all claimed by
    # another driver, are closed here too.
    for task in tasks:
        if task.parent_key not in closed and task.parent_key in parents:
            tracker.finish_parent(
                specs[task.scenario].spec, parents[task.parent_key], task.parent_key
            )
            closed.add(task.parent_key)
    return report
