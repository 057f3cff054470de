"""A graph neural network on the circuit DAG, trained with the core's loop.

Nodes are logical gates (kind, angle, wire position, order), edges follow each
qubit's wire. Residual message passing spreads information along the circuit;
the embedding of the last gate on the row's qubit, joined with the row's
standardised tabular features, predicts the correction ideal - noisy.
Predicting the correction keeps the unmitigated value as the starting point.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import (
    Batch,
    Dataset,
    Predictions,
    Standardiser,
    TorchModel,
    TrainConfig,
    predict_batches,
    require_targets,
    seed_everything,
    torch_factory,
)
from torch import nn

from assay_quantum.circuit_features import NODE_FEATURES, CircuitGraph


class GraphBatch:
    """Several circuit graphs joined into one, with the readout node of every row."""

    def __init__(self, graphs: Sequence[CircuitGraph], qubits: npt.NDArray[np.int64]) -> None:
        unique: dict[int, int] = {}
        nodes, edges, readout = [], [], []
        offsets: list[int] = []
        total = 0
        for graph in graphs:
            key = id(graph)
            if key not in unique:
                unique[key] = len(offsets)
                offsets.append(total)
                nodes.append(graph.nodes)
                edges.append(graph.edges + total)
                total += len(graph.nodes)
        for graph, qubit in zip(graphs, qubits, strict=True):
            readout.append(offsets[unique[id(graph)]] + int(graph.wire_end[int(qubit)]))
        self.nodes = torch.as_tensor(np.concatenate(nodes))
        self.edges = torch.as_tensor(np.concatenate(edges, axis=1))
        self.readout = torch.as_tensor(np.asarray(readout, dtype=np.int64))

    def to(self, device: torch.device) -> GraphBatch:
        self.nodes, self.edges, self.readout = (
            self.nodes.to(device),
            self.edges.to(device),
            self.readout.to(device),
        )
        return self


class CircuitGNN(nn.Module):
    def __init__(self, n_tabular: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Linear(NODE_FEATURES, hidden)
        self.messages = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            for _ in range(layers)
        )
        self.head = nn.Sequential(
            nn.Linear(hidden + n_tabular, hidden), nn.SiLU(), nn.Linear(hidden, 1)
        )

    def forward(self, graph: GraphBatch, tabular: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.embed(graph.nodes))
        source, target = graph.edges[0], graph.edges[1]
        degree = torch.zeros(len(h), 1, device=h.device).index_add_(
            0, target, torch.ones(len(target), 1, device=h.device)
        )
        for layer in self.messages:
            pooled = torch.zeros_like(h).index_add_(0, target, h[source]) / degree.clamp(min=1)
            h = h + layer(torch.cat([h, pooled], dim=1))
        out: torch.Tensor = self.head(torch.cat([h[graph.readout], tabular], dim=1))
        return out


CIRCUIT_GNN_TRAINING = TrainConfig(
    max_epochs=150, lr=2e-3, weight_decay=1e-4, patience=20, threads=1, batch_size=64
)


class CircuitGNNModel(TorchModel):
    """fit/predict wrapper: standardised tabular features, target = ideal - noisy."""

    def __init__(
        self,
        hidden: int = 64,
        layers: int = 4,
        config: TrainConfig | None = None,
    ) -> None:
        super().__init__(config or CIRCUIT_GNN_TRAINING)
        self.hidden, self.layers = hidden, layers

    def _tabular(self, dataset: Dataset) -> npt.NDArray[np.float32]:
        x = np.asarray(dataset.inputs, dtype=np.float64)
        return np.asarray(self.scaler_.apply(x), dtype=np.float32)

    def _batches(
        self, dataset: Dataset, target: npt.NDArray[np.float32] | None, shuffle: bool
    ) -> Any:
        graphs: list[CircuitGraph] = list(dataset.extras["graph"])
        qubits = np.asarray(dataset.extras["qubit"], dtype=np.int64)
        tabular = self._tabular(dataset)
        y = target if target is not None else np.zeros((len(dataset), 1), dtype=np.float32)
        batch_size = self.config.batch_size

        def batches(rng: np.random.Generator) -> Iterable[Batch]:
            order = rng.permutation(len(graphs)) if shuffle else np.arange(len(graphs))
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                yield (
                    GraphBatch([graphs[i] for i in idx], qubits[idx]),
                    torch.as_tensor(tabular[idx]),
                    torch.as_tensor(y[idx]),
                )

        return batches

    def _correction(self, dataset: Dataset) -> npt.NDArray[np.float32]:
        noisy = np.asarray(dataset.extras["noisy"], dtype=np.float64)[:, 0]
        delta = (require_targets(dataset) - noisy) / self.scale_
        return np.asarray(delta, dtype=np.float32).reshape(-1, 1)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        seed_everything(seed)
        x = np.asarray(train.inputs, dtype=np.float64)
        self.scaler_ = Standardiser.columns(x, eps=1e-8)
        noisy = np.asarray(train.extras["noisy"], dtype=np.float64)[:, 0]
        self.scale_ = float(np.std(require_targets(train) - noisy) + 1e-8)
        self.net_ = CircuitGNN(x.shape[1], self.hidden, self.layers)
        valid_fn = None
        if valid is not None and len(valid):
            valid_fn = self._batches(valid, self._correction(valid), shuffle=False)
        self.train_module(
            self.net_,
            self._batches(train, self._correction(train), shuffle=True),
            nn.functional.mse_loss,
            valid_batches=valid_fn,
            seed=seed,
        )

    def predict(self, dataset: Dataset) -> Predictions:
        batches = self._batches(dataset, None, shuffle=False)(np.random.default_rng(0))
        out = predict_batches(self.net_, ((graph, tabular) for graph, tabular, _ in batches))
        delta = out[:, 0] * self.scale_
        noisy = np.asarray(dataset.extras["noisy"], dtype=np.float64)[:, 0]
        return Predictions(values=np.clip(noisy + delta, -1.0, 1.0))


circuit_gnn = torch_factory(CircuitGNNModel, CIRCUIT_GNN_TRAINING)
