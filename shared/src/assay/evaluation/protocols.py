"""Evaluation protocols: how a scenario turns a model into scores.

`supervised` is built in: folds from a split, fit on train (with an optional
validation carve-out), predict test, score. A plugin can register another
protocol, for example a closed loop in which the model picks the next
experiments and a simulator answers: it plans its units (one per repeat, say)
and runs one unit at a time, returning the same `UnitOutput`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from assay.data.dataset import Dataset
from assay.data.splits import Fold, Split, carve_validation, make_split, rows_sha
from assay.errors import DataError
from assay.evaluation.metrics import Metric
from assay.evaluation.models import build_model, fitted_choice_tags, resolve_model
from assay.evaluation.predictions import Predictions
from assay.spec import ProtocolSpec, ScenarioSpec

if TYPE_CHECKING:
    from assay.plugin import Catalog


@dataclass(frozen=True)
class Plan:
    """The units of one scenario: their names and one sha that pins how they were cut."""

    split_sha: str
    units: tuple[str, ...]
    payload: Any = None
    """Protocol-private state (the `Split` for supervised), rebuilt deterministically per process."""


@dataclass(frozen=True)
class UnitContext:
    spec: ScenarioSpec
    protocol: ProtocolSpec
    dataset: Dataset
    plan: Plan
    unit: str
    seed: int
    model: Any
    """What the protocol's `build_entry` made: a `Model` (supervised), a policy (closed loop)."""
    model_name: str
    metrics: Sequence[Metric]


@dataclass
class UnitOutput:
    metrics: dict[str, float]
    fit_seconds: float
    predict_seconds: float
    predictions: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    """Columns of the predictions artifact (row, y_true, y_pred, ...)."""
    steps: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    """Step metrics (name -> (step, value) pairs), such as a campaign's best-so-far per round."""
    info: dict[str, str] = field(default_factory=dict)
    """Tagged on the unit's run as `assay.info.<name>`. The supervised protocol
    puts the set sizes here, and each of the model's fitted choices as
    `fitted.<name>` (another protocol calls `assay.evaluation.models.fitted_choice_tags`)."""


class EvaluationProtocol(ABC):
    name: str

    @abstractmethod
    def plan(
        self, spec: ScenarioSpec, protocol: ProtocolSpec, dataset: Dataset, catalog: Catalog
    ) -> Plan:
        """The units to run; must be deterministic given the spec and the data."""

    @abstractmethod
    def run(self, context: UnitContext) -> UnitOutput:
        """Run one unit and score it."""

    def resolve_entry(self, name: str, params: Mapping[str, Any], catalog: Catalog) -> Any:
        """Check an entry's name and parameters before anything runs (a model by default;
        a closed loop's entries are policies); the factory, whose declared requirements
        (`assay.evaluation.requirements`) the runner checks against the data."""
        return resolve_model(name, params, catalog.models)

    def build_entry(self, name: str, params: Mapping[str, Any], catalog: Catalog) -> Any:
        """What fills the model slot of a unit: a fresh model by default."""
        return build_model(name, params, catalog.models)


def score(
    metrics: Sequence[Metric], y_true: npt.NDArray[Any], predictions: Any
) -> dict[str, float]:
    return {metric.name: metric(y_true, predictions) for metric in metrics}


