"""CHGNet fine-tuned on each training fold: `materials.chgnet_finetuned`.

The zero-shot model reads the formation energy off CHGNet as its energy per
atom minus the fraction-weighted energies of the pure metals (the fixed
references of `foundation.chgnet_reference`). Fine-tuning keeps that reading
and teaches CHGNet the EMT energies: each structure's target on CHGNet's own
scale is `formation + sum_i x_i ref_i`, so the network learns
`e_pred - sum_i x_i ref_i = formation`.

- Energy only: the EMT data hold relaxed energies, no forces or stresses.
- A fresh copy of the pretrained weights per fit; the cached model that the
  zero-shot, calibrated and prior models share is never touched.
- The embeddings, the basis expansions and all but the last
  `trainable_blocks` interaction blocks are frozen; the last blocks, the
  readout norm and the readout MLP train (the CHGNet authors' advice for
  small data sets). The frozen layers need no gradient, and the structures'
  coordinates carry none (no forces), so the backward pass stops at the
  first trainable block.
- The core's training loop (`TorchModel`): Adam (weight decay 0, so the
  pretrained weights are not pulled toward zero), mini-batches, early
  stopping on the protocol's validation set or `valid_fraction` of the
  training rows, best weights restored, seeded, CPU threads from the unit's
  budget, CUDA when present.
- Each structure becomes a CHGNet graph once per fit (and once per predict),
  not once per epoch. When only the last block trains (the default), what
  the frozen layers compute is fixed, so one pass of them per structure
  stores the last block's inputs and every epoch runs the last block and the
  readout alone, 7-10 times cheaper than the whole network. That path is
  checked against CHGNet's own forward at the pretrained weights on every
  fit; with more trainable blocks each epoch runs the whole network.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from assay.data import Dataset
from assay.models import require_targets
from assay.predictions import Predictions
from assay.requirements import requires
from assay.threads import current_budget
from assay.torch_training import (
    Batch,
    TorchModel,
    TrainConfig,
    predict_batches,
    torch_factory,
    torch_threads,
)
from torch import nn

from assay_materials.deep import _split_valid
from assay_materials.foundation import chgnet_reference, pretrained_chgnet, require_chgnet
from assay_materials.structures import STRUCTURES, detached, require_structures


@dataclass(frozen=True)
class GraphBatch:
    """CHGNet graphs of one mini-batch; `.to(device)` lets the core's loop move them."""

    graphs: list[Any]

    def to(self, device: torch.device) -> GraphBatch:
        if all(graph.atomic_number.device == device for graph in self.graphs):
            return self  # encoding put them there already
        return GraphBatch([graph.to(str(device)) for graph in self.graphs])

    def __len__(self) -> int:
        return len(self.graphs)


@dataclass(frozen=True)
class LastBlockInputs:
    """What CHGNet's last interaction block reads for one structure (computed by the frozen
    layers before it), and the frozen composition model's energy per atom."""

    atom_feas: torch.Tensor
    """[atoms, features]"""
    bond_feas: torch.Tensor
    """[undirected bonds, features]"""
    bond_weights: torch.Tensor
    """[undirected bonds, features]"""
    atom_graph: torch.Tensor
    """[directed bonds, 2]: centre and neighbour atom of each directed bond"""
    directed2undirected: torch.Tensor
    """[directed bonds]"""
    composition_energy: torch.Tensor
    """[1], eV/atom"""


@dataclass(frozen=True)
class LastBlockBatch:
    """`LastBlockInputs` of several structures joined as CHGNet batches graphs: the atom and
    bond indices of each structure shifted past those of the structures before it."""

    items: LastBlockInputs
    owners: torch.Tensor
    """[atoms]: the structure each atom belongs to"""
    counts: torch.Tensor
    """[structures]: atoms per structure"""

    @classmethod
    def join(cls, parts: list[LastBlockInputs]) -> LastBlockBatch:
        atoms = [len(p.atom_feas) for p in parts]
        bonds = [len(p.bond_feas) for p in parts]
        atom_offsets = np.concatenate([[0], np.cumsum(atoms)[:-1]]).tolist()
        bond_offsets = np.concatenate([[0], np.cumsum(bonds)[:-1]]).tolist()
        device = parts[0].atom_feas.device
        return cls(
            LastBlockInputs(
                atom_feas=torch.cat([p.atom_feas for p in parts]),
                bond_feas=torch.cat([p.bond_feas for p in parts]),
                bond_weights=torch.cat([p.bond_weights for p in parts]),
                atom_graph=torch.cat(
                    [p.atom_graph + o for p, o in zip(parts, atom_offsets, strict=True)]
                ),
                directed2undirected=torch.cat(
                    [p.directed2undirected + o for p, o in zip(parts, bond_offsets, strict=True)]
                ),
                composition_energy=torch.cat([p.composition_energy for p in parts]),
            ),
            owners=torch.repeat_interleave(
                torch.arange(len(parts), device=device), torch.tensor(atoms, device=device)
            ),
            counts=torch.tensor(atoms, dtype=torch.float32, device=device),
        )

    def to(self, device: torch.device) -> LastBlockBatch:
        return self  # built on the model's device


