"""Molecular cross-validation (Batson, Royer & Webber, 2019): the protocol; its
metrics are in `metrics`.

Each unit splits every UMI of the count matrix binomially: 90 % into the
counts a model sees, 10 % held out. A denoiser that recovers the true
expression predicts the held-out counts better than the noisy 90 % do.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from assay.kit import (
    DataError,
    Dataset,
    EvaluationProtocol,
    Params,
    Plan,
    Predictions,
    ProtocolSpec,
    ScenarioSpec,
    SpecError,
    UnitContext,
    UnitOutput,
    fitted_choice_tags,
    parse_params,
    stable_hash,
)
from pydantic import Field

if TYPE_CHECKING:
    from assay.kit import Catalog
    from scipy import sparse

HELD_OUT_FRACTION = 0.1


def binomial_split(
    counts: sparse.csr_matrix, fraction: float, seed: int
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Every molecule goes to the held-out half with probability `fraction` (MCV)."""
    rng = np.random.default_rng(seed)
    held = counts.copy()
    held.data = rng.binomial(counts.data.astype(np.int64), fraction).astype(np.float64)
    seen = counts.copy().astype(np.float64)
    seen.data = counts.data - held.data
    seen.eliminate_zeros()
    held.eliminate_zeros()
    return seen, held


class MCVParams(Params):
    """`[protocol] params` of molecular cross-validation."""

    held_out_fraction: float = Field(default=HELD_OUT_FRACTION, gt=0, lt=1)
    """The share of every cell's counts held out for scoring."""


class MolecularCrossValidation(EvaluationProtocol):
    """One unit per binomial split (`repeats` of them, seeds split_seed, split_seed + 1, ...):
    the model fits on the 90 % counts of every cell and returns their denoised matrix;
    it is scored against the 10 % it never saw."""

    name = "lifesci.mcv"

    def plan(
        self, spec: ScenarioSpec, protocol: ProtocolSpec, dataset: Dataset, catalog: Catalog
    ) -> Plan:
        del catalog
        if not hasattr(dataset.inputs, "tocsr"):  # a scipy sparse count matrix
            raise DataError(f"scenario {spec.key}: molecular cross-validation needs a count matrix")
        origin = f"scenario {spec.key}: protocol.params"
        params = parse_params(origin, MCVParams, protocol.params, error=SpecError)
        fraction = params.held_out_fraction
        seeds = [protocol.split_seed + r for r in range(protocol.repeats)]
        sha = stable_hash(
            {
                "protocol": self.name,
                "fraction": fraction,
                "seeds": seeds,
                "data": dataset.metadata.sha256,
            }
        )
        return Plan(sha, tuple(f"mcv{s}" for s in seeds), payload=fraction)

    def run(self, context: UnitContext) -> UnitOutput:
        split_seed = int(context.unit.removeprefix("mcv"))
        seen, held = binomial_split(context.dataset.inputs, context.plan.payload, split_seed)
        train = Dataset(inputs=seen, targets=None, metadata=context.dataset.metadata)
        start = time.perf_counter()
        context.model.fit(train, seed=context.seed)
        fitted = time.perf_counter()
        denoised = np.asarray(context.model.predict(train).values, dtype=np.float64)
        predicted = time.perf_counter()
        if denoised.shape != seen.shape:
            raise DataError(
                f"model '{context.model_name}' returned a {denoised.shape} matrix for "
                f"{seen.shape} counts"
            )
        if not np.all(np.isfinite(denoised)):
            raise DataError(f"model '{context.model_name}' returned non-finite values")
        # Open Problems rescales the denoised matrix to the held-out total before scoring.
        scaled = denoised * (held.sum() / max(float(denoised.sum()), 1e-12))
        truth = held.toarray()
        return UnitOutput(
            metrics={m.name: m(truth, Predictions(values=scaled)) for m in context.metrics},
            fit_seconds=fitted - start,
            predict_seconds=predicted - fitted,
            info={
                "split_seed": str(split_seed),
                "held_out_fraction": str(context.plan.payload),
                "n_cells": str(seen.shape[0]),
                "n_genes": str(seen.shape[1]),
                **{f"fitted.{k}": v for k, v in fitted_choice_tags(context.model).items()},
            },
        )