def prediction_columns(
    rows: npt.NDArray[Any],
    y_true: npt.NDArray[Any] | None,
    predictions: Any,
    ids: npt.NDArray[Any] | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """The predictions table: `row` (index in the dataset), `id` (the row's identifier,
    where the dataset has one), `y_true`, then the predicted columns."""
    columns: dict[str, npt.NDArray[Any]] = {"row": rows}
    if ids is not None:
        columns["id"] = np.asarray(ids)
    if y_true is not None:
        columns["y_true"] = np.asarray(y_true)
    values = np.asarray(predictions.values)
    if values.ndim == 1:
        columns["y_pred"] = values
    else:
        for k in range(values.shape[1]):
            columns[f"y_pred_{k}"] = values[:, k]
    if predictions.uncertainty is not None:
        columns["uncertainty"] = np.asarray(predictions.uncertainty)
    if predictions.probabilities is not None:
        probs = np.asarray(predictions.probabilities)
        for k in range(probs.shape[1] if probs.ndim == 2 else 0):
            columns[f"prob_{k}"] = probs[:, k]
    return columns


def predictions_from_columns(
    frame: Any,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any], Predictions]:
    """Rows, true targets and predictions back from a predictions table (the inverse of
    `prediction_columns`), so stored predictions can be scored again."""
    columns = list(frame.columns)
    predicted = sorted(
        (c for c in columns if c.startswith("y_pred_")), key=lambda c: int(c.rsplit("_", 1)[1])
    )
    values = frame[predicted].to_numpy() if predicted else frame["y_pred"].to_numpy()
    probs = sorted(
        (c for c in columns if c.startswith("prob_")), key=lambda c: int(c.rsplit("_", 1)[1])
    )
    return (
        frame["row"].to_numpy(dtype=np.int64),
        frame["y_true"].to_numpy(),
        Predictions(
            values=values,
            probabilities=frame[probs].to_numpy(dtype=np.float64) if probs else None,
            uncertainty=frame["uncertainty"].to_numpy(dtype=np.float64)
            if "uncertainty" in columns
            else None,
        ),
    )


def _groups_kept_whole(split: Split, fold: Fold, dataset: Dataset) -> npt.NDArray[Any] | None:
    """The groups when the split keeps them whole, so validation does too; else None.

    A splitter that declares it keeps groups does; any other (circuits by
    depth, say) does when no group has rows on both sides of the fold.
    Validation rows cut from inside a group would share that group's
    information with the fit rows.
    """
    if dataset.groups is None:
        return None
    groups = np.asarray(dataset.groups)
    if split.keeps_groups:
        return groups
    straddling = np.intersect1d(groups[fold.train], groups[fold.test])
    return groups if straddling.size == 0 else None


def fit_and_valid_rows(
    split: Split, fold: Fold, dataset: Dataset, valid_fraction: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The rows a model fits on and validates on: the fold's own validation rows as given,
    else a seeded carve of its training rows (groups kept whole where the split keeps
    them). `assay run` and the data-only `assay.load` both cut this way."""
    if fold.valid is not None:
        return fold.train, fold.valid
    return carve_validation(
        fold.train, valid_fraction, seed, _groups_kept_whole(split, fold, dataset)
    )


class SupervisedProtocol(EvaluationProtocol):
    name = "supervised"

    def plan(
        self, spec: ScenarioSpec, protocol: ProtocolSpec, dataset: Dataset, catalog: Catalog
    ) -> Plan:
        if dataset.targets is None or spec.source is None:
            raise DataError(f"scenario {spec.key}: the supervised protocol needs targets")
        split: Split = make_split(
            dataset,
            protocol.split,
            folds=protocol.folds,
            repeats=protocol.repeats,
            seed=protocol.split_seed,
            params=protocol.params,
            splitters=catalog.splits,
        )
        return Plan(split.sha256, tuple(f.name for f in split.folds), payload=split)

    def run(self, context: UnitContext) -> UnitOutput:
        split: Split = context.plan.payload
        fold = next(f for f in split.folds if f.name == context.unit)
        dataset = context.dataset
        fit_rows, valid_rows = fit_and_valid_rows(
            split, fold, dataset, context.protocol.valid_fraction, context.seed
        )
        train = dataset.subset(fit_rows)
        valid = dataset.subset(valid_rows) if len(valid_rows) else None
        test = dataset.subset(fold.test)
        start = time.perf_counter()
        context.model.fit(train, valid=valid, seed=context.seed)
        fitted = time.perf_counter()
        choices = fitted_choice_tags(context.model)
        predictions = context.model.predict(test.without_targets())
        predicted = time.perf_counter()
        predictions.validate(len(test), model=context.model_name)
        assert test.targets is not None
        return UnitOutput(
            metrics=score(context.metrics, test.targets, predictions),
            fit_seconds=fitted - start,
            predict_seconds=predicted - fitted,
            predictions=prediction_columns(fold.test, test.targets, predictions, test.row_ids()),
            info={
                "n_train": str(len(train)),
                "n_valid": str(len(valid_rows)),
                "n_test": str(len(test)),
                "test_sha": rows_sha(fold.test),
                **{f"fitted.{name}": value for name, value in choices.items()},
            },
        )
