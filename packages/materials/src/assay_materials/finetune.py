"""A foundation potential fine-tuned on each training fold: `materials.<name>_finetuned`.

The zero-shot model reads the formation energy off the potential as its
energy per atom minus the fraction-weighted energies of the pure metals (the
fixed references of `Potential.reference`). Fine-tuning keeps that reading
and teaches the potential the EMT energies: each structure's target on the
potential's own scale is `formation + sum_i x_i ref_i`, so the network
learns `e_pred - sum_i x_i ref_i = formation`.

- Energy only: the EMT data hold relaxed energies, no forces or stresses.
- A fresh copy of the pretrained weights per fit; the cached network that
  the zero-shot, calibrated and prior models share is never touched.
- Everything but the last `trainable_blocks` interaction blocks and the
  readout is frozen (the advice of the CHGNet and SevenNet authors for small
  data sets). The frozen layers need no gradient, and the structures'
  coordinates carry none (no forces), so the backward pass stops at the
  first trainable block.
- The core's training loop (`TorchModel`): Adam (weight decay 0, so the
  pretrained weights are not pulled toward zero), mini-batches, early
  stopping on the protocol's validation set or `valid_fraction` of the
  training rows, best weights restored, seeded, CPU threads from the unit's
  budget, CUDA when present.
- Each structure becomes the network's graph once per fit (and once per
  predict), not once per epoch. When only the last block trains (the
  default), what the frozen layers compute is fixed, so one pass of them per
  structure stores the last block's inputs and every epoch runs the last
  block and the readout alone. That path is checked against the network's
  own forward at the pretrained weights on every fit; with more trainable
  blocks each epoch runs the whole network.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import (
    Batch,
    Dataset,
    Predictions,
    TorchModel,
    TrainConfig,
    checked,
    current_budget,
    predict_batches,
    require_targets,
    torch_threads,
)
from pydantic import Field
from torch import nn

from assay_materials.deep import _split_valid
from assay_materials.foundation import Potential
from assay_materials.structures import detached, require_structures


@dataclass(frozen=True)
class Joined:
    """One mini-batch for `FormationFromPotential`: the structures' graphs (through the whole
    network) or their joined stored last-block inputs. Built on the model's device, so the
    core's loop has nothing to move."""

    inputs: Any
    stored: bool

    def to(self, device: torch.device) -> Joined:
        del device
        return self


class FormationFromPotential(nn.Module):
    """The potential's energy per atom minus each structure's fixed elemental reference."""

    def __init__(self, potential: Potential, net: nn.Module) -> None:
        super().__init__()
        self.potential = potential
        self.net = net

    def forward(self, batch: Joined, reference: torch.Tensor) -> torch.Tensor:
        if batch.stored:
            energy = self.potential.last_block(self.net, batch.inputs)
        else:
            energy = self.potential.forward(self.net, batch.inputs)
        return energy - reference


class FineTuned(TorchModel):
    """A foundation potential with its last interaction blocks and readout fine-tuned on the
    training fold; subclasses name the potential."""

    potential: ClassVar[Potential]
    name: ClassVar[str]

    @checked
    def __init__(
        self,
        trainable_blocks: Annotated[int, Field(ge=0)] = 1,
        valid_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.1,
        config: TrainConfig | None = None,
    ) -> None:
        self.potential.require(self.name)
        super().__init__(config)
        self.trainable_blocks = trainable_blocks
        self.valid_fraction = valid_fraction

    @property
    def stores_last_block(self) -> bool:
        """Whether everything before the last interaction block is frozen, so its inputs can
        be computed once per structure."""
        return self.trainable_blocks <= 1

    def encode(self, dataset: Dataset) -> tuple[list[Any], npt.NDArray[np.float32]]:
        """Per structure, its graph or the stored inputs of the last block, and its
        fraction-weighted elemental reference (eV/atom)."""
        potential, net = self.potential, self.net_.net
        graphs, references = [], []
        for given in require_structures(dataset.inputs, model=potential.label):
            structure = detached(given)
            references.append(potential.references(structure))
            graphs.append(potential.graph(net, structure, self.device))
        if not self.stores_last_block:
            return graphs, np.asarray(references, dtype=np.float32)
        stored, energies = potential.last_block_inputs(net, graphs)
        with torch.no_grad():
            replayed = potential.last_block(net, potential.join(stored, self.device))
        gap = float((replayed - energies).abs().max())
        if gap > 1e-4:  # a release whose forward this tail no longer mirrors
            raise RuntimeError(
                f"the stored last-block path of {potential.label} {potential.version()} differs "
                f"from its forward by {gap:.2g} eV/atom; run with trainable_blocks=2 (the whole "
                "network each epoch)"
            )
        return stored, np.asarray(references, dtype=np.float32)

    def batches(
        self,
        rows: list[Any],
        references: npt.NDArray[np.float32],
        targets: npt.NDArray[np.float32] | None,
        *,
        shuffle: bool,
    ) -> Any:
        size = self.config.batch_size
        reference = torch.as_tensor(references, device=self.device)
        target = None if targets is None else torch.as_tensor(targets, device=self.device)
        stored = self.stores_last_block

        def join(chosen: list[Any]) -> Joined:
            return Joined(self.potential.join(chosen, self.device) if stored else chosen, stored)

        def batches(rng: np.random.Generator | None) -> Iterable[Batch]:
            n = len(rows)
            order = rng.permutation(n) if shuffle and rng is not None else np.arange(n)
            for start in range(0, n, size):
                idx = order[start : start + size]
                at = torch.as_tensor(idx, device=self.device)
                batch: tuple[Any, ...] = (join([rows[i] for i in idx]), reference[at])
                yield batch if target is None else (*batch, target[at])

        return batches

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        net = copy.deepcopy(self.potential.pretrained())  # never train the shared weights
        self.trainable_ = self.potential.freeze(net, self.trainable_blocks)
        self.net_ = FormationFromPotential(self.potential, net).to(self.device)
        with torch_threads(self.config.threads or current_budget()):
            rows, references = self.encode(train)
            y = np.asarray(require_targets(train), dtype=np.float32)
            if valid is not None and len(valid):
                fit_rows = np.arange(len(rows))
                valid_rows, valid_references = self.encode(valid)
                valid_y = np.asarray(require_targets(valid), dtype=np.float32)
            else:
                fit_rows, held = _split_valid(len(rows), self.valid_fraction, seed)
                valid_rows = [rows[i] for i in held]
                valid_references, valid_y = references[held], y[held]
        self.train_module(
            self.net_,
            self.batches(
                [rows[i] for i in fit_rows], references[fit_rows], y[fit_rows], shuffle=True
            ),
            nn.functional.mse_loss,
            valid_batches=(
                self.batches(valid_rows, valid_references, valid_y, shuffle=False)
                if valid_rows
                else None
            ),
            seed=seed,
        )

    def predict(self, dataset: Dataset) -> Predictions:
        with torch_threads(self.config.threads or current_budget()):
            rows, references = self.encode(dataset)
            batches = self.batches(rows, references, None, shuffle=False)(None)
            values = predict_batches(self.net_, batches).reshape(-1)
        return Predictions(values=values)


FINETUNE_TRAINING = TrainConfig(max_epochs=150, lr=1e-3, patience=15, batch_size=32)
"""Adam at the usual rate, for every potential. The epoch budget was read off one curve of
CHGNet, without any test fold: on the training rows of Matbench fold 0, the loss on the
model's own 10 % validation rows was still falling at epoch 60 (from 8.4e-4 to 4.6e-5
eV^2/atom^2), so training runs up to 150 epochs and stops after 15 without a better
validation loss."""
