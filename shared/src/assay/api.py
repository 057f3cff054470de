"""The data-only path, in the style of OGB and TDC: a scenario's folds for your own
training loop, and its evaluator for predictions made anywhere.

    import assay

    bench = assay.load("core/diabetes", size="quick")
    for fold in bench.folds:
        model.fit(fold.train.inputs, fold.train.targets)
        print(fold.name, bench.evaluate(fold, model.predict(fold.test.inputs)))

The folds are exactly those `assay run` uses: the same split, the same
validation rows (the fold's own, or the seeded carve of its training rows),
and test rows handed out without their targets. `evaluate` scores with the
scenario's metrics; `assay evaluate` tracks a whole CSV of predictions as a
leaderboard entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.data.dataset import Dataset, DatasetMetadata, IndexArray, stable_hash
from assay.data.splits import Split, rows_sha
from assay.engine.runner import GridReport, run_grid, unit_tasks
from assay.engine.tracking import Tracker
from assay.engine.units import Claim, Prepared, UnitResult, UnitTask, hardware_tags, prepare
from assay.errors import AssayError, PredictionError
from assay.evaluation.metrics import Metric, bound_info
from assay.evaluation.predictions import Predictions
from assay.evaluation.protocols import fit_and_valid_rows, prediction_columns, score
from assay.plugin import Catalog, process_catalog
from assay.spec import ModelEntry, ScenarioSpec, Size


@dataclass(frozen=True)
class FoldData:
    """One fold: row indices into `Benchmark.dataset` and the datasets they cut."""

    name: str
    train_rows: IndexArray
    valid_rows: IndexArray
    test_rows: IndexArray
    train: Dataset
    valid: Dataset | None
    test: Dataset
    """The test rows without their targets: the evaluator keeps those."""


@dataclass(frozen=True)
class Benchmark:
    scenario: str
    """`id@version`."""
    size: Size
    spec: ScenarioSpec
    dataset: Dataset
    folds: tuple[FoldData, ...]
    metrics: tuple[Metric, ...]
    seed: int
    """The seed the validation rows were carved with (the protocol's first)."""
    split_sha: str

    @property
    def metadata(self) -> DatasetMetadata:
        return self.dataset.metadata

    @property
    def licence(self) -> str:
        return self.dataset.metadata.licence

    def fold(self, name: str) -> FoldData:
        for fold in self.folds:
            if fold.name == name:
                return fold
        known = ", ".join(f.name for f in self.folds)
        raise AssayError(f"{self.scenario} has no fold '{name}' (folds: {known})")

    def evaluate(
        self,
        fold: FoldData | str,
        y_pred: npt.ArrayLike | Predictions,
        *,
        probabilities: npt.ArrayLike | None = None,
    ) -> dict[str, float]:
        """The scenario's metrics for predictions of `fold`'s test rows, in their order."""
        fold = self.fold(fold) if isinstance(fold, str) else fold
        if isinstance(y_pred, Predictions):
            predictions = y_pred
        else:
            predictions = Predictions(
                values=np.asarray(y_pred),
                probabilities=None
                if probabilities is None
                else np.asarray(probabilities, dtype=np.float64),
            )
        predictions = _checked(predictions, len(fold.test_rows), self.scenario, fold.name)
        y_true = np.asarray(self.dataset.targets)[fold.test_rows]
        return score(self.metrics, y_true, predictions)


def _checked(predictions: Predictions, n_rows: int, scenario: str, fold: str) -> Predictions:
    try:
        return predictions.validate(n_rows, model=f"predictions for {scenario} fold {fold}")
    except (TypeError, ValueError) as exc:
        raise PredictionError(f"predictions for {scenario} fold {fold}: {exc}") from None


def load(
    scenario: str,
    *,
    size: Size = "quick",
    source_params: Mapping[str, Any] | None = None,
    catalog: Catalog | None = None,
) -> Benchmark:
    """A supervised scenario's data, folds and evaluator (data cached as for `assay run`)."""
    if size not in ("quick", "standard"):
        raise AssayError(f"size must be 'quick' or 'standard', not '{size}'")
    catalog = catalog or process_catalog()
    prepared = prepare(catalog, scenario, size, source_params=source_params)
    if prepared.protocol.name != "supervised":
        raise AssayError(
            f"{prepared.registered.spec.key} uses the '{prepared.protocol.name}' protocol; "
            "assay.load serves supervised scenarios (folds of train and test rows)"
        )
    return benchmark_of(prepared, catalog, size)


def benchmark_of(prepared: Prepared, catalog: Catalog, size: Size) -> Benchmark:
    """The data and folds of a prepared scenario whose protocol cuts folds of rows (the
    supervised family, as `assay data export` writes them); `load` adds that the
    protocol is the plain supervised one, whose scoring `Benchmark.evaluate` repeats."""
    spec = prepared.registered.spec
    split: Split = prepared.plan.payload
    seed = prepared.seeds[0]
    dataset = prepared.dataset
    folds = []
    for fold in split.folds:
        fit_rows, valid_rows = fit_and_valid_rows(
            split, fold, dataset, prepared.protocol.valid_fraction, seed
        )
        folds.append(
            FoldData(
                name=fold.name,
                train_rows=fit_rows,
                valid_rows=valid_rows,
                test_rows=fold.test,
                train=dataset.subset(fit_rows),
                valid=dataset.subset(valid_rows) if len(valid_rows) else None,
                test=dataset.subset(fold.test).without_targets(),
            )
        )
    return Benchmark(
        scenario=spec.key,
        size=size,
        spec=spec,
        dataset=dataset,
        folds=tuple(folds),
        metrics=tuple(catalog.metrics.get(m.name) for m in spec.metrics),
        seed=seed,
        split_sha=split.sha256,
    )


def predictions_by_fold(bench: Benchmark, table: Any, *, origin: str) -> dict[str, Predictions]:
    """Check a predictions table (columns `fold`, `row`, then `y_pred` or `y_pred_<k>`,
    optional `prob_<k>` and `uncertainty`) against the benchmark's folds: every fold,
    exactly its test rows, each once. Returns per fold the predictions in test-row order.
    Any mismatch is one line naming the file."""
    from assay.evaluation.protocols import predictions_from_columns

    columns = set(table.columns)
    missing = {"fold", "row"} - columns
    if missing or not ({"y_pred"} & columns or any(c.startswith("y_pred_") for c in columns)):
        raise PredictionError(
            f"{origin}: needs columns fold, row and y_pred (or y_pred_0, ...); "
            f"has {', '.join(sorted(columns))}"
        )
    table = table.copy()
    table["fold"] = table["fold"].astype(str)
    given = set(table["fold"])
    known = [f.name for f in bench.folds]
    if given - set(known) or set(known) - given:
        raise PredictionError(
            f"{origin}: folds {sorted(given)} do not match {bench.scenario}'s folds {known}"
        )
    out = {}
    for fold in bench.folds:
        part = table[table["fold"] == fold.name].drop(columns=["fold"])
        try:
            rows = part["row"].to_numpy(dtype=np.int64)
        except (TypeError, ValueError):
            raise PredictionError(f"{origin}: fold {fold.name} has non-integer rows") from None
        if len(rows) != len(fold.test_rows) or not np.array_equal(
            np.sort(rows), np.sort(fold.test_rows)
        ):
            raise PredictionError(
                f"{origin}: fold {fold.name} predicts {len(rows)} rows, not exactly its "
                f"{len(fold.test_rows)} test rows (each once)"
            )
        part = part.set_index("row").loc[fold.test_rows].reset_index()
        part["y_true"] = np.asarray(bench.dataset.targets)[fold.test_rows]
        _, _, predictions = predictions_from_columns(part)
        out[fold.name] = _checked(predictions, len(fold.test_rows), bench.scenario, fold.name)
    return out


class _Precomputed:
    """An executor whose units were computed elsewhere: it hands back their results."""

    name = "precomputed"

    def __init__(self, results: Mapping[str, UnitResult]) -> None:
        self.results = results

    def run(self, tasks: Sequence[UnitTask], claim: Claim | None = None) -> Iterator[UnitResult]:
        for task in tasks:
            if claim is None or claim(task):
                yield replace(self.results[task.run_key], task=task)


def track_predictions(
    bench: Benchmark,
    table: Any,
    *,
    name: str,
    origin: str,
    catalog: Catalog | None = None,
    tracker: Tracker | None = None,
) -> GridReport:
    """Score a table of predictions made anywhere and track it as the entry `name`, one
    unit run per fold like any model's, so it appears on the leaderboard. The same file
    tracked again is recognised (its sha is the entry's parameter) and not duplicated."""
    catalog = catalog or process_catalog()
    by_fold = predictions_by_fold(bench, table, origin=origin)
    digest = stable_hash(table.to_csv(index=False))[:16]
    model = ModelEntry(name="external", label=name, params={"predictions_sha256": digest})
    prepared = prepare(catalog, bench.scenario, bench.size)
    tasks = unit_tasks(prepared, model, [bench.seed], bench.size)
    results = {}
    for task in tasks:
        fold = bench.fold(task.unit)
        predictions = by_fold[fold.name]
        y_true = np.asarray(bench.dataset.targets)[fold.test_rows]
        metrics = score(bench.metrics, y_true, predictions)
        results[task.run_key] = UnitResult(
            task,
            "ok",
            metrics={name: float(value) for name, value in metrics.items()},
            predictions=prediction_columns(
                fold.test_rows,
                y_true,
                predictions,
                bench.dataset.subset(fold.test_rows).row_ids(),
            ),
            info={
                "n_train": str(len(fold.train_rows)),
                "n_valid": str(len(fold.valid_rows)),
                "n_test": str(len(fold.test_rows)),
                "test_sha": rows_sha(fold.test_rows),
                "predictions_file": origin[:500],
                **bound_info(metrics),
            },
            environment=hardware_tags(),
        )
    return run_grid(catalog, tasks, _Precomputed(results), tracker or Tracker())
