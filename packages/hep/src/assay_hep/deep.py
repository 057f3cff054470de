"""Deep jet taggers in torch on the core's training loop: PFN and ParticleNet-Lite.

Both read the per-constituent features of `assay_hep.features` (the
hardest `max_particles` constituents: all 128 stored for the PFN, whose cost
grows linearly with them; 64 for ParticleNet-Lite, whose neighbour search
grows with their square, so that training fits a 2-core CPU budget),
standardised with the training set's mean and spread over real (unmasked)
constituents. Both train with AdamW and a cosine-annealed rate for all
`max_epochs` (the rate reaches zero at the end, which is what lets a small
training set settle), then keep the weights of the best validation epoch.

- Particle Flow Network (Komiske, Metodiev, Thaler 2019): a per-particle
  network Phi, a masked sum, and a network F on the sum.
- ParticleNet-Lite (Qu, Gouskos 2020): two EdgeConv blocks on the k nearest
  neighbours (k = 7; first in (deta, dphi), then in the learned feature
  space), channels (32, 32, 32) and (64, 64, 64), a shortcut per block,
  global average pooling over real constituents, one dense layer of 128.
  Unlike the paper, the edge MLPs have no batch norm (it took a third of the
  CPU time); a layer norm after each block's shortcut sum stands in for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from assay.data import Dataset
from assay.models import require_targets
from assay.predictions import Predictions
from assay.torch_training import (
    TrainConfig,
    fit_module,
    predict_batches,
    seed_everything,
    tensor_batches,
)
from torch import nn

from assay_hep.features import particle_features

_FAR = 1e9
"""Padding coordinates: far enough that a pad is never a real constituent's neighbour."""


class PFN(nn.Module):
    def __init__(self, n_features: int, n_classes: int, phi: Sequence[int], f: Sequence[int]):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in phi:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.phi = nn.Sequential(*layers)
        head: list[nn.Module] = []
        for size in f:
            head += [nn.Linear(width, size), nn.ReLU()]
            width = size
        head.append(nn.Linear(width, n_classes))
        self.f = nn.Sequential(*head)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        latent = self.phi(x) * mask.unsqueeze(-1)
        return self.f(latent.sum(dim=1))  # type: ignore[no-any-return]


