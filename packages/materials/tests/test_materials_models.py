"""Features and models: Magpie-style statistics, the torch models, the foundation potentials
with and without the extra."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from assay.data.dataset import Dataset, DatasetMetadata
from assay.errors import UnknownNameError
from assay.evaluation.models import build_model
from assay.plugin import process_catalog
from assay_materials.composition import (
    composition_statistics,
    feature_names,
    fraction_vector,
    parse_composition,
)

META = DatasetMetadata(name="toy", version="1", provenance="test", licence="test")


def _toy(n: int = 60) -> Dataset:
    """Binary Cu-Au 'compositions' with a smooth target: a learnable signal."""
    x = np.linspace(0.05, 0.95, n)
    formulas = np.array([f"Cu{1 - v:.3f}Au{v:.3f}" for v in x], dtype=object)
    return Dataset(inputs=formulas, targets=-0.1 * x * (1 - x), metadata=META)


def test_statistics_of_a_binary_follow_the_fractions() -> None:
    features = dict(
        zip(feature_names(), composition_statistics(parse_composition("Cu3Au")), strict=True)
    )
    assert features["mean_Z"] == pytest.approx(0.75 * 29 + 0.25 * 79)
    assert features["min_Z"] == 29
    assert features["range_Z"] == 50
    assert features["mode_Z"] == 29
    assert features["mad_Z"] == pytest.approx(2 * 0.75 * 0.25 * 50)
    assert features["n_elements"] == 2
    assert features["mean_valence_d"] == pytest.approx(10.0)  # Cu 3d10, Au 5d10
    vector = fraction_vector(parse_composition("Cu3Au"))
    assert vector[28] == pytest.approx(0.75)
    assert vector.sum() == pytest.approx(1.0)


def test_composition_attention_learns_a_smooth_binary() -> None:
    data = _toy()
    train, test = data.subset(np.arange(0, 60, 2)), data.subset(np.arange(1, 60, 2))
    model = build_model(
        "materials.composition_attention",
        {"max_epochs": 60, "hidden": 16, "layers": 1},
        process_catalog().models,
    )
    model.fit(train, seed=0)
    predicted = model.predict(test.without_targets()).values
    assert test.targets is not None
    dummy = np.mean(np.abs(test.targets - train.targets.mean()))  # type: ignore[union-attr]
    assert np.mean(np.abs(predicted - test.targets)) < dummy


def test_crystal_graph_refuses_formulas() -> None:
    model = build_model("materials.crystal_graph", {"max_epochs": 1}, process_catalog().models)
    with pytest.raises(Exception, match="needs structures"):
        model.fit(_toy(), seed=0)


def test_crystal_graph_keeps_cgcnns_twelve_nearest_neighbours_within_8_angstrom() -> None:
    from assay_materials.deep import CrystalGraphModel
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    a = 3.61  # fcc Cu: 12 neighbours at a / sqrt(2), then 6 at a, 24 more, ... within 8 A
    cu = Structure(
        Lattice.cubic(a), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    )
    inputs = np.empty(1, dtype=object)
    inputs[0] = cu
    z, centre, _, distance = CrystalGraphModel().encode(
        Dataset(inputs=inputs, targets=None, metadata=META)
    )[0]
    assert z.tolist() == [29] * 4
    assert np.bincount(centre).tolist() == [12] * 4
    assert distance == pytest.approx(np.full(48, a / np.sqrt(2)), abs=1e-4)


def test_cgcnn_atom_features_are_nine_one_hot_groups() -> None:
    from assay_materials.deep import cgcnn_atom_features

    features = cgcnn_atom_features()
    assert features.shape[0] == 104  # padding row, then Z = 1..103
    assert features[0].sum() == 0
    assert features[1:].sum(dim=1).tolist() == [9.0] * 103
    assert bool((features[26] != features[29]).any())  # Fe and Cu differ


def test_batches_follow_crabnets_size_rule_within_the_knob() -> None:
    from assay_materials.deep import batch_rows

    assert batch_rows(200, 128) == 32  # 2^round(log2(200) - 4) = 16, floor 32
    assert batch_rows(1000, 128) == 64
    assert batch_rows(20000, 128) == 128  # the batch_size knob caps it
    assert batch_rows(20000, 4096) == 1024


def test_crabnet_width_follows_the_data_up_to_the_papers_512() -> None:
    from assay_materials.deep import crabnet_width

    assert crabnet_width(200) == 64  # Matbench steels' training folds
    assert crabnet_width(1366) == 256
    assert crabnet_width(100_000) == 512


def test_crabnet_network_gives_a_value_and_an_uncertainty_scored_by_robust_l1() -> None:
    import torch
    from assay_materials.deep import CompositionAttentionNetwork, fractional_encoding, robust_l1

    net = CompositionAttentionNetwork(16, 4, 1, 32, 0.0, (16, 8), fudge=0.0).eval()
    z = torch.tensor([[26, 6, 0], [29, 79, 0]])
    fractions = torch.tensor([[0.99, 0.01, 0.0], [0.75, 0.25, 0.0]])
    out = net(z, fractions).detach()
    assert out.shape == (2, 2)
    target = torch.zeros(2)
    with torch.no_grad():  # the validation pass: MAE of the value
        assert float(robust_l1(out, target)) == pytest.approx(float(out[:, 0].abs().mean()))
    log_std = out[:, 1]
    expected = (np.sqrt(2) * out[:, 0].abs() * torch.exp(-log_std) + log_std).mean()
    assert float(robust_l1(out, target)) == pytest.approx(float(expected), rel=1e-5)
    # the log encoding separates a 1 % dopant from a 2 % one more than the linear one does
    small = torch.tensor([0.01, 0.02])
    for log, floor in ((False, 0.0), (True, 0.5)):
        codes = fractional_encoding(small, 64, log=log)
        assert float((codes[0] - codes[1]).norm()) > floor
    linear = fractional_encoding(small, 64, log=False)
    logs = fractional_encoding(small, 64, log=True)
    assert (logs[0] - logs[1]).norm() > (linear[0] - linear[1]).norm()


@pytest.mark.parametrize(
    ("model", "package", "label"),
    [
        ("materials.chgnet_zero_shot", "chgnet", "CHGNet"),
        ("materials.chgnet_calibrated", "chgnet", "CHGNet"),
        ("materials.chgnet_finetuned", "chgnet", "CHGNet"),
        ("materials.sevennet_zero_shot", "sevenn", "SevenNet"),
        ("materials.sevennet_calibrated", "sevenn", "SevenNet"),
        ("materials.sevennet_finetuned", "sevenn", "SevenNet"),
    ],
)
def test_foundation_models_without_the_extra_are_reported_not_installed(
    monkeypatch: pytest.MonkeyPatch, model: str, package: str, label: str
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a)
    )
    with pytest.raises(
        UnknownNameError,
        match=rf"'{model}' needs {label}, which is not installed: "
        r"pip install 'assay-materials\[foundation\]'",
    ):
        build_model(model, {}, process_catalog().models)


@pytest.mark.slow
@pytest.mark.extras  # the `foundation` extra
def test_chgnet_zero_shot_gives_cu3au_a_small_formation_energy() -> None:
    from assay_materials.chgnet import CHGNET
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    cu3au = Structure(
        Lattice.cubic(3.75),
        ["Au", "Cu", "Cu", "Cu"],
        [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
    )
    inputs = np.empty(1, dtype=object)
    inputs[0] = cu3au  # np.array([structure]) would unpack its sites
    data = Dataset(inputs=inputs, targets=None, metadata=META)
    # DFT puts L1_2 Cu3Au near -0.1 eV/atom; a transferable model lands within a few tenths.
    assert abs(CHGNET.zero_shot_formation(data)[0]) < 0.3


@pytest.mark.extras  # the `foundation` extra
@pytest.mark.parametrize(("module", "name"), [("chgnet", "CHGNET"), ("sevennet", "SEVENNET")])
def test_zero_shot_values_are_kept_on_disk_for_other_processes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str, name: str
) -> None:
    from assay_materials import foundation
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    potential = getattr(importlib.import_module(f"assay_materials.{module}"), name)
    if not potential.installed():
        pytest.skip("the foundation extra is not installed")
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    monkeypatch.setattr(foundation, "_ZERO_SHOT", {})
    monkeypatch.setattr(potential, "reference", lambda symbol: -1.0)
    monkeypatch.setattr(potential, "pretrained", lambda: None)
    monkeypatch.setattr(potential, "energies", lambda net, s: np.full(len(s), -1.25))
    cells = np.empty(2, dtype=object)
    cells[:] = [Structure(Lattice.cubic(a), ["Cu"], [[0, 0, 0]]) for a in (2.5, 2.6)]
    data = Dataset(inputs=cells, targets=None, metadata=META)
    assert potential.zero_shot_formation(data).tolist() == [-0.25, -0.25]
    assert potential.zero_shot_file().is_file()
    assert potential.zero_shot_file().parent.name == potential.package

    def ask_again(net: object, structures: list[Structure]) -> None:
        raise AssertionError("the potential was asked again for structures saved on disk")

    monkeypatch.setattr(foundation, "_ZERO_SHOT", {})  # a new process: an empty memo
    monkeypatch.setattr(potential, "energies", ask_again)
    assert potential.zero_shot_formation(data).tolist() == [-0.25, -0.25]
