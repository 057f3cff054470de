"""Torch models on the core's `TorchModel`: a composition model that attends over elements
(Roost / CrabNet-like) and a crystal-graph network (CGCNN-like) on pymatgen neighbour lists.

Both standardise the target for training, stop early on a validation set
(the protocol's, or `valid_fraction` of the training rows held out here),
and run on the CPU by default (CUDA when present).

- Composition attention (after Goodall & Lee, Nat. Commun. 11, 6280, 2020;
  Wang et al., npj Comput. Mater. 7, 77, 2021): each element present is a
  token (a learnt embedding plus its standardised elemental properties and
  its fraction); self-attention layers mix them; a fraction-weighted pool
  and an MLP give the property.
- Crystal graph (after Xie & Grossman, PRL 120, 145301, 2018): atoms are
  nodes, neighbours within `cutoff` are edges with a Gaussian expansion of
  their distance; gated convolutions update the atoms; a mean pool and an
  MLP give the property.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import (
    Batch,
    Dataset,
    Predictions,
    TorchModel,
    TrainConfig,
    predict_batches,
    require_targets,
    requires,
    torch_factory,
)
from torch import nn

from assay_materials.composition import MAX_Z, compositions_of, element_table
from assay_materials.structures import STRUCTURES, detached, require_structures


def _split_valid(
    n: int, fraction: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    perm = np.random.default_rng(seed).permutation(n)
    n_valid = max(1, round(fraction * n)) if fraction > 0 and n >= 10 else 0
    return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])


def _element_features() -> torch.Tensor:
    table = element_table()
    scaled = (table - table.mean(axis=0)) / (table.std(axis=0) + 1e-9)
    return torch.as_tensor(np.vstack([np.zeros((1, table.shape[1])), scaled]), dtype=torch.float32)


class ScaledTargetModel(TorchModel):
    """Shared fit/predict: encode rows once, standardise targets, hold out validation rows."""

    valid_fraction: float

    def encode(self, dataset: Dataset) -> list[Any]:
        raise NotImplementedError

    def network(self) -> nn.Module:
        raise NotImplementedError

    def batches(self, rows: list[Any], y: npt.NDArray[np.float32], *, shuffle: bool) -> Any:
        raise NotImplementedError

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        rows = self.encode(train)
        y = np.asarray(require_targets(train), dtype=np.float64)
        if valid is not None and len(valid):
            fit_rows, fit_y = rows, y
            valid_rows = self.encode(valid)
            valid_y = np.asarray(require_targets(valid), dtype=np.float64)
        else:
            keep, held = _split_valid(len(rows), self.valid_fraction, seed)
            fit_rows, fit_y = [rows[i] for i in keep], y[keep]
            valid_rows, valid_y = [rows[i] for i in held], y[held]
        self.mean_, self.scale_ = float(fit_y.mean()), float(fit_y.std() or 1.0)
        torch.manual_seed(seed)
        self.net_ = self.network()
        scaled = ((fit_y - self.mean_) / self.scale_).astype(np.float32)
        valid_fn = (
            self.batches(
                valid_rows,
                ((valid_y - self.mean_) / self.scale_).astype(np.float32),
                shuffle=False,
            )
            if valid_rows
            else None
        )
        self.train_module(
            self.net_,
            self.batches(fit_rows, scaled, shuffle=True),
            nn.functional.mse_loss,
            valid_batches=valid_fn,
            seed=seed,
        )

    def predict(self, dataset: Dataset) -> Predictions:
        rows = self.encode(dataset)
        dummy = np.zeros(len(rows), dtype=np.float32)
        batches = (batch[:-1] for batch in self.batches(rows, dummy, shuffle=False)(None))
        out = predict_batches(self.net_, batches).reshape(-1)
        return Predictions(values=out * self.scale_ + self.mean_)


# Composition attention


class CompositionAttentionNetwork(nn.Module):
    properties: torch.Tensor

    def __init__(self, hidden: int, heads: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.register_buffer("properties", _element_features())
        self.embedding = nn.Embedding(MAX_Z + 1, hidden, padding_idx=0)
        self.project = nn.Linear(hidden + self.properties.shape[1] + 1, hidden)
        layer = nn.TransformerEncoderLayer(
            hidden, heads, dim_feedforward=2 * hidden, dropout=dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
        padding = z == 0
        tokens = torch.cat([self.embedding(z), self.properties[z], fractions.unsqueeze(-1)], dim=-1)
        h = self.encoder(self.project(tokens), src_key_padding_mask=padding)
        pooled = (h * fractions.unsqueeze(-1)).sum(dim=1)  # fractions are 0 on padding
        return self.head(pooled).squeeze(-1)  # type: ignore[no-any-return]


class CompositionAttentionModel(ScaledTargetModel):
    """Self-attention over the elements of a composition (Roost/CrabNet-like)."""

    def __init__(
        self,
        hidden: int = 64,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.0,
        valid_fraction: float = 0.1,
        config: TrainConfig | None = None,
    ) -> None:
        super().__init__(config)
        self.hidden, self.heads, self.layers, self.dropout = hidden, heads, layers, dropout
        self.valid_fraction = valid_fraction

    def encode(self, dataset: Dataset) -> list[Any]:
        from pymatgen.core.periodic_table import Element

        rows = []
        for comp in compositions_of(dataset):
            amounts = comp.get_el_amt_dict()
            z = [Element(symbol).Z for symbol in amounts]
            x = np.array(list(amounts.values()), dtype=np.float32)
            rows.append((z, x / x.sum()))
        return rows

    def network(self) -> nn.Module:
        return CompositionAttentionNetwork(self.hidden, self.heads, self.layers, self.dropout)

    def batches(self, rows: list[Any], y: npt.NDArray[np.float32], *, shuffle: bool) -> Any:
        width = max(len(z) for z, _ in rows)
        z = np.zeros((len(rows), width), dtype=np.int64)
        fractions = np.zeros((len(rows), width), dtype=np.float32)
        for i, (zi, xi) in enumerate(rows):
            z[i, : len(zi)], fractions[i, : len(zi)] = zi, xi
        tensors = [torch.as_tensor(z), torch.as_tensor(fractions), torch.as_tensor(y)]
        size = self.config.batch_size

        def batches(rng: np.random.Generator | None) -> Iterable[Batch]:
            order = (
                rng.permutation(len(rows)) if shuffle and rng is not None else np.arange(len(rows))
            )
            for start in range(0, len(rows), size):
                idx = torch.as_tensor(order[start : start + size])
                yield tuple(t[idx] for t in tensors)

        return batches


# Crystal graph


def gaussian_basis(distances: torch.Tensor, cutoff: float, n: int) -> torch.Tensor:
    centres = torch.linspace(0.0, cutoff, n, device=distances.device)
    width = cutoff / n
    return torch.exp(-(((distances.unsqueeze(-1) - centres) / width) ** 2))


class GatedConvolution(nn.Module):
    """h_i += sum_j sigmoid(W_f z_ij) * softplus(W_s z_ij), z_ij = [h_i, h_j, e_ij] (CGCNN)."""

    def __init__(self, hidden: int, edge: int) -> None:
        super().__init__()
        self.linear = nn.Linear(2 * hidden + edge, 2 * hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(
        self, h: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, e: torch.Tensor
    ) -> torch.Tensor:
        gate, core = self.linear(torch.cat([h[dst], h[src], e], dim=-1)).chunk(2, dim=-1)
        messages = torch.sigmoid(gate) * nn.functional.softplus(core)
        update = torch.zeros_like(h).index_add_(0, dst, messages)
        return self.norm(h + update)  # type: ignore[no-any-return]


class CrystalGraphNetwork(nn.Module):
    properties: torch.Tensor

    def __init__(self, hidden: int, layers: int, cutoff: float, basis: int) -> None:
        super().__init__()
        self.cutoff, self.basis = cutoff, basis
        self.register_buffer("properties", _element_features())
        self.embed = nn.Linear(self.properties.shape[1], hidden)
        self.convolutions = nn.ModuleList(GatedConvolution(hidden, basis) for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(
        self,
        z: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        distance: torch.Tensor,
        graph: torch.Tensor,
        counts: torch.Tensor,
    ) -> torch.Tensor:
        h = self.embed(self.properties[z])
        e = gaussian_basis(distance, self.cutoff, self.basis)
        for convolution in self.convolutions:
            h = convolution(h, src, dst, e)
        pooled = torch.zeros(len(counts), h.shape[1], device=h.device).index_add_(0, graph, h)
        pooled = pooled / counts.unsqueeze(-1).clamp(min=1)
        return self.head(pooled).squeeze(-1)  # type: ignore[no-any-return]


class CrystalGraphModel(ScaledTargetModel):
    """A CGCNN-like graph network on structures (neighbours within `cutoff` A; 4.2 A holds the
    first two fcc shells of these metals)."""

    def __init__(
        self,
        hidden: int = 48,
        layers: int = 3,
        cutoff: float = 4.2,
        basis: int = 16,
        valid_fraction: float = 0.1,
        config: TrainConfig | None = None,
    ) -> None:
        super().__init__(config)
        self.hidden, self.layers, self.cutoff, self.basis = hidden, layers, cutoff, basis
        self.valid_fraction = valid_fraction

    def encode(self, dataset: Dataset) -> list[Any]:
        rows = []
        for given in require_structures(
            dataset.inputs,
            model="the crystal-graph model",
            hint="use a composition model on formulas",
        ):
            structure = detached(given)
            src, dst, _, distance = structure.get_neighbor_list(self.cutoff)
            z = np.array([site.specie.Z for site in structure], dtype=np.int64)
            rows.append(
                (z, src.astype(np.int64), dst.astype(np.int64), distance.astype(np.float32))
            )
        return rows

    def network(self) -> nn.Module:
        return CrystalGraphNetwork(self.hidden, self.layers, self.cutoff, self.basis)

    def batches(self, rows: list[Any], y: npt.NDArray[np.float32], *, shuffle: bool) -> Any:
        size = self.config.batch_size
        targets = torch.as_tensor(y)

        def collate(idx: npt.NDArray[np.int64]) -> Batch:
            zs, srcs, dsts, ds, graphs, counts = [], [], [], [], [], []
            offset = 0
            for k, i in enumerate(idx):
                z, src, dst, distance = rows[int(i)]
                zs.append(z)
                srcs.append(src + offset)
                dsts.append(dst + offset)
                ds.append(distance)
                graphs.append(np.full(len(z), k, dtype=np.int64))
                counts.append(len(z))
                offset += len(z)
            return (
                torch.as_tensor(np.concatenate(zs)),
                torch.as_tensor(np.concatenate(srcs)),
                torch.as_tensor(np.concatenate(dsts)),
                torch.as_tensor(np.concatenate(ds)),
                torch.as_tensor(np.concatenate(graphs)),
                torch.as_tensor(np.array(counts, dtype=np.float32)),
                targets[torch.as_tensor(idx)],
            )

        def batches(rng: np.random.Generator | None) -> Iterable[Batch]:
            order = (
                rng.permutation(len(rows)) if shuffle and rng is not None else np.arange(len(rows))
            )
            for start in range(0, len(rows), size):
                yield collate(order[start : start + size])

        return batches


DEEP_TRAINING = TrainConfig(max_epochs=150, lr=2e-3, weight_decay=1e-5, patience=20, batch_size=64)

composition_attention = torch_factory(CompositionAttentionModel, DEEP_TRAINING)
crystal_graph = requires(STRUCTURES)(torch_factory(CrystalGraphModel, DEEP_TRAINING))
