"""The deep taggers: reflection symmetry, length-bucketed batches, padding that changes nothing."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import torch
from assay.data.dataset import Dataset, DatasetMetadata
from assay_hep.deep import (
    PFN,
    ParticleNetLite,
    Reflected,
    length_bucketed_batches,
    length_order,
    particlenet_lite,
    pfn,
)
from torch import nn

EACH_TAGGER = pytest.mark.parametrize(
    "tagger",
    [
        lambda: PFN(7, 3, (16, 16), (16,)),
        lambda: ParticleNetLite(7, 3, k=3),
        lambda: ParticleNetLite(7, 3, k=3, pooling="padded", max_particles=10),
        lambda: _trained_norms(ParticleNetLite(7, 3, k=3, norm="batch")),
    ],
    ids=["pfn", "particlenet", "particlenet-padded-pooling", "particlenet-batch-norm"],
)
"""Small three-class taggers of both kinds."""


def _trained_norms(net: ParticleNetLite) -> ParticleNetLite:
    """`net` after one training-mode pass, so its batch norms hold non-trivial statistics."""
    torch.manual_seed(1)
    net.train()(torch.randn(8, 10, 7) * 3 + 1, torch.ones(8, 10, dtype=torch.bool))
    return net


def _mirror(x: torch.Tensor, eta: float, phi: float) -> torch.Tensor:
    out = x.clone()
    out[..., 0] *= eta
    out[..., 1] *= phi
    return out


@EACH_TAGGER
def test_reflected_tagger_is_invariant_and_returns_log_probabilities(tagger) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    net = Reflected(tagger()).eval()
    mask = torch.arange(10).expand(4, 10) < torch.tensor([[10], [6], [5], [8]])
    x = torch.randn(4, 10, 7) * mask.unsqueeze(-1)
    with torch.no_grad():
        out = net(x, mask)
        for eta, phi in [(-1, 1), (1, -1), (-1, -1)]:
            torch.testing.assert_close(net(_mirror(x, eta, phi), mask), out, atol=1e-5, rtol=1e-5)
        bare = torch.log_softmax(net.tagger(x, mask), dim=-1)
    torch.testing.assert_close(out.exp().sum(dim=-1), torch.ones(4))
    assert not torch.allclose(out, bare, atol=1e-4)  # the bare tagger is not symmetric


def test_reflected_training_mirrors_each_jet_at_random() -> None:
    seen: list[torch.Tensor] = []

    class Spy(torch.nn.Module):
        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x.sum(dim=1)

    torch.manual_seed(0)
    x = torch.rand(200, 3, 7) + 0.1
    Reflected(Spy()).train()(x, torch.ones(200, 3, dtype=torch.bool))
    signs = torch.sign(seen[0][:, 0, :2] / x[:, 0, :2])
    assert {tuple(s) for s in signs.tolist()} == {(1, 1), (-1, 1), (1, -1), (-1, -1)}
    torch.testing.assert_close(seen[0][..., 2:], x[..., 2:])  # other features untouched
    assert torch.all(signs == torch.sign(seen[0][:, 2, :2] / x[:, 2, :2]))  # one mirror per jet


def _jets(pz_sign: float, py_sign: float, n: int = 60) -> ak.Array:
    """Jets along eta = phi = 0, so mirroring a jet flips its constituents' pz or py."""
    rng = np.random.default_rng(1)
    counts = rng.integers(8, 20, n)
    pt = [rng.exponential(30.0, c) + 1.0 for c in counts]
    eta = [rng.normal(0.0, 0.2, c) for c in counts]
    phi = [rng.normal(0.0, 0.2, c) for c in counts]
    return ak.zip(
        {
            "part_px": [p * np.cos(f) for p, f in zip(pt, phi, strict=True)],
            "part_py": [py_sign * p * np.sin(f) for p, f in zip(pt, phi, strict=True)],
            "part_pz": [pz_sign * p * np.sinh(e) for p, e in zip(pt, eta, strict=True)],
            "part_energy": [p * np.cosh(e) for p, e in zip(pt, eta, strict=True)],
            "jet_pt": [float(p.sum()) for p in pt],
            "jet_eta": np.zeros(n),
            "jet_phi": np.zeros(n),
            "jet_energy": [float((p * np.cosh(e)).sum()) for p, e in zip(pt, eta, strict=True)],
        },
        depth_limit=1,
    )


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("factory", [pfn, particlenet_lite], ids=["pfn", "particlenet"])
def test_fitted_tagger_predicts_the_same_for_a_jet_and_its_mirror_images(
    factory, precision
) -> None:  # type: ignore[no-untyped-def]
    meta = DatasetMetadata(name="mirror", version="1", provenance="test", licence="none")
    targets = np.arange(60) % 2

    def dataset(pz_sign: float, py_sign: float) -> Dataset:
        return Dataset(inputs=_jets(pz_sign, py_sign), targets=targets, metadata=meta)

    # bfloat16 trains under autocast; predictions stay float32, so mirrors agree as closely
    model = factory(max_particles=16, max_epochs=2, batch_size=16, precision=precision)
    model.fit(dataset(1, 1), seed=0)
    assert np.all(model.scaler_.mean[:2] == 0)  # deta, dphi scaled without shift
    choices = model.fitted_choices()  # tracked with the run
    assert choices["epochs_trained"] == 2
    assert choices["kept_epoch"] in (1, 2)
    reference = model.predict(dataset(1, 1)).probabilities
    for pz_sign, py_sign in [(-1, 1), (1, -1), (-1, -1)]:
        mirrored = model.predict(dataset(pz_sign, py_sign)).probabilities
        np.testing.assert_allclose(mirrored, reference, atol=1e-5)
    plain = factory(max_particles=16, max_epochs=2, batch_size=16, reflections=False)
    plain.fit(dataset(1, 1), seed=0)
    assert not isinstance(plain.net_, Reflected)


