"""The breeding protocol: train on phenotypes, score against true breeding values.

A breeder never observes true breeding values (TBV), so no model may see
them. The dataset's targets are phenotypes and the TBV ride in
`extras["tbv"]`. This protocol is the core's supervised one (the same
splits, validation carve and leakage checks) with two changes:

- before fitting and predicting it removes the TBV from every row a model
  is handed (the test rows also lose their phenotypes, as in the core);
- it scores `r_phenotype` against the test phenotypes and every other
  metric (`r_tbv`, `slope_bias`) against the test TBV. The predictions
  artifact's `y_true` column is the TBV; the phenotype is stored beside it.

The splitter `breeding.forward` cuts one fold per generation t: train on
generations <= t, test on t + 1 (families never span generations, so it
keeps groups whole).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import (
    DataError,
    Dataset,
    Fold,
    Split,
    SplitError,
    Splitter,
    SupervisedProtocol,
    UnitContext,
    UnitOutput,
    fit_and_valid_rows,
    fitted_choice_tags,
    prediction_columns,
    rows_sha,
)

from assay_breeding.metrics import PHENOTYPE_SCORED

HIDDEN_EXTRAS = frozenset({"tbv"})


def model_view(dataset: Dataset) -> Dataset:
    """The rows without what only the scorer may know (true breeding values)."""
    return replace(
        dataset, extras={k: v for k, v in dataset.extras.items() if k not in HIDDEN_EXTRAS}
    )


class BreedingProtocol(SupervisedProtocol):
    name = "breeding.tbv"

    def run(self, context: UnitContext) -> UnitOutput:
        split: Split = context.plan.payload
        fold = next(f for f in split.folds if f.name == context.unit)
        dataset = context.dataset
        if "tbv" not in dataset.extras:
            raise DataError(
                f"scenario {context.spec.key}: protocol 'breeding.tbv' needs true breeding values "
                "(simulated data); a user's data runs under the supervised protocol"
            )
        fit_rows, valid_rows = fit_and_valid_rows(
            split, fold, dataset, context.protocol.valid_fraction, context.seed
        )
        train = model_view(dataset.subset(fit_rows))
        valid = model_view(dataset.subset(valid_rows)) if len(valid_rows) else None
        test = dataset.subset(fold.test)
        start = time.perf_counter()
        context.model.fit(train, valid=valid, seed=context.seed)
        fitted = time.perf_counter()
        choices = fitted_choice_tags(context.model)
        predictions = context.model.predict(model_view(test).without_targets())
        predicted = time.perf_counter()
        predictions.validate(len(test), model=context.model_name)
        tbv = np.asarray(test.extras["tbv"], dtype=np.float64)
        assert test.targets is not None
        phenotype = np.asarray(test.targets, dtype=np.float64)
        scores = {
            m.name: m(phenotype if m.name in PHENOTYPE_SCORED else tbv, predictions)
            for m in context.metrics
        }
        columns = prediction_columns(fold.test, tbv, predictions)
        columns["phenotype"] = phenotype
        return UnitOutput(
            metrics=scores,
            fit_seconds=fitted - start,
            predict_seconds=predicted - fitted,
            predictions=columns,
            info={
                "n_train": str(len(train)),
                "n_valid": str(len(valid_rows)),
                "n_test": str(len(test)),
                "test_sha": rows_sha(fold.test),
                **{f"fitted.{name}": value for name, value in choices.items()},
            },
        )


def forward_generations(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """Train on generations <= t, test on t + 1, for every t but the last; the same each repeat."""
    del folds, seed
    if "generation" not in dataset.extras:
        raise SplitError(
            f"split 'breeding.forward' needs a generation column; '{dataset.metadata.name}' has none"
        )
    generation: npt.NDArray[Any] = np.asarray(dataset.extras["generation"])
    levels = np.unique(generation)
    if len(levels) < 2:
        raise SplitError("split 'breeding.forward' needs at least two generations")
    out = []
    for r in range(repeats):
        for index, (t, following) in enumerate(itertools.pairwise(levels)):
            out.append(
                Fold(
                    r,
                    index,
                    np.flatnonzero(generation <= t).astype(np.int64),
                    np.flatnonzero(generation == following).astype(np.int64),
                )
            )
    return out


FORWARD = Splitter(forward_generations, keeps_groups=True)
