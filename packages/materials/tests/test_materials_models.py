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