def test_length_bucketed_batches_serve_every_jet_once_cut_to_its_batch() -> None:
    counts = torch.tensor([3, 9, 1, 7, 2, 8, 5, 4, 6, 2])
    mask = torch.arange(12).expand(10, 12) < counts.unsqueeze(1)
    x = torch.arange(10.0).view(10, 1, 1).expand(10, 12, 2) * mask.unsqueeze(-1)
    y = torch.arange(10)
    batches = length_bucketed_batches(x, mask, y, batch_size=3, min_length=4, pool_batches=2)
    seen = []
    for xb, mb, yb in batches(np.random.default_rng(0)):
        assert xb.shape[1] == max(int(mb.sum(dim=1).max()), 4)  # cut, never below min_length
        assert torch.equal(mb.sum(dim=1), counts[yb])  # no constituent dropped
        assert torch.equal(xb[:, 0, 0], yb.float())
        seen += yb.tolist()
    assert sorted(seen) == list(range(10))
    unshuffled = length_bucketed_batches(x, mask, y, batch_size=4, min_length=1, shuffle=False)
    ordered = torch.cat([yb for _, _, yb in unshuffled(np.random.default_rng(0))])
    assert ordered.tolist() == length_order(mask).tolist()


@EACH_TAGGER
def test_taggers_ignore_padding_cut_off_by_the_batches(tagger) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    net = Reflected(tagger()).eval()
    mask = torch.arange(20).expand(3, 20) < torch.tensor([[9], [4], [6]])
    x = torch.randn(3, 20, 7) * mask.unsqueeze(-1)
    with torch.no_grad():
        torch.testing.assert_close(net(x[:, :9], mask[:, :9]), net(x, mask), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "padded"])
def test_particlenet_pooling_mean_or_padded_sum(pooling: str) -> None:
    net = ParticleNetLite(7, 2, k=3, pooling=pooling, max_particles=10)  # type: ignore[arg-type]
    net.convs = nn.ModuleList()  # pool the inputs themselves
    net.head = nn.Identity()
    five = torch.randn(1, 5, 7)
    jets = torch.cat(
        [torch.cat([five, torch.zeros(1, 5, 7)], dim=1), torch.cat([five, five], dim=1)]
    )  # the same five constituents once (then padding), and twice
    mask = torch.tensor([[True] * 5 + [False] * 5, [True] * 10])
    pooled = net(jets, mask)
    if pooling == "mean":
        torch.testing.assert_close(pooled[0], five[0].mean(dim=0))
        torch.testing.assert_close(pooled[1], pooled[0])
    else:  # a sum over constituents divided by max_particles keeps the multiplicity
        torch.testing.assert_close(pooled[0], five[0].sum(dim=0) / 10)
        torch.testing.assert_close(pooled[1], 2 * pooled[0])


def test_particlenet_refuses_an_unknown_pooling_or_norm() -> None:
    with pytest.raises(ValueError, match="pooling"):
        particlenet_lite(pooling="max")
    with pytest.raises(ValueError, match="norm"):
        particlenet_lite(norm="group")


def test_particlenet_batch_norm_normalises_every_edge_layer_and_the_shortcut() -> None:
    net = ParticleNetLite(7, 2, k=3, norm="batch")
    norms = [m for m in net.convs.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 2 * (3 + 1)  # two blocks of three edge layers, plus each shortcut
    assert not any(isinstance(m, nn.LayerNorm) for m in net.modules())
    _trained_norms(net)
    assert all(m.num_batches_tracked == 1 for m in norms)
    assert not torch.allclose(norms[0].running_mean, torch.zeros_like(norms[0].running_mean))
    layer = ParticleNetLite(7, 2, k=3)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in layer.modules())
