"""The alloy-discovery closed loop: find the most stable EMT alloys with few relaxations.

The pool is the emt-alloys dataset: every decoration was relaxed with EMT
once, when the data were generated (cached per chunk), so a campaign's
"measurement" reads the precomputed relaxation instead of running it again
and many seeds cost nothing. Each measurement still reports its cost: the
BFGS steps times the atoms of the cell (force evaluations x atoms, what a
real relaxation would spend). Values are the negative formation energy
(eV/atom), maximised, so the campaign hunts the lowest formation energies;
the pool's on-hull structures ride along for the record.

Candidates carry Magpie-style composition statistics and geometry as
features (what the core's surrogate policies fit on) and the structures as
inputs (what the foundation-prior policies read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from assay.kit import (
    Candidates,
    DataError,
    Dataset,
    Environment,
    History,
    Measurement,
    NotInstalledError,
)

if TYPE_CHECKING:
    from assay_materials.foundation import Potential


class AlloyPool(Environment):
    """Every structure of an emt-alloys dataset is a candidate; measuring one reveals its
    EMT formation energy (negated) at the cost of its relaxation."""

    def __init__(self, dataset: Dataset) -> None:
        if dataset.targets is None:
            raise DataError(f"dataset '{dataset.metadata.name}' has no formation energies")
        if "steps" not in dataset.extras:
            raise DataError(
                f"dataset '{dataset.metadata.name}' has no relaxation steps; the alloy pool "
                "needs the materials.emt_alloys source"
            )
        from assay_materials.models import composition_and_structure

        values = -np.asarray(dataset.targets, dtype=float)
        ids = [str(i) for i in range(len(values))]
        self.pool = Candidates.pool(ids, composition_and_structure(dataset), dataset.inputs)
        self._values = dict(zip(ids, values.tolist(), strict=True))
        atoms = np.array([len(s) for s in dataset.inputs], dtype=float)
        cost = np.asarray(dataset.extras["steps"], dtype=float) * atoms
        self._cost = dict(zip(ids, cost.tolist(), strict=True))
        self.optimum = float(values.max())

    def reset(self, seed: int) -> Candidates:
        del seed  # the pool is fixed and EMT is deterministic: nothing to seed
        return self.pool

    def measure(self, batch: Candidates) -> Measurement:
        ids = batch.ids.tolist()
        truth = np.array([self._values[i] for i in ids])
        cost = np.array([self._cost[i] for i in ids])
        return Measurement(values=truth, truth=truth, cost=cost)

    def pool_values(self) -> Mapping[str, float]:
        return self._values


class FoundationPrior:
    """Measures the candidates a foundation potential predicts most stable first (zero-shot,
    nothing fitted): a foundation model's prior, against the core's policies that learn from
    measurements. Subclasses name the potential."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.potential().require(self.name, kind="policy", error=NotInstalledError)

    def potential(self) -> Potential:
        raise NotImplementedError

    def _prior(self, candidates: Candidates) -> np.ndarray[Any, Any]:
        """The zero-shot values, negated (kept on disk per structure by
        `Potential.zero_shot_formation`, so the seeds of a campaign ask the potential once)."""
        from assay.kit import DatasetMetadata

        if candidates.inputs is None:
            raise DataError(f"policy '{self.name}' needs candidates with structures")
        inputs = np.empty(len(candidates), dtype=object)
        inputs[:] = list(candidates.inputs)
        meta = DatasetMetadata(name="candidates", version="1", provenance="campaign", licence="n/a")
        data = Dataset(inputs=inputs, targets=None, metadata=meta)
        return -self.potential().zero_shot_formation(data)

    def suggest(self, history: History, candidates: Candidates, q: int, *, seed: int) -> Candidates:
        del history, seed  # a fixed prior: the order never changes
        order = np.argsort(-self._prior(candidates), kind="stable")
        return candidates.take(order[:q])


class CHGNetPriorPolicy(FoundationPrior):
    name = "materials.chgnet_prior"

    def potential(self) -> Potential:
        from assay_materials.chgnet import CHGNET

        return CHGNET


class SevenNetPriorPolicy(FoundationPrior):
    name = "materials.sevennet_prior"

    def potential(self) -> Potential:
        from assay_materials.sevennet import SEVENNET

        return SEVENNET
