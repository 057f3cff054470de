"""SevenNet-0 (Park et al., J. Chem. Theory Comput. 20, 4857, 2024), an E(3)-equivariant
NequIP-style foundation potential: `materials.sevennet_zero_shot`,
`materials.sevennet_calibrated`, `materials.sevennet_finetuned` and the alloy loop's
`materials.sevennet_prior` (see `foundation` and `finetune` for what they do).

Which weights: the `sevenn` wheel ships three universal potentials.
SevenNet-0 (11 July 2024) is used here: it learnt MPtrj, the same Materials
Project PBE/PBE+U relaxations CHGNet learnt, so the two foundation entries
differ in architecture, not in training data (MPtrj is CC BY 4.0; SevenNet's
code and weights are MIT). SevenNet-MF-0 adds the Materials Project's r2SCAN
calculations as a second fidelity (another level of theory to choose
between), and SevenNet-l3i5 (l_max 3, same data) costs several times more
per structure on a CPU.

Nothing is downloaded: the checkpoint is read from its path inside the
installed package (never through sevenn's name lookup, which downloads the
weights the wheel does not ship). The force and stress head is removed:
the EMT data hold relaxed energies only. Fine-tuning with one trainable
block stores the node and edge features the last of SevenNet's five
interaction blocks reads, so each epoch runs that block and the readout
alone.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import NotInstalledError, requires, torch_factory
from torch import nn

from assay_materials.finetune import FINETUNE_TRAINING, FineTuned
from assay_materials.foundation import INSTALL_HINT, Calibrated, Potential, ZeroShot
from assay_materials.structures import STRUCTURES

READOUT = ("reduce_input_to_hidden", "reduce_hidden_to_energy")
"""The readout MLP after the interaction blocks. The per-element shift and scale after it
(`rescale_atomic_energy`, SevenNet's elemental energies) stay frozen, as CHGNet's
composition model does."""

NOT_STORED = frozenset({"batch", "ptr"})
"""Batch bookkeeping that joining recreates."""


def checkpoint_path() -> Path:
    """SevenNet-0's checkpoint inside the installed package."""
    from sevenn import _const

    return Path(_const.SEVENNET_0_11Jul2024)


def block_of(name: str) -> int | None:
    """The interaction block a module of SevenNet's sequence belongs to ("4_convolution": 4)."""
    head = name.split("_", 1)[0]
    return int(head) if head.isdigit() else None


class SevenNetPotential(Potential):
    label = "SevenNet"
    package = "sevenn"
    weights = "SevenNet-0_11Jul2024"

    def load(self) -> nn.Module:
        # imported here, where `pretrained` silences their import-time deprecation warnings
        import sevenn.atom_graph_data
        import sevenn.train.dataload  # noqa: F401
        import torch_geometric.data  # noqa: F401
        from sevenn.checkpoint import SevenNetCheckpoint

        path = checkpoint_path()
        if not path.is_file():
            raise NotInstalledError(
                f"SevenNet-0's weights are missing from the installed sevenn package ({path}); "
                f"reinstall it: {INSTALL_HINT}"
            )
        net = SevenNetCheckpoint(str(path)).build_model()
        net.delete_module_by_key("force_output")  # energies only: no autograd forces
        net.key_grad = None
        net.set_is_batch_data(True)
        net.eval()
        return net

    def energies(self, net: Any, structures: list[Any]) -> npt.NDArray[np.float64]:
        device = next(net.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(structures), 16):
                graphs = [self.graph(net, s, device) for s in structures[start : start + 16]]
                out.append(self.forward(net, graphs).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def blocks(self, net: Any) -> list[int]:
        return sorted({b for name in net._modules if (b := block_of(name)) is not None})

    def freeze(self, net: Any, trainable_blocks: int) -> list[str]:
        blocks = self.blocks(net)
        if not 0 <= trainable_blocks <= len(blocks):
            raise ValueError(
                f"trainable_blocks must be between 0 and {len(blocks)} (SevenNet's interaction "
                f"blocks), got {trainable_blocks}"
            )
        first = len(blocks) - trainable_blocks
        for name, module in net._modules.items():
            block = block_of(name)
            train = name in READOUT or (block is not None and block >= first)
            for parameter in module.parameters():
                parameter.requires_grad_(train)
        return [name for name, p in net.named_parameters() if p.requires_grad]

    def graph(self, net: Any, structure: Any, device: torch.device) -> Any:
        from pymatgen.io.ase import AseAtomsAdaptor
        from sevenn.atom_graph_data import AtomGraphData
        from sevenn.train.dataload import unlabeled_atoms_to_graph

        atoms = AseAtomsAdaptor.get_atoms(structure)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(atoms, net.cutoff))
        return graph.to(device)

    def forward(self, net: Any, graphs: list[Any]) -> torch.Tensor:
        from torch_geometric.data import Batch

        out = net(Batch.from_data_list(graphs))
        return out["inferred_total_energy"] / out["num_atoms"]  # type: ignore[no-any-return]

    def last_block_start(self, net: Any) -> str:
        last = self.blocks(net)[-1]
        return str(next(name for name in net._modules if block_of(name) == last))

    def last_block_inputs(self, net: Any, graphs: list[Any]) -> tuple[list[Any], torch.Tensor]:
        from torch_geometric.data import Data

        captured: list[dict[str, torch.Tensor]] = []

        def keep(_: nn.Module, args: tuple[Any, ...]) -> None:
            # the modules write their outputs into this dict as the forward goes on: copy
            # the entries as the last block finds them
            (data,) = args
            captured.append(
                {
                    k: v.detach()
                    for k, v in data.items()
                    if isinstance(v, torch.Tensor) and k not in NOT_STORED
                }
            )

        handle = net._modules[self.last_block_start(net)].register_forward_pre_hook(keep)
        inputs, energies = [], []
        try:
            net.eval()
            with torch.no_grad():
                for graph in graphs:
                    energies.append(self.forward(net, [graph]))
                    inputs.append(Data(**captured.pop()))
        finally:
            handle.remove()
        return inputs, torch.cat(energies)

    def join(self, stored: list[Any], device: torch.device) -> Any:
        from torch_geometric.data import Batch

        del device  # the stored tensors are on the model's device already
        return Batch.from_data_list(stored)  # edge indices shifted past earlier structures

    def last_block(self, net: Any, batch: Any) -> torch.Tensor:
        """The tail of SevenNet's forward: the last interaction block, the readout, the
        per-element rescaling and the sum over atoms."""
        names = list(net._modules)
        data = batch
        for name in names[names.index(self.last_block_start(net)) :]:
            data = net._modules[name](data)
        return data["inferred_total_energy"] / data["num_atoms"]  # type: ignore[no-any-return]


SEVENNET = SevenNetPotential()


class SevenNetZeroShot(ZeroShot):
    potential = SEVENNET
    name = "materials.sevennet_zero_shot"


class SevenNetCalibrated(Calibrated):
    potential = SEVENNET
    name = "materials.sevennet_calibrated"


class SevenNetFineTuned(FineTuned):
    potential = SEVENNET
    name = "materials.sevennet_finetuned"


sevennet_finetuned = requires(STRUCTURES)(torch_factory(SevenNetFineTuned, FINETUNE_TRAINING))
