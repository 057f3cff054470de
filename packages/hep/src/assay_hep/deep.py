"""Deep jet taggers in torch on the core's training loop: PFN and ParticleNet-Lite.

Both read the per-constituent features of `assay_hep.features` (all 128
stored constituents by default), standardised with the training set's mean
and spread over real (unmasked) constituents. Batches group jets of similar
constituent counts and drop the padding beyond the longest jet of the batch:
most jets have far fewer than 128 constituents, so this halves the work
without changing any output. Both train with AdamW and a cosine-annealed
rate for all `max_epochs` (the rate reaches zero at the end, which is what
lets a small training set settle), then keep the weights of the best
validation epoch.

Jets are symmetric under eta -> -eta (the beams are identical) and
phi -> -phi (azimuthal reflection): a jet and its mirror images are equally
likely and have the same label. With `reflections` (the default) each training
jet is mirrored at random every epoch, and a prediction averages the class
probabilities of the jet's four mirror images, so the tagger is exactly
symmetric and learns from four times as many distinct jets.

- Particle Flow Network (Komiske, Metodiev, Thaler 2019): a per-particle
  network Phi, a masked sum, and a network F on the sum.
- ParticleNet-Lite (Qu, Gouskos 2020): two EdgeConv blocks on the k nearest
  neighbours (k = 7; first in (deta, dphi), then in the learned feature
  space), channels (32, 32, 32) and (64, 64, 64), a shortcut per block,
  global average pooling over real constituents, one dense layer of 128.
  `pooling = "padded"` divides the sum over constituents by the fixed
  `max_particles` instead, as the authors' Keras code does (a mean over all
  padded slots): the pooled features then keep the jet's multiplicity.
  By default (`norm = "layer"`), unlike the paper, the edge MLPs have no
  batch norm (on top tagging it made training 1.38 times slower and did not
  help); a layer norm after each block's shortcut sum stands in for it.
  `norm = "batch"` is the paper's block: a batch norm after every edge layer
  and on the shortcut.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import (
    Batch,
    BatchFn,
    Dataset,
    Params,
    Predictions,
    Standardiser,
    TorchModel,
    TrainConfig,
    predict_batches,
    require_targets,
    requires,
    seed_everything,
    torch_factory,
)
from pydantic import Field, model_validator
from torch import nn

from assay_hep.features import CONSTITUENTS, particle_features

_FAR = 1e9
"""Padding coordinates: far enough that a pad is never a real constituent's neighbour."""
_MIRRORED = 2
"""The first two particle features (deta, dphi) change sign under the jet's reflections."""
_MIRRORS = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
Pooling = Literal["mean", "padded"]
"""ParticleNet-Lite's global pooling: mean over real constituents, or sum / max_particles."""
Norm = Literal["layer", "batch"]
"""ParticleNet-Lite's normalisation: a layer norm per block, or the paper's batch norms."""


