"""CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031, 2023), a foundation potential trained on
the Materials Project's DFT relaxations (MPtrj): `materials.chgnet_zero_shot`,
`materials.chgnet_calibrated`, `materials.chgnet_finetuned` and the alloy loop's
`materials.chgnet_prior` (see `foundation` and `finetune` for what they do).

Its wheel ships the pretrained weights, so `CHGNet.load()` runs offline.
Fine-tuning with one trainable block stores what CHGNet's last interaction
block (an atom convolution) reads, so each epoch runs that block and the
readout alone, 7-10 times cheaper than the whole network.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import requires, torch_factory
from torch import nn

from assay_materials.finetune import FINETUNE_TRAINING, FineTuned
from assay_materials.foundation import Calibrated, Potential, ZeroShot
from assay_materials.structures import STRUCTURES


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


LAST_BLOCK_ARGUMENTS = frozenset(
    {"atom_feas", "bond_feas", "bond_weights", "atom_graph", "directed2undirected"}
)


class CHGNetPotential(Potential):
    label = "CHGNet"
    package = "chgnet"

    def load(self) -> nn.Module:
        from chgnet.model.model import CHGNet

        net: nn.Module = CHGNet.load(verbose=False)
        return net

    def energies(self, net: Any, structures: list[Any]) -> npt.NDArray[np.float64]:
        """CHGNet predicts per atom."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = net.predict_structure(structures, task="e", batch_size=16)
        if isinstance(out, dict):
            out = [out]
        return np.array([float(np.asarray(p["e"]).reshape(-1)[0]) for p in out])

    def freeze(self, net: Any, trainable_blocks: int) -> list[str]:
        """Interaction block i is atom convolution i followed by bond convolution i and angle
        update i; the last block has an atom convolution only. The readout is its norm and MLP."""
        n_conv = len(net.atom_conv_layers)
        if not 0 <= trainable_blocks <= n_conv:
            raise ValueError(
                f"trainable_blocks must be between 0 and {n_conv} (CHGNet's interaction "
                f"blocks), got {trainable_blocks}"
            )
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        first = n_conv - trainable_blocks
        trainable: list[nn.Module] = [net.mlp]
        if net.readout_norm is not None:
            trainable.append(net.readout_norm)
        for layers in (net.atom_conv_layers, net.bond_conv_layers, net.angle_layers):
            trainable += [layer for layer in list(layers)[first:] if layer is not None]
        for module in trainable:
            for parameter in module.parameters():
                parameter.requires_grad_(True)
        return [name for name, p in net.named_parameters() if p.requires_grad]

    def graph(self, net: Any, structure: Any, device: torch.device) -> Any:
        graph = net.graph_converter(structure)
        graph.atom_frac_coord.requires_grad_(False)
        graph.lattice.requires_grad_(False)
        return graph.to(str(device))

    def forward(self, net: Any, graphs: list[Any]) -> torch.Tensor:
        energy: torch.Tensor = net(graphs, task="e")["e"]
        return energy

    def last_block_inputs(
        self, net: Any, graphs: list[Any]
    ) -> tuple[list[LastBlockInputs], torch.Tensor]:
        captured: list[dict[str, torch.Tensor]] = []

        def keep(_: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            del args
            captured.append({k: v.detach() for k, v in kwargs.items()})

        handle = net.atom_conv_layers[-1].register_forward_pre_hook(keep, with_kwargs=True)
        inputs, energies = [], []
        try:
            net.eval()
            with torch.no_grad():
                for graph in graphs:
                    energies.append(net([graph], task="e")["e"])
                    seen = captured.pop()
                    if set(seen) != LAST_BLOCK_ARGUMENTS:
                        raise RuntimeError(
                            f"CHGNet {self.version()} calls its last interaction block with "
                            f"{sorted(seen)}, not {sorted(LAST_BLOCK_ARGUMENTS)}; run with "
                            "trainable_blocks=2 (the whole network each epoch)"
                        )
                    composition = (
                        net.composition_model([graph])
                        if net.composition_model is not None
                        else torch.zeros(1, device=energies[-1].device)
                    )
                    inputs.append(LastBlockInputs(**seen, composition_energy=composition.view(1)))
        finally:
            handle.remove()
        return inputs, torch.cat(energies)

    def join(self, stored: list[Any], device: torch.device) -> LastBlockBatch:
        del device  # the stored tensors are on the model's device already
        return LastBlockBatch.join(stored)

    def last_block(self, net: Any, batch: LastBlockBatch) -> torch.Tensor:
        """The tail of CHGNet's forward: last atom convolution, readout norm, readout."""
        items = batch.items
        atom_feas = net.atom_conv_layers[-1](
            atom_feas=items.atom_feas,
            bond_feas=items.bond_feas,
            bond_weights=items.bond_weights,
            atom_graph=items.atom_graph,
            directed2undirected=items.directed2undirected,
        )
        if net.readout_norm is not None:
            atom_feas = net.readout_norm(atom_feas)
        if net.mlp_first:  # energy per atom, then summed (the pretrained model)
            energy = net.pooling(net.mlp(atom_feas), batch.owners).view(-1)
        else:
            energy = net.mlp(net.pooling(atom_feas, batch.owners)).view(-1) * batch.counts
        if net.is_intensive:
            energy = energy / batch.counts
        return energy + items.composition_energy  # type: ignore[no-any-return]


CHGNET = CHGNetPotential()


class CHGNetZeroShot(ZeroShot):
    potential = CHGNET
    name = "materials.chgnet_zero_shot"


class CHGNetCalibrated(Calibrated):
    potential = CHGNET
    name = "materials.chgnet_calibrated"


class CHGNetFineTuned(FineTuned):
    potential = CHGNET
    name = "materials.chgnet_finetuned"


chgnet_finetuned = requires(STRUCTURES)(torch_factory(CHGNetFineTuned, FINETUNE_TRAINING))
