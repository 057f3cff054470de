"""The plugin's torch models, on the core's `TorchModel` base (training knobs in a
`TrainConfig`, flat `key=value` factories through `torch_factory`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import (
    Dataset,
    MLPModel,
    Predictions,
    TorchModel,
    TrainConfig,
    predict_batches,
    require_targets,
    requires,
    seed_everything,
    tensor_batches,
    torch_factory,
)
from torch import nn

from assay_lifesci.cells import log_normalise
from assay_lifesci.denoising import dense_counts
from assay_lifesci.genome import SEQUENCES, encode


def _annotation_mlp(
    hidden: int = 256, dropout: float = 0.3, config: TrainConfig | None = None
) -> MLPModel:
    """A two-layer perceptron (the core's `MLPModel`) on standardised expression."""
    return MLPModel(hidden=(hidden, hidden // 2), dropout=dropout, config=config)


mlp = torch_factory(
    _annotation_mlp,
    TrainConfig(max_epochs=60, lr=1e-3, weight_decay=1e-3, patience=10, batch_size=64),
)


class _CountNetwork(nn.Module):
    def __init__(self, n_genes: int, hidden: int, bottleneck: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_genes, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, bottleneck),
            nn.ReLU(),
            nn.Linear(bottleneck, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_genes),
        )

    def forward(self, x: torch.Tensor, library: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.body(x), dim=1) * library


def _poisson(rate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.poisson_nll_loss(rate, target, log_input=False, full=False)


class CountAutoencoder(TorchModel):
    """A count autoencoder (DCA-like, Eraslan et al. 2019, written here): log-normalised
    counts are encoded through a bottleneck and decoded into each cell's expected
    counts (softmax over genes x library size), trained with a Poisson loss on the
    seen counts. It predicts those expected counts."""

    def __init__(
        self,
        hidden: int = 128,
        bottleneck: int = 32,
        dropout: float = 0.1,
        config: TrainConfig | None = None,
    ) -> None:
        super().__init__(config)
        self.hidden, self.bottleneck, self.dropout = hidden, bottleneck, dropout

    @staticmethod
    def _inputs(
        counts: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        return log_normalise(counts), counts.sum(1, keepdims=True).astype(np.float32)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        seed_everything(seed)
        counts = dense_counts(train)
        self.net_ = _CountNetwork(counts.shape[1], self.hidden, self.bottleneck, self.dropout)
        x, library = self._inputs(counts)
        batches = tensor_batches(
            x, library, counts.astype(np.float32), batch_size=self.config.batch_size
        )
        self.train_module(self.net_, batches, _poisson, seed=seed)

    def predict(self, dataset: Dataset) -> Predictions:
        x, library = self._inputs(dense_counts(dataset))
        batches = tensor_batches(x, library, batch_size=512, shuffle=False)
        return Predictions(values=predict_batches(self.net_, batches(np.random.default_rng(0))))


count_autoencoder = torch_factory(
    CountAutoencoder, TrainConfig(max_epochs=100, lr=1e-3, patience=10, batch_size=64)
)


def one_hot(sequences: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Windows as (n, 4, length) one-hot arrays; N is 0.25 in every channel."""
    eye = np.vstack([np.eye(4, dtype=np.float32), np.full((1, 4), 0.25, np.float32)])
    return np.ascontiguousarray(eye[encode(sequences)].transpose(0, 2, 1))


class WindowCnn(TorchModel):
    """A 1-D convolutional network on one-hot windows: a convolution spanning two codons,
    max pooling over a codon, a second convolution, global max pooling and a logistic
    output; the loss weighs the classes equally (coding windows dominate)."""

    def __init__(self, channels: int = 32, config: TrainConfig | None = None) -> None:
        super().__init__(config)
        self.channels = channels

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        seed_everything(seed)
        c = self.channels
        self.net_ = nn.Sequential(
            nn.Conv1d(4, c, kernel_size=6, padding=3),
            nn.ReLU(),
            nn.MaxPool1d(3),
            nn.Conv1d(c, c, kernel_size=9, padding=4),
            nn.ReLU(),
            nn.AdaptiveMaxPool1d(1),
            nn.Flatten(),
            nn.Linear(c, 1),
            nn.Flatten(0),
        )
        y = require_targets(train).astype(np.float32)
        positive = float(np.clip(y.mean(), 0.01, 0.99))
        weight = torch.tensor((1 - positive) / positive)

        def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return nn.functional.binary_cross_entropy_with_logits(
                logits, target, pos_weight=weight.to(logits.device)
            )

        valid_fn = None
        if valid is not None and len(valid):
            valid_y = require_targets(valid).astype(np.float32)
            valid_fn = tensor_batches(one_hot(valid.inputs), valid_y, batch_size=512, shuffle=False)
        batches = tensor_batches(one_hot(train.inputs), y, batch_size=self.config.batch_size)
        self.train_module(self.net_, batches, loss, valid_batches=valid_fn, seed=seed)

    def predict(self, dataset: Dataset) -> Predictions:
        batches = tensor_batches(one_hot(dataset.inputs), batch_size=512, shuffle=False)
        logits = predict_batches(self.net_, batches(np.random.default_rng(0)))
        p = 1.0 / (1.0 + np.exp(-logits))
        return Predictions(
            values=(p >= 0.5).astype(np.int64), probabilities=np.stack([1 - p, p], axis=1)
        )


window_cnn = requires(SEQUENCES)(
    torch_factory(WindowCnn, TrainConfig(max_epochs=30, lr=1e-3, patience=5, batch_size=128))
)
