"""CHGNet fine-tuned per training fold: what trains, what stays, that it learns, and without
the `foundation` extra one line."""

from __future__ import annotations

import gzip
import json
from importlib.resources import files

import numpy as np
import pytest
import torch
from assay.data import Dataset, DatasetMetadata
from assay.errors import DataError
from assay.models import build_model
from assay.plugin import process_catalog

META = DatasetMetadata(name="emt-example", version="1", provenance="test", licence="test")
needs_chgnet = pytest.mark.extras  # the `foundation` extra: `nox -s integration` runs these


def _emt_example(n: int) -> Dataset:
    """The first `n` EMT-relaxed alloys of the bundled Matbench example, with their formation
    energies (eV/atom)."""
    from pymatgen.core.structure import Structure

    path = files("assay_materials") / "examples" / "matbench_emt_example.json.gz"
    with gzip.open(str(path), "rt") as handle:
        rows = json.load(handle)["data"][:n]
    inputs = np.empty(n, dtype=object)
    for i, (structure, _) in enumerate(rows):
        inputs[i] = Structure.from_dict(structure)
    targets = np.array([target for _, target in rows], dtype=np.float64)
    return Dataset(inputs=inputs, targets=targets, metadata=META)


@needs_chgnet
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"trainable_blocks": -1}, "trainable_blocks must be at least 0"),
        ({"valid_fraction": 1.0}, r"valid_fraction must be in \[0, 1\)"),
        ({"max_epochs": 0}, "max_epochs must be at least 1"),
    ],
)
def test_finetuned_chgnet_refuses_bad_knobs(params: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model("materials.chgnet_finetuned", params, process_catalog().models)


@needs_chgnet
def test_finetuned_chgnet_refuses_formulas_and_foreign_elements() -> None:
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    model = build_model("materials.chgnet_finetuned", {"max_epochs": 1}, process_catalog().models)
    formulas = Dataset(
        inputs=np.array(["CuAu", "Cu3Au"], dtype=object), targets=np.zeros(2), metadata=META
    )
    with pytest.raises(DataError, match="row 0: CHGNet needs structures, got str"):
        model.fit(formulas, seed=0)
    iron = np.empty(1, dtype=object)
    iron[0] = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(DataError, match=r"fcc references for .* not Fe"):
        model.fit(Dataset(inputs=iron, targets=np.zeros(1), metadata=META), seed=0)


@needs_chgnet
def test_finetuning_trains_the_last_block_and_readout_only_and_learns_the_targets() -> None:
    from assay_materials.chgnet_finetune import CHGNetFineTuned
    from assay_materials.foundation import pretrained_chgnet, zero_shot_formation

    train = _emt_example(8)
    pretrained = {k: v.detach().clone() for k, v in pretrained_chgnet().state_dict().items()}
    model = build_model(
        "materials.chgnet_finetuned",
        {"max_epochs": 2, "batch_size": 2, "lr": 3e-3, "threads": 1},
        process_catalog().models,
    )
    assert isinstance(model, CHGNetFineTuned)
    model.fit(train, seed=0)

    # the cached model that zero-shot, calibration and the loop's prior share is untouched
    for name, value in pretrained_chgnet().state_dict().items():
        assert torch.equal(value, pretrained[name]), name
    tuned = model.net_.chgnet.state_dict()
    trainable = set(model.trainable_)
    assert trainable, "nothing was left trainable"
    assert all(
        name.startswith(("atom_conv_layers.3.", "readout_norm.", "mlp.")) for name in trainable
    ), sorted(trainable)
    changed = {name for name in tuned if not torch.equal(tuned[name].cpu(), pretrained[name])}
    assert changed, "fine-tuning changed no weight"
    assert changed <= trainable, sorted(changed - trainable)
    assert any(name.startswith("mlp.") for name in changed)
    assert any(name.startswith("atom_conv_layers.3.") for name in changed)

    assert train.targets is not None
    tuned_error = np.abs(model.predict(train.without_targets()).values - train.targets).mean()
    zero_shot_error = np.abs(zero_shot_formation(train) - train.targets).mean()
    assert tuned_error < zero_shot_error
    assert model.fitted_choices()["epochs_trained"] == 2


@needs_chgnet
def test_the_stored_last_block_path_reproduces_chgnets_forward() -> None:
    from assay_materials.chgnet_finetune import (
        FormationFromCHGNet,
        LastBlockBatch,
        last_block_inputs,
    )
    from assay_materials.foundation import pretrained_chgnet

    chgnet = pretrained_chgnet()
    structures = _emt_example(5).inputs
    graphs = [chgnet.graph_converter(s) for s in structures]
    stored, energies = last_block_inputs(chgnet, graphs)
    with torch.no_grad():
        replayed = FormationFromCHGNet(chgnet).last_block(LastBlockBatch.join(stored))
        batched = chgnet(graphs, task="e")["e"]
    assert torch.allclose(replayed, energies, atol=1e-5)
    assert torch.allclose(replayed, batched, atol=1e-5)


@needs_chgnet
def test_more_trainable_blocks_train_the_whole_network_path_and_stay_seeded() -> None:
    train = _emt_example(6)
    params = {"max_epochs": 1, "batch_size": 3, "trainable_blocks": 2, "threads": 1}
    model = build_model("materials.chgnet_finetuned", params, process_catalog().models)
    model.fit(train, seed=3)
    trainable = set(model.trainable_)
    for block in (
        "atom_conv_layers.2.",
        "bond_conv_layers.2.",
        "angle_layers.2.",
        "atom_conv_layers.3.",
    ):
        assert any(name.startswith(block) for name in trainable), block
    frozen = ("atom_embedding.", "atom_conv_layers.1.", "bond_conv_layers.1.", "angle_layers.1.")
    assert not any(name.startswith(frozen) for name in trainable)
    again = build_model("materials.chgnet_finetuned", params, process_catalog().models)
    again.fit(train, seed=3)
    blind = train.without_targets()
    assert np.array_equal(model.predict(blind).values, again.predict(blind).values)