def _knn(points: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (B, P, k) of each point's k nearest real neighbours (itself excluded)."""
    shifted = points + (~mask).unsqueeze(-1).float() * _FAR
    distance = torch.cdist(shifted, shifted)
    distance.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    return distance.topk(k, dim=-1, largest=False).indices


class EdgeConv(nn.Module):
    """EdgeConv: an MLP on (x_i, x_j - x_i) for the k neighbours j of i, averaged over j.

    The first layer is linear, so W (x_i, x_j - x_i) = (W_a - W_b) x_i + W_b x_j is
    computed per point and only gathered per edge: the same function for k times
    less work, which is what makes training fit a CPU budget.
    """

    def __init__(self, n_in: int, channels: Sequence[int], k: int):
        super().__init__()
        self.k = k
        self.centre = nn.Linear(n_in, channels[0])
        self.neighbour = nn.Linear(n_in, channels[0], bias=False)
        layers: list[nn.Module] = [nn.ReLU()]
        width = channels[0]
        for size in channels[1:]:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.shortcut = nn.Linear(n_in, width)
        self.norm = nn.LayerNorm(width)
        self.out = nn.ReLU()

    def forward(self, points: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, p, _ = x.shape
        neighbours = _knn(points, mask, self.k)  # (B, P, k)
        offset = torch.arange(b, device=x.device).view(b, 1, 1) * p
        own = self.centre(x) - self.neighbour(x)  # (W_a - W_b) x_i
        other = self.neighbour(x)  # W_b x_j
        width = own.shape[-1]
        gathered = other.reshape(b * p, width)[(neighbours + offset).reshape(-1)]
        h = (own.reshape(b * p, 1, width) + gathered.view(b * p, self.k, width)).reshape(-1, width)
        h = self.mlp(h).reshape(b, p, self.k, -1).mean(dim=2)
        return self.out(self.norm(h + self.shortcut(x))) * mask.unsqueeze(-1)  # type: ignore[no-any-return]


class ParticleNetLite(nn.Module):
    def __init__(
        self,
        n_features: int,
        n_classes: int,
        k: int = 7,
        blocks: Sequence[Sequence[int]] = ((32, 32, 32), (64, 64, 64)),
        dense: int = 128,
        dropout: float = 0.1,
    ):
        super().__init__()
        convs = []
        width = n_features
        for channels in blocks:
            convs.append(EdgeConv(width, channels, k))
            width = channels[-1]
        self.convs = nn.ModuleList(convs)
        self.head = nn.Sequential(
            nn.Linear(width, dense), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dense, n_classes)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # No input batch norm (the paper has one): the inputs are already standardised
        # over real constituents, and a batch norm would count the padding slots.
        h = x * mask.unsqueeze(-1)
        points = x[..., :2]  # standardised (deta, dphi)
        for conv in self.convs:
            h = conv(points, h, mask)
            points = h
        pooled = h.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1)
        return self.head(pooled)  # type: ignore[no-any-return]


class JetTorchModel:
    """Shared fit/predict for constituent-based torch taggers (cross-entropy, probabilities)."""

    def __init__(
        self,
        build: Callable[[int, int], nn.Module],
        *,
        max_particles: int,
        batch_size: int,
        config: TrainConfig,
    ) -> None:
        self.build = build
        self.max_particles = max_particles
        self.batch_size = batch_size
        self.config = config

    def _inputs(self, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        features, mask = particle_features(dataset.inputs, self.max_particles)
        scaled = (features - self.mean_) / self.std_ * mask[..., None]
        return torch.as_tensor(scaled.astype(np.float32)), torch.as_tensor(mask)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        seed_everything(seed)
        y = require_targets(train).astype(np.int64)
        self.n_classes_ = max(int(y.max()) + 1, 2)
        features, mask = particle_features(train.inputs, self.max_particles)
        real = features[mask]
        self.mean_ = real.mean(axis=0)
        self.std_ = real.std(axis=0) + 1e-6
        self.net_ = self.build(features.shape[-1], self.n_classes_)
        x, m = self._inputs(train)
        valid_fn = None
        if valid is not None and len(valid):
            xv, mv = self._inputs(valid)
            yv = torch.as_tensor(require_targets(valid).astype(np.int64))
            valid_fn = tensor_batches(xv, mv, yv, batch_size=1024, shuffle=False)
        fit_module(
            self.net_,
            tensor_batches(x, m, torch.as_tensor(y), batch_size=self.batch_size),
            nn.functional.cross_entropy,
            valid_batches=valid_fn,
            config=self.config,
            seed=seed,
        )

    def predict(self, dataset: Dataset) -> Predictions:
        x, m = self._inputs(dataset)
        if not len(x):
            raise ValueError("no jets to predict")
        logits = predict_batches(
            self.net_,
            (
                (x[start : start + 1024], m[start : start + 1024])
                for start in range(0, len(x), 1024)
            ),
        )
        probs = torch.softmax(torch.as_tensor(logits), dim=-1).numpy()
        return Predictions(values=np.argmax(probs, axis=1), probabilities=probs)


def pfn(
    max_particles: int = 128,
    phi: Sequence[int] = (100, 100, 128),
    f: Sequence[int] = (100, 100),
    batch_size: int = 128,
    max_epochs: int = 30,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int = 30,
    lr_schedule: Literal["constant", "cosine"] = "cosine",
    threads: int = 1,
) -> JetTorchModel:
    """Particle Flow Network (deep sets) on constituent features."""
    return JetTorchModel(
        lambda n_in, n_out: PFN(n_in, n_out, phi, f),
        max_particles=max_particles,
        batch_size=batch_size,
        config=TrainConfig(
            max_epochs=max_epochs,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            lr_schedule=lr_schedule,
            threads=threads,
        ),
    )


def particlenet_lite(
    max_particles: int = 64,
    k: int = 7,
    batch_size: int = 128,
    max_epochs: int = 15,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    patience: int = 15,
    lr_schedule: Literal["constant", "cosine"] = "cosine",
    threads: int = 1,
) -> JetTorchModel:
    """ParticleNet-Lite: EdgeConv on the k nearest neighbours in (deta, dphi)."""
    if max_particles <= k:
        raise ValueError(f"particlenet: max_particles ({max_particles}) must exceed k ({k})")
    return JetTorchModel(
        lambda n_in, n_out: ParticleNetLite(n_in, n_out, k=k),
        max_particles=max_particles,
        batch_size=batch_size,
        config=TrainConfig(
            max_epochs=max_epochs,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            lr_schedule=lr_schedule,
            threads=threads,
        ),
    )