class FormationFromCHGNet(nn.Module):
    """CHGNet's energy per atom minus each structure's fixed elemental reference: from the
    structures' graphs through the whole network, or from the stored inputs of the last
    interaction block through that block and the readout."""

    def __init__(self, chgnet: Any) -> None:
        super().__init__()
        self.chgnet = chgnet

    def forward(self, inputs: GraphBatch | LastBlockBatch, reference: torch.Tensor) -> torch.Tensor:
        if isinstance(inputs, GraphBatch):
            energy: torch.Tensor = self.chgnet(inputs.graphs, task="e")["e"]
        else:
            energy = self.last_block(inputs)
        return energy - reference

    def last_block(self, batch: LastBlockBatch) -> torch.Tensor:
        """The tail of CHGNet's forward: last atom convolution, readout norm, readout."""
        chgnet, items = self.chgnet, batch.items
        atom_feas = chgnet.atom_conv_layers[-1](
            atom_feas=items.atom_feas,
            bond_feas=items.bond_feas,
            bond_weights=items.bond_weights,
            atom_graph=items.atom_graph,
            directed2undirected=items.directed2undirected,
        )
        if chgnet.readout_norm is not None:
            atom_feas = chgnet.readout_norm(atom_feas)
        if chgnet.mlp_first:  # energy per atom, then summed (the pretrained model)
            energy = chgnet.pooling(chgnet.mlp(atom_feas), batch.owners).view(-1)
        else:
            energy = chgnet.mlp(chgnet.pooling(atom_feas, batch.owners)).view(-1) * batch.counts
        if chgnet.is_intensive:
            energy = energy / batch.counts
        return energy + items.composition_energy  # type: ignore[no-any-return]


LAST_BLOCK_ARGUMENTS = frozenset(
    {"atom_feas", "bond_feas", "bond_weights", "atom_graph", "directed2undirected"}
)