def _mirrored(x: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """`x` with its (deta, dphi) columns multiplied by `signs`, (B, 1, 2) or (1, 1, 2)."""
    return torch.cat([x[..., :_MIRRORED] * signs, x[..., _MIRRORED:]], dim=-1)


class Reflected(nn.Module):
    """A tagger made symmetric under eta -> -eta and phi -> -phi.

    Training: each jet is mirrored at random (augmentation). Evaluation: the
    log of the class probabilities averaged over the four mirror images, so the
    output is a valid logit for cross-entropy and softmax returns the average.
    The (deta, dphi) inputs are standardised without shift, so a sign flip of
    the scaled column is the reflection of the jet.
    """

    def __init__(self, tagger: nn.Module):
        super().__init__()
        self.tagger = tagger

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mirrors = _MIRRORS.to(x.device)
        if self.training:
            pick = torch.randint(len(mirrors), (x.shape[0],), device=x.device)
            return self.tagger(_mirrored(x, mirrors[pick].unsqueeze(1)), mask)  # type: ignore[no-any-return]
        log_probs = torch.stack(
            [
                torch.log_softmax(self.tagger(_mirrored(x, signs.view(1, 1, -1)), mask), dim=-1)
                for signs in mirrors
            ]
        )
        return torch.logsumexp(log_probs, dim=0) - math.log(len(mirrors))


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

    def __init__(self, n_in: int, channels: Sequence[int], k: int, norm: Norm = "layer"):
        super().__init__()
        self.k = k
        batch = norm == "batch"
        self.centre = nn.Linear(n_in, channels[0])
        self.neighbour = nn.Linear(n_in, channels[0], bias=False)
        layers: list[nn.Module] = [nn.BatchNorm1d(channels[0])] if batch else []
        layers.append(nn.ReLU())
        width = channels[0]
        for size in channels[1:]:
            layers.append(nn.Linear(width, size))
            layers += [nn.BatchNorm1d(size)] if batch else []
            layers.append(nn.ReLU())
            width = size
        self.mlp = nn.Sequential(*layers)
        self.shortcut = nn.Linear(n_in, width)
        # The paper normalises every edge layer and the shortcut with a batch norm;
        # the cheaper default normalises once, after the shortcut sum.
        self.shortcut_norm: nn.Module = nn.BatchNorm1d(width) if batch else nn.Identity()
        self.norm: nn.Module = nn.Identity() if batch else nn.LayerNorm(width)
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
        shortcut = self.shortcut_norm(self.shortcut(x).reshape(b * p, -1)).reshape(b, p, -1)
        return self.out(self.norm(h + shortcut)) * mask.unsqueeze(-1)  # type: ignore[no-any-return]


class ParticleNetLite(nn.Module):
    def __init__(
        self,
        n_features: int,
        n_classes: int,
        k: int = 7,
        blocks: Sequence[Sequence[int]] = ((32, 32, 32), (64, 64, 64)),
        dense: int = 128,
        dropout: float = 0.1,
        pooling: Pooling = "mean",
        max_particles: int = 128,
        norm: Norm = "layer",
    ):
        super().__init__()
        self.pooling = pooling
        self.max_particles = max_particles
        convs = []
        width = n_features
        for channels in blocks:
            convs.append(EdgeConv(width, channels, k, norm))
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
        # "padded" divides by a constant, not by the batch's padded length, so
        # length-bucketed batches still give the same outputs.
        if self.pooling == "padded":
            pooled = h.sum(dim=1) / self.max_particles
        else:
            pooled = h.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1)
        return self.head(pooled)  # type: ignore[no-any-return]


def length_bucketed_batches(
    x: torch.Tensor,
    mask: torch.Tensor,
    *rest: torch.Tensor,
    batch_size: int,
    min_length: int,
    shuffle: bool = True,
    pool_batches: int = 16,
) -> BatchFn:
    """Batches of jets with similar constituent counts, cut to the longest jet in the batch.

    Constituents come first in each row (pT order, then padding), so the cut
    drops padding only and the taggers' outputs do not change; the work does,
    since most jets have far fewer than `max_particles` constituents. Shuffled:
    random pools of `pool_batches` batches are sorted by count and cut into
    batches, which are then served in random order, so every batch still mixes
    jets from all over the training set. Unshuffled: batches in count order
    (the caller puts the outputs back with `length_order`).
    """
    counts = mask.sum(dim=1).numpy()
    n = len(x)

    def batches(rng: np.random.Generator) -> Iterable[Batch]:
        if shuffle:
            order = rng.permutation(n)
            pool = batch_size * pool_batches
            chunks = []
            for start in range(0, n, pool):
                members = order[start : start + pool]
                members = members[np.argsort(counts[members], kind="stable")]
                chunks += [members[i : i + batch_size] for i in range(0, len(members), batch_size)]
            chunks = [chunks[i] for i in rng.permutation(len(chunks))]
        else:
            order = length_order(mask)
            chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        for members in chunks:
            idx = torch.as_tensor(members)
            length = min(max(int(counts[members].max()), min_length), x.shape[1])
            yield x[idx, :length], mask[idx, :length], *(t[idx] for t in rest)

    return batches


def length_order(mask: torch.Tensor) -> npt.NDArray[np.int64]:
    """Jets in order of constituent count: the order of unshuffled `length_bucketed_batches`."""
    return np.argsort(mask.sum(dim=1).numpy(), kind="stable")


