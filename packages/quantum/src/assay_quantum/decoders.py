"""Surface-code decoders: PyMatching MWPM (the baseline) and a 3-D convolutional network.

The network sees the space-time syndrome volume (t, x, y) with two channels,
the detection events and a mask of where detectors exist, and predicts the
probability that the logical observable flipped.

Training trick, exact rather than approximate: shots with the same syndrome
carry the same input, so the binary cross-entropy over all shots equals a
weighted cross-entropy over the unique syndromes, weighted by how often each
occurs, with the observed flip fraction as the soft label. At d=3, 10^6 shots
hold a few 10^4 unique syndromes, which makes large training sets cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pymatching  # type: ignore[import-untyped]
import torch
from assay.kit import (
    Batch,
    DataError,
    Dataset,
    Predictions,
    TorchModel,
    TrainConfig,
    predict_batches,
    require_targets,
    seed_everything,
    torch_factory,
)
from torch import nn

from assay_quantum.surface_code import SyndromeLayout, Syndromes


def syndromes_of(dataset: Dataset) -> Syndromes:
    if not isinstance(dataset.inputs, Syndromes):
        raise DataError(
            f"dataset '{dataset.metadata.name}': a decoder needs Syndromes inputs "
            "(the quantum.surface_code source)"
        )
    return dataset.inputs


class MWPMDecoder:
    """Minimum-weight perfect matching on the circuit's detector error model (PyMatching)."""

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        circuit = syndromes_of(train).layout.circuit()
        self.matching_ = pymatching.Matching.from_detector_error_model(
            circuit.detector_error_model(decompose_errors=True)
        )

    def predict(self, dataset: Dataset) -> Predictions:
        events = syndromes_of(dataset).events.astype(np.uint8)
        flips = np.asarray(self.matching_.decode_batch(events))[:, 0]
        return Predictions(values=flips.astype(np.int64))


def unique_syndromes(
    events: npt.NDArray[np.bool_], labels: npt.NDArray[np.int64] | None = None
) -> tuple[
    npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]
]:
    """Unique rows, the inverse map, their counts, and the flip fraction per unique row."""
    packed = np.packbits(events, axis=1)
    unique, inverse, counts = np.unique(packed, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    rows = np.unpackbits(unique, axis=1, count=events.shape[1]).astype(np.bool_)
    fraction = np.zeros(len(unique), dtype=np.float64)
    if labels is not None:
        flips = np.bincount(inverse, weights=labels.astype(np.float64), minlength=len(unique))
        fraction = np.asarray(flips / counts, dtype=np.float64)
    return rows, inverse.astype(np.int64), counts.astype(np.float64), fraction


def volumes(events: npt.NDArray[np.bool_], layout: SyndromeLayout) -> torch.Tensor:
    """(n, 2, T, X, Y): detection events and the detector mask."""
    t, x, y = layout.cells.T
    out = np.zeros((len(events), 2, *layout.shape), dtype=np.float32)
    out[:, 0, t, x, y] = events
    out[:, 1, t, x, y] = 1.0
    return torch.as_tensor(out)


class SyndromeCNN(nn.Module):
    def __init__(
        self, shape: tuple[int, int, int], channels: int, hidden: int, layers: int
    ) -> None:
        super().__init__()
        convs: list[nn.Module] = []
        n_in = 2
        for _ in range(layers):
            convs += [nn.Conv3d(n_in, channels, kernel_size=3, padding=1), nn.GELU()]
            n_in = channels
        self.convs = nn.Sequential(*convs)
        cells = shape[0] * shape[1] * shape[2]
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * cells, hidden), nn.GELU(), nn.Linear(hidden, 1)
        )

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.convs(volume))
        return out[:, 0]


def weighted_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """target[:, 0] is the flip fraction, target[:, 1] the shot count of each unique syndrome."""
    fraction, weight = target[:, 0], target[:, 1]
    losses = nn.functional.binary_cross_entropy_with_logits(logits, fraction, reduction="none")
    return (losses * weight).sum() / weight.sum()


NEURAL_DECODER_TRAINING = TrainConfig(
    max_epochs=30, lr=2e-3, weight_decay=1e-5, patience=12, threads=1, batch_size=256
)


class NeuralDecoder(TorchModel):
    """A 3-D CNN over the syndrome volume, trained on unique syndromes with shot counts."""

    def __init__(
        self,
        channels: int = 32,
        hidden: int = 128,
        layers: int = 3,
        config: TrainConfig | None = None,
    ) -> None:
        super().__init__(config or NEURAL_DECODER_TRAINING)
        self.channels, self.hidden, self.layers = channels, hidden, layers

    def _batches(self, dataset: Dataset, shuffle: bool) -> Any:
        syndromes = syndromes_of(dataset)
        rows, _, counts, fraction = unique_syndromes(syndromes.events, require_targets(dataset))
        inputs = volumes(rows, syndromes.layout)
        target = torch.as_tensor(np.stack([fraction, counts], axis=1), dtype=torch.float32)
        batch_size = self.config.batch_size

        def batches(rng: np.random.Generator) -> Iterable[Batch]:
            order = rng.permutation(len(rows)) if shuffle else np.arange(len(rows))
            for start in range(0, len(order), batch_size):
                idx = torch.as_tensor(order[start : start + batch_size])
                yield inputs[idx], target[idx]

        return batches

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        seed_everything(seed)
        layout = syndromes_of(train).layout
        self.net_ = SyndromeCNN(layout.shape, self.channels, self.hidden, self.layers)
        valid_fn = self._batches(valid, shuffle=False) if valid is not None and len(valid) else None
        self.train_module(
            self.net_,
            self._batches(train, shuffle=True),
            weighted_bce,
            valid_batches=valid_fn,
            seed=seed,
        )

    def predict(self, dataset: Dataset) -> Predictions:
        syndromes = syndromes_of(dataset)
        rows, inverse, _, _ = unique_syndromes(syndromes.events)
        inputs = volumes(rows, syndromes.layout)
        logits = predict_batches(
            self.net_, ((inputs[start : start + 4096],) for start in range(0, len(inputs), 4096))
        )
        probability = 1.0 / (1.0 + np.exp(-logits))
        p = probability[inverse]
        return Predictions(
            values=(p > 0.5).astype(np.int64), probabilities=np.stack([1 - p, p], axis=1)
        )


neural_decoder = torch_factory(NeuralDecoder, NEURAL_DECODER_TRAINING)