def last_block_inputs(chgnet: Any, graphs: list[Any]) -> tuple[list[LastBlockInputs], torch.Tensor]:
    """One pass of the frozen network per structure: the inputs its last interaction block
    receives, and CHGNet's energies per atom (to check the stored path against)."""
    captured: list[dict[str, torch.Tensor]] = []

    def keep(_: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        del args
        captured.append({k: v.detach() for k, v in kwargs.items()})

    handle = chgnet.atom_conv_layers[-1].register_forward_pre_hook(keep, with_kwargs=True)
    inputs, energies = [], []
    try:
        chgnet.eval()
        with torch.no_grad():
            for graph in graphs:
                energies.append(chgnet([graph], task="e")["e"])
                seen = captured.pop()
                if set(seen) != LAST_BLOCK_ARGUMENTS:
                    raise RuntimeError(
                        f"CHGNet {chgnet_version()} calls its last interaction block with "
                        f"{sorted(seen)}, not {sorted(LAST_BLOCK_ARGUMENTS)}; run with "
                        "trainable_blocks=2 (the whole network each epoch)"
                    )
                composition = (
                    chgnet.composition_model([graph])
                    if chgnet.composition_model is not None
                    else torch.zeros(1, device=energies[-1].device)
                )
                inputs.append(LastBlockInputs(**seen, composition_energy=composition.view(1)))
    finally:
        handle.remove()
    return inputs, torch.cat(energies)


def freeze_all_but_last(chgnet: Any, trainable_blocks: int) -> list[str]:
    """Freeze every weight except the last `trainable_blocks` interaction blocks and the
    readout (its norm and MLP); returns the names of the parameters left trainable.

    Interaction block i is atom convolution i followed by bond convolution i and
    angle update i; the last block has an atom convolution only.
    """
    n_conv = len(chgnet.atom_conv_layers)
    if not 0 <= trainable_blocks <= n_conv:
        raise ValueError(
            f"trainable_blocks must be between 0 and {n_conv} (CHGNet's interaction blocks), "
            f"got {trainable_blocks}"
        )
    for parameter in chgnet.parameters():
        parameter.requires_grad_(False)
    first = n_conv - trainable_blocks
    trainable: list[nn.Module] = [chgnet.mlp]
    if chgnet.readout_norm is not None:
        trainable.append(chgnet.readout_norm)
    for layers in (chgnet.atom_conv_layers, chgnet.bond_conv_layers, chgnet.angle_layers):
        trainable += [layer for layer in list(layers)[first:] if layer is not None]
    for module in trainable:
        for parameter in module.parameters():
            parameter.requires_grad_(True)
    return [name for name, p in chgnet.named_parameters() if p.requires_grad]


class CHGNetFineTuned(TorchModel):
    """CHGNet with its last interaction blocks and readout fine-tuned on the training fold."""

    def __init__(
        self,
        trainable_blocks: int = 1,
        valid_fraction: float = 0.1,
        config: TrainConfig | None = None,
    ) -> None:
        require_chgnet("materials.chgnet_finetuned")
        super().__init__(config)
        if trainable_blocks < 0:
            raise ValueError(f"trainable_blocks must be at least 0, got {trainable_blocks}")
        if not 0.0 <= valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
        self.trainable_blocks = trainable_blocks
        self.valid_fraction = valid_fraction

    @property
    def stores_last_block(self) -> bool:
        """Whether everything before the last interaction block is frozen, so its inputs can
        be computed once per structure."""
        return self.trainable_blocks <= 1

    def encode(self, dataset: Dataset) -> tuple[list[Any], npt.NDArray[np.float32]]:
        """Per structure, its CHGNet graph (coordinates without gradients: energies only) or
        the stored inputs of the last block, and its fraction-weighted elemental reference
        (eV/atom)."""
        converter = self.net_.chgnet.graph_converter
        graphs, references = [], []
        for given in require_structures(dataset.inputs, model="CHGNet"):
            structure = detached(given)
            references.append(np.mean([chgnet_reference(str(site.specie)) for site in structure]))
            graph = converter(structure)
            graph.atom_frac_coord.requires_grad_(False)
            graph.lattice.requires_grad_(False)
            graphs.append(graph.to(str(self.device)))
        if not self.stores_last_block:
            return graphs, np.asarray(references, dtype=np.float32)
        stored, energies = last_block_inputs(self.net_.chgnet, graphs)
        with torch.no_grad():
            replayed = self.net_.last_block(LastBlockBatch.join(stored))
        gap = float((replayed - energies).abs().max())
        if gap > 1e-4:  # a CHGNet whose forward this tail no longer mirrors
            raise RuntimeError(
                f"the stored last-block path of CHGNet {chgnet_version()} differs from its "
                f"forward by {gap:.2g} eV/atom; run with trainable_blocks=2 (the whole network "
                "each epoch)"
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
        join = LastBlockBatch.join if self.stores_last_block else GraphBatch

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
        chgnet = copy.deepcopy(pretrained_chgnet())  # never train the shared, cached weights
        self.trainable_ = freeze_all_but_last(chgnet, self.trainable_blocks)
        self.net_ = FormationFromCHGNet(chgnet).to(self.device)
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


def chgnet_version() -> str:
    from importlib.metadata import version

    return version("chgnet")


FINETUNE_TRAINING = TrainConfig(max_epochs=150, lr=1e-3, patience=15, batch_size=32)
"""Adam at the usual rate. The epoch budget was read off one curve, without any test fold:
on the training rows of Matbench fold 0, the loss on the model's own 10 % validation rows
was still falling at epoch 60 (from 8.4e-4 to 4.6e-5 eV^2/atom^2), so training runs up to
150 epochs and stops after 15 without a better validation loss."""

chgnet_finetuned = requires(STRUCTURES)(torch_factory(CHGNetFineTuned, FINETUNE_TRAINING))