class JetTorchModel(TorchModel):
    """Shared fit/predict for constituent-based torch taggers (cross-entropy, probabilities)."""

    def __init__(
        self,
        build: Callable[[int, int], nn.Module],
        *,
        max_particles: int,
        config: TrainConfig,
        reflections: bool,
        min_length: int = 1,
    ) -> None:
        super().__init__(config)
        self.build = build
        self.min_length = min_length
        self.max_particles = max_particles
        self.reflections = reflections

    def _inputs(self, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        features, mask = particle_features(dataset.inputs, self.max_particles)
        scaled = self.scaler_.apply(features) * mask[..., None]
        return torch.as_tensor(scaled.astype(np.float32)), torch.as_tensor(mask)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        seed_everything(seed)
        y = require_targets(train).astype(np.int64)
        self.n_classes_ = max(int(y.max()) + 1, 2)
        features, mask = particle_features(train.inputs, self.max_particles)
        real = features[mask]
        # deta and dphi are symmetric about the jet axis: scaled, not shifted, so
        # that a reflection of the jet is a sign flip of its scaled inputs.
        self.scaler_ = Standardiser.columns(real, eps=1e-6, unshifted=range(_MIRRORED))
        tagger = self.build(features.shape[-1], self.n_classes_)
        self.net_ = Reflected(tagger) if self.reflections else tagger
        x, m = self._inputs(train)
        valid_fn = None
        if valid is not None and len(valid):
            xv, mv = self._inputs(valid)
            yv = torch.as_tensor(require_targets(valid).astype(np.int64))
            valid_fn = length_bucketed_batches(
                xv, mv, yv, batch_size=1024, min_length=self.min_length, shuffle=False
            )
        self.train_module(
            self.net_,
            length_bucketed_batches(
                x,
                m,
                torch.as_tensor(y),
                batch_size=self.config.batch_size,
                min_length=self.min_length,
            ),
            nn.functional.cross_entropy,
            valid_batches=valid_fn,
            seed=seed,
        )

    def predict(self, dataset: Dataset) -> Predictions:
        x, m = self._inputs(dataset)
        if not len(x):
            raise ValueError("no jets to predict")
        batches = length_bucketed_batches(
            x, m, batch_size=1024, min_length=self.min_length, shuffle=False
        )
        logits = np.empty((len(x), self.n_classes_))
        logits[length_order(m)] = predict_batches(self.net_, batches(np.random.default_rng(0)))
        probs = torch.softmax(torch.as_tensor(logits), dim=-1).numpy()
        return Predictions(values=np.argmax(probs, axis=1), probabilities=probs)


PFN_TRAINING = TrainConfig(
    max_epochs=30, lr=1e-3, patience=30, lr_schedule="cosine", threads=1, batch_size=128
)
PARTICLENET_TRAINING = TrainConfig(
    max_epochs=20,
    lr=2e-3,
    weight_decay=1e-4,
    patience=20,
    lr_schedule="cosine",
    threads=1,
    batch_size=128,
)


def _pfn(
    config: TrainConfig,
    max_particles: Annotated[int, Field(ge=1)] = 128,
    phi: Sequence[int] = (100, 100, 128),
    f: Sequence[int] = (100, 100),
    reflections: bool = True,
) -> JetTorchModel:
    """Particle Flow Network (deep sets) on constituent features."""
    return JetTorchModel(
        lambda n_in, n_out: PFN(n_in, n_out, phi, f),
        max_particles=max_particles,
        config=config,
        reflections=reflections,
    )


class ParticleNetParams(Params):
    """ParticleNet-Lite's own parameters (the training knobs are `TrainConfig`'s)."""

    max_particles: int = Field(default=128, ge=1)
    k: int = Field(default=7, ge=1)
    """Neighbours per constituent in each EdgeConv block."""
    reflections: bool = True
    pooling: Pooling = "mean"
    norm: Norm = "layer"

    @model_validator(mode="after")
    def _room_for_neighbours(self) -> ParticleNetParams:
        if self.max_particles <= self.k:
            raise ValueError(
                f"particlenet: max_particles ({self.max_particles}) must exceed k ({self.k})"
            )
        return self


def _particlenet_lite(config: TrainConfig, params: ParticleNetParams) -> JetTorchModel:
    """ParticleNet-Lite: EdgeConv on the k nearest neighbours in (deta, dphi)."""
    p = params
    return JetTorchModel(
        lambda n_in, n_out: ParticleNetLite(
            n_in, n_out, k=p.k, pooling=p.pooling, max_particles=p.max_particles, norm=p.norm
        ),
        max_particles=p.max_particles,
        min_length=p.k + 1,  # every real constituent needs k other slots to pick neighbours from
        config=config,
        reflections=p.reflections,
    )


pfn = requires(CONSTITUENTS)(torch_factory(_pfn, PFN_TRAINING))
particlenet_lite = requires(CONSTITUENTS)(torch_factory(_particlenet_lite, PARTICLENET_TRAINING))
