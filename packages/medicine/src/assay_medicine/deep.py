"""A directed message-passing neural network (D-MPNN, Yang et al., J. Chem. Inf. Model. 59, 3370, 2019).

Messages live on directed bonds. The hidden state of bond v->w starts from
the features of atom v and the bond; each step sums the messages arriving
at v except the one coming back from w, and adds it (through a linear map)
to the initial state. After `depth` steps each atom sums its incoming bond
messages, the molecule averages (or sums) its atoms, and a feed-forward
network predicts the target. Optionally RDKit 2D descriptors, standardised
on the training set, are appended to the molecule vector (chemprop's
`--features_generator rdkit_2d`).

Training uses the core loop (`assay.evaluation.torch_training.TorchModel`): seeded,
early stopping on a validation set with the best weights restored, CPU by
default and CUDA when present. Without a validation set from the protocol
the model holds out `valid_fraction` of its training molecules itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import (
    CLASSIFICATION_TASKS,
    Batch,
    BatchFn,
    DataError,
    Dataset,
    Predictions,
    Standardiser,
    TorchModel,
    TrainConfig,
    checked,
    predict_batches,
    require_targets,
    seed_everything,
    torch_factory,
)
from pydantic import Field
from rdkit import Chem
from torch import nn

from assay_medicine.chem import mol_from_smiles
from assay_medicine.featurizers import featurize, smiles_of

ELEMENTS = (1, 5, 6, 7, 8, 9, 11, 14, 15, 16, 17, 19, 34, 35, 53)
DEGREES = (0, 1, 2, 3, 4, 5)
CHARGES = (-2, -1, 0, 1, 2)
CHIRAL_TAGS = (0, 1, 2, 3)
NUM_HS = (0, 1, 2, 3, 4)
HYBRIDISATIONS = (
    Chem.rdchem.HybridizationType.SP,
    Chem.rdchem.HybridizationType.SP2,
    Chem.rdchem.HybridizationType.SP3,
    Chem.rdchem.HybridizationType.SP3D,
    Chem.rdchem.HybridizationType.SP3D2,
)
BOND_TYPES = (
    Chem.rdchem.BondType.SINGLE,
    Chem.rdchem.BondType.DOUBLE,
    Chem.rdchem.BondType.TRIPLE,
    Chem.rdchem.BondType.AROMATIC,
)
STEREO = (0, 1, 2, 3, 4, 5)


def _one_hot(value: object, choices: Sequence[object]) -> list[float]:
    """One-hot over `choices` plus a final 'other' slot."""
    out = [0.0] * (len(choices) + 1)
    out[choices.index(value) if value in choices else len(choices)] = 1.0
    return out


def atom_features(atom: Chem.Atom) -> list[float]:
    return (
        _one_hot(atom.GetAtomicNum(), ELEMENTS)
        + _one_hot(atom.GetTotalDegree(), DEGREES)
        + _one_hot(atom.GetFormalCharge(), CHARGES)
        + _one_hot(int(atom.GetChiralTag()), CHIRAL_TAGS)
        + _one_hot(atom.GetTotalNumHs(), NUM_HS)
        + _one_hot(atom.GetHybridization(), HYBRIDISATIONS)
        + [1.0 if atom.GetIsAromatic() else 0.0, atom.GetMass() * 0.01]
    )


def bond_features(bond: Chem.Bond) -> list[float]:
    return [
        *_one_hot(bond.GetBondType(), BOND_TYPES),
        1.0 if bond.GetIsConjugated() else 0.0,
        1.0 if bond.IsInRing() else 0.0,
        *_one_hot(int(bond.GetStereo()), STEREO),
    ]


ATOM_DIM = len(atom_features(Chem.MolFromSmiles("C").GetAtomWithIdx(0)))
BOND_DIM = len(bond_features(Chem.MolFromSmiles("CC").GetBondWithIdx(0)))


@dataclass(frozen=True)
class MolGraph:
    """One molecule: atom features, and directed bonds (2 per bond; edge 2i+1 reverses 2i)."""

    atoms: npt.NDArray[np.float32]
    bonds: npt.NDArray[np.float32]
    src: npt.NDArray[np.int64]
    dst: npt.NDArray[np.int64]


def mol_graph(smiles: str) -> MolGraph:
    mol = mol_from_smiles(smiles)
    atoms = np.array([atom_features(a) for a in mol.GetAtoms()], dtype=np.float32)
    src: list[int] = []
    dst: list[int] = []
    feats: list[list[float]] = []
    for bond in mol.GetBonds():
        u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        f = bond_features(bond)
        src += [u, v]
        dst += [v, u]
        feats += [f, f]
    return MolGraph(
        atoms=atoms.reshape(-1, ATOM_DIM),
        bonds=np.array(feats, dtype=np.float32).reshape(-1, BOND_DIM),
        src=np.array(src, dtype=np.int64),
        dst=np.array(dst, dtype=np.int64),
    )


_GRAPHS: dict[str, MolGraph] = {}
MAX_CACHED_GRAPHS = 500_000


def graphs_of(smiles: Sequence[str]) -> list[MolGraph]:
    """Graphs for SMILES, memoised per process like the other featurizers."""
    out = []
    for s in smiles:
        graph = _GRAPHS.get(s)
        if graph is None:
            if len(_GRAPHS) >= MAX_CACHED_GRAPHS:  # crude bound, as in FeatureCache
                _GRAPHS.clear()
            graph = _GRAPHS[s] = mol_graph(s)
        out.append(graph)
    return out


@dataclass(frozen=True)
class GraphBatch:
    """Several molecules as one disconnected graph; `.to(device)` for the training loop."""

    atoms: torch.Tensor
    bonds: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    rev: torch.Tensor
    molecule: torch.Tensor
    n_molecules: int
    extra: torch.Tensor

    def to(self, device: torch.device) -> GraphBatch:
        return GraphBatch(
            self.atoms.to(device),
            self.bonds.to(device),
            self.src.to(device),
            self.dst.to(device),
            self.rev.to(device),
            self.molecule.to(device),
            self.n_molecules,
            self.extra.to(device),
        )


def collate(graphs: Sequence[MolGraph], extra: npt.NDArray[np.float32]) -> GraphBatch:
    atom_offset = 0
    edge_offset = 0
    src, dst, rev, molecule = [], [], [], []
    for i, g in enumerate(graphs):
        n_atoms, n_edges = len(g.atoms), len(g.src)
        src.append(g.src + atom_offset)
        dst.append(g.dst + atom_offset)
        rev.append(np.arange(n_edges, dtype=np.int64) ^ 1 if n_edges else np.zeros(0, np.int64))
        rev[-1] = rev[-1] + edge_offset
        molecule.append(np.full(n_atoms, i, dtype=np.int64))
        atom_offset += n_atoms
        edge_offset += n_edges
    return GraphBatch(
        atoms=torch.from_numpy(np.concatenate([g.atoms for g in graphs])),
        bonds=torch.from_numpy(np.concatenate([g.bonds for g in graphs])),
        src=torch.from_numpy(np.concatenate(src)),
        dst=torch.from_numpy(np.concatenate(dst)),
        rev=torch.from_numpy(np.concatenate(rev)),
        molecule=torch.from_numpy(np.concatenate(molecule)),
        n_molecules=len(graphs),
        extra=torch.from_numpy(np.ascontiguousarray(extra, dtype=np.float32)),
    )


class DMPNNNetwork(nn.Module):
    def __init__(
        self,
        *,
        hidden: int,
        depth: int,
        dropout: float,
        ffn_hidden: int,
        ffn_layers: int,
        aggregation: str,
        extra_dim: int,
    ) -> None:
        super().__init__()
        self.depth, self.aggregation = depth, aggregation
        self.w_in = nn.Linear(ATOM_DIM + BOND_DIM, hidden, bias=False)
        self.w_msg = nn.Linear(hidden, hidden, bias=False)
        self.w_atom = nn.Linear(ATOM_DIM + hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        layers: list[nn.Module] = []
        width = hidden + extra_dim
        for _ in range(ffn_layers - 1):
            layers += [nn.Linear(width, ffn_hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = ffn_hidden
        layers.append(nn.Linear(width, 1))
        self.ffn = nn.Sequential(*layers)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        n_atoms, hidden = batch.atoms.shape[0], self.w_msg.in_features
        initial = torch.relu(self.w_in(torch.cat([batch.atoms[batch.src], batch.bonds], dim=1)))
        message = initial
        for _ in range(self.depth - 1):
            incoming = initial.new_zeros(n_atoms, hidden).index_add_(0, batch.dst, message)
            message = incoming[batch.src] - message[batch.rev]
            message = self.dropout(torch.relu(initial + self.w_msg(message)))
        incoming = initial.new_zeros(n_atoms, hidden).index_add_(0, batch.dst, message)
        atom_state = self.dropout(
            torch.relu(self.w_atom(torch.cat([batch.atoms, incoming], dim=1)))
        )
        pooled = atom_state.new_zeros(batch.n_molecules, hidden).index_add_(
            0, batch.molecule, atom_state
        )
        if self.aggregation == "mean":
            counts = torch.bincount(batch.molecule, minlength=batch.n_molecules).clamp(min=1)
            pooled = pooled / counts.unsqueeze(1).to(pooled.dtype)
        elif self.aggregation == "norm":
            pooled = pooled / 100.0
        out: torch.Tensor = self.ffn(torch.cat([pooled, batch.extra], dim=1))
        return out


DMPNN_TRAINING = TrainConfig(max_epochs=100, lr=1e-3, weight_decay=0.0, patience=20, batch_size=50)


Aggregation = Literal["mean", "sum", "norm"]
"""How atom states are pooled into the molecule's: mean, sum, or sum / 100 (chemprop's norm)."""


class DMPNNModel(TorchModel):
    """D-MPNN regressor on RDKit molecular graphs (see the module docstring)."""

    @checked
    def __init__(
        self,
        hidden: Annotated[int, Field(ge=1)] = 300,
        depth: Annotated[int, Field(ge=1)] = 3,
        dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,
        ffn_hidden: Annotated[int, Field(ge=1)] = 300,
        ffn_layers: Annotated[int, Field(ge=1)] = 2,
        aggregation: Aggregation = "mean",
        descriptors: bool = False,
        valid_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.1,
        config: TrainConfig | None = None,
    ) -> None:
        super().__init__(config or DMPNN_TRAINING)
        self.hidden, self.depth, self.dropout = hidden, depth, dropout
        self.ffn_hidden, self.ffn_layers, self.aggregation = ffn_hidden, ffn_layers, aggregation
        self.descriptors, self.valid_fraction = descriptors, valid_fraction

    def _extra(self, smiles: Sequence[str]) -> npt.NDArray[np.float32]:
        if not self.descriptors:
            return np.zeros((len(smiles), 0), dtype=np.float32)
        x = featurize(smiles, "rdkit2d")
        scaled: npt.NDArray[np.float32] = np.clip(self.x_scaler_.apply(x), -10, 10).astype(
            np.float32
        )
        return scaled

    def _batch_fn(
        self, smiles: Sequence[str], y: npt.NDArray[np.float32], *, shuffle: bool
    ) -> BatchFn:
        """Mini-batches of (graph batch, scaled target), reshuffled per epoch from the loop's rng."""
        graphs = graphs_of(smiles)
        extra = self._extra(smiles)
        target = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32).reshape(-1, 1))
        size = self.config.batch_size

        def batches(rng: np.random.Generator) -> Iterable[Batch]:
            order = rng.permutation(len(graphs)) if shuffle else np.arange(len(graphs))
            for start in range(0, len(order), size):
                idx = order[start : start + size]
                yield collate([graphs[i] for i in idx], extra[idx]), target[torch.from_numpy(idx)]

        return batches

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        if train.task in CLASSIFICATION_TASKS:
            raise DataError("medicine.dmpnn is a regressor; this scenario is a classification task")
        seed_everything(seed)
        smiles = smiles_of(train)
        y = np.asarray(require_targets(train), dtype=np.float64)
        valid_smiles: list[str] = []
        valid_y = np.zeros(0)
        if valid is not None and len(valid):
            valid_smiles, valid_y = (
                smiles_of(valid),
                np.asarray(require_targets(valid), dtype=np.float64),
            )
        elif self.valid_fraction > 0 and len(smiles) >= 10:
            perm = np.random.default_rng(seed).permutation(len(smiles))
            n_valid = max(1, round(self.valid_fraction * len(smiles)))
            held, kept = perm[:n_valid], np.sort(perm[n_valid:])
            valid_smiles, valid_y = [smiles[i] for i in np.sort(held)], y[np.sort(held)]
            smiles, y = [smiles[i] for i in kept], y[kept]
        self.y_scaler_ = Standardiser.scalar(y)
        if self.descriptors:
            x = featurize(smiles, "rdkit2d")
            # A descriptor constant on the training set keeps unit scale, so a
            # different test value does not blow up by 1e8.
            self.x_scaler_ = Standardiser.columns(x, floor=1e-12)
        self.net_ = DMPNNNetwork(
            hidden=self.hidden,
            depth=self.depth,
            dropout=self.dropout,
            ffn_hidden=self.ffn_hidden,
            ffn_layers=self.ffn_layers,
            aggregation=self.aggregation,
            extra_dim=len(self._extra(smiles[:1])[0]) if self.descriptors else 0,
        )
        train_fn = self._batch_fn(smiles, self._scale(y), shuffle=True)
        valid_fn = (
            self._batch_fn(valid_smiles, self._scale(valid_y), shuffle=False)
            if valid_smiles
            else None
        )
        self.train_module(
            self.net_, train_fn, nn.functional.mse_loss, valid_batches=valid_fn, seed=seed
        )

    def _scale(self, y: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        return self.y_scaler_.apply(y).astype(np.float32)

    def predict(self, dataset: Dataset) -> Predictions:
        smiles = smiles_of(dataset)
        if not smiles:
            return Predictions(values=np.zeros(0))
        chunks = (smiles[start : start + 256] for start in range(0, len(smiles), 256))
        outputs = predict_batches(
            self.net_, ((collate(graphs_of(chunk), self._extra(chunk)),) for chunk in chunks)
        )
        values = self.y_scaler_.invert(outputs[:, 0])
        return Predictions(values=values)


dmpnn = torch_factory(DMPNNModel, DMPNN_TRAINING)
"""The D-MPNN regressor (registered as `medicine.dmpnn`)."""
