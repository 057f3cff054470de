"""Foundation potentials (CHGNet, SevenNet) fine-tuned per training fold: what trains, what
stays, that it learns, the stored last-block path; SevenNet's weights read offline."""

from __future__ import annotations

import gzip
import importlib
import json
import socket
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from assay.data.dataset import Dataset, DatasetMetadata
from assay.errors import DataError, UnknownNameError
from assay.evaluation.models import build_model
from assay.plugin import process_catalog

META = DatasetMetadata(name="emt-example", version="1", provenance="test", licence="test")


# The `foundation` extra: `nox -s integration` runs these (its `extras` tier).
needs_chgnet = pytest.mark.extras
needs_sevenn = pytest.mark.extras

# Per potential: its model prefix, its module and singleton, the parameter names of its last
# interaction block and readout, of an earlier block, and what trainable_blocks=2 adds.
POTENTIALS = [
    pytest.param(
        "chgnet",
        "CHGNET",
        ("atom_conv_layers.3.", "readout_norm.", "mlp."),
        ("atom_embedding.", "atom_conv_layers.1.", "bond_conv_layers.1.", "angle_layers.1."),
        ("atom_conv_layers.2.", "bond_conv_layers.2.", "angle_layers.2.", "atom_conv_layers.3."),
        marks=needs_chgnet,
        id="chgnet",
    ),
    pytest.param(
        "sevennet",
        "SEVENNET",
        ("4_", "reduce_input_to_hidden.", "reduce_hidden_to_energy."),
        ("onehot_to_feature_x.", "edge_embedding.", "2_", "rescale_atomic_energy."),
        ("3_", "4_"),
        marks=needs_sevenn,
        id="sevennet",
    ),
]


def _potential(module: str, name: str) -> Any:
    return getattr(importlib.import_module(f"assay_materials.{module}"), name)


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
        (
            {"trainable_blocks": -1},
            "'trainable_blocks': Input should be greater than or equal to 0",
        ),
        ({"valid_fraction": 1.0}, "'valid_fraction': Input should be less than 1"),
        ({"max_epochs": 0}, "'max_epochs': Input should be greater than or equal to 1"),
    ],
)
@pytest.mark.parametrize("model", ["materials.chgnet_finetuned", "materials.sevennet_finetuned"])
def test_finetuned_foundation_models_refuse_bad_knobs(
    model: str, params: dict[str, float], message: str
) -> None:
    if importlib.util.find_spec("sevenn") is None and "sevennet" in model:
        pytest.skip("the foundation extra is not installed")
    with pytest.raises(UnknownNameError, match=message):
        build_model(model, params, process_catalog().models)


@pytest.mark.parametrize(("module", "name", "last", "frozen", "two"), POTENTIALS)
def test_finetuned_foundation_models_refuse_formulas_and_foreign_elements(
    module: str, name: str, last: Any, frozen: Any, two: Any
) -> None:
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    label = _potential(module, name).label
    model = build_model(
        f"materials.{module}_finetuned", {"max_epochs": 1}, process_catalog().models
    )
    formulas = Dataset(
        inputs=np.array(["CuAu", "Cu3Au"], dtype=object), targets=np.zeros(2), metadata=META
    )
    with pytest.raises(DataError, match=f"row 0: {label} needs structures, got str"):
        model.fit(formulas, seed=0)
    iron = np.empty(1, dtype=object)
    iron[0] = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(DataError, match=rf"{label} zero-shot .* fcc references for .* not Fe"):
        model.fit(Dataset(inputs=iron, targets=np.zeros(1), metadata=META), seed=0)


@pytest.mark.parametrize(("module", "name", "last", "frozen", "two"), POTENTIALS)
def test_finetuning_trains_the_last_block_and_readout_only_and_learns_the_targets(
    module: str, name: str, last: tuple[str, ...], frozen: Any, two: Any
) -> None:
    from assay_materials.finetune import FineTuned

    potential = _potential(module, name)
    train = _emt_example(8)
    weights = {k: v.detach().clone() for k, v in potential.pretrained().named_parameters()}
    model = build_model(
        f"materials.{module}_finetuned",
        {"max_epochs": 2, "batch_size": 2, "lr": 3e-3, "threads": 1},
        process_catalog().models,
    )
    assert isinstance(model, FineTuned)
    model.fit(train, seed=0)

    # the cached network that zero-shot, calibration and the loop's prior share is untouched
    for key, value in potential.pretrained().named_parameters():
        assert torch.equal(value, weights[key]), key
    tuned = dict(model.net_.net.named_parameters())
    trainable = set(model.trainable_)
    assert trainable, "nothing was left trainable"
    assert all(key.startswith(last) for key in trainable), sorted(trainable)
    changed = {key for key in tuned if not torch.equal(tuned[key].cpu(), weights[key])}
    assert changed, "fine-tuning changed no weight"
    assert changed <= trainable, sorted(changed - trainable)
    for prefix in last[:1] + last[-1:]:  # the last block and the readout's output layer
        assert any(key.startswith(prefix) for key in changed), prefix

    assert train.targets is not None
    tuned_error = np.abs(model.predict(train.without_targets()).values - train.targets).mean()
    zero_shot_error = np.abs(potential.zero_shot_formation(train) - train.targets).mean()
    assert tuned_error < zero_shot_error
    assert model.fitted_choices()["epochs_trained"] == 2


@pytest.mark.parametrize(("module", "name", "last", "frozen", "two"), POTENTIALS)
def test_the_stored_last_block_path_reproduces_the_potentials_forward(
    module: str, name: str, last: Any, frozen: Any, two: Any
) -> None:
    potential = _potential(module, name)
    net = potential.pretrained()
    device = torch.device("cpu")
    graphs = [potential.graph(net, s, device) for s in _emt_example(5).inputs]
    stored, energies = potential.last_block_inputs(net, graphs)
    with torch.no_grad():
        replayed = potential.last_block(net, potential.join(stored, device))
        batched = potential.forward(net, graphs)
    assert torch.allclose(replayed, energies, atol=1e-5)
    assert torch.allclose(replayed, batched, atol=1e-5)
    # and those are the energies the zero-shot model reads
    assert np.allclose(potential.energies(net, list(_emt_example(5).inputs)), batched, atol=1e-5)


@pytest.mark.parametrize(("module", "name", "last", "frozen", "two"), POTENTIALS)
def test_more_trainable_blocks_train_the_whole_network_path_and_stay_seeded(
    module: str, name: str, last: Any, frozen: tuple[str, ...], two: tuple[str, ...]
) -> None:
    train = _emt_example(6)
    params = {"max_epochs": 1, "batch_size": 3, "trainable_blocks": 2, "threads": 1}
    model = build_model(f"materials.{module}_finetuned", params, process_catalog().models)
    model.fit(train, seed=3)
    trainable = set(model.trainable_)
    for block in two:
        assert any(key.startswith(block) for key in trainable), block
    assert not any(key.startswith(frozen) for key in trainable)
    again = build_model(f"materials.{module}_finetuned", params, process_catalog().models)
    again.fit(train, seed=3)
    blind = train.without_targets()
    assert np.array_equal(model.predict(blind).values, again.predict(blind).values)


@needs_sevenn
def test_sevennet_loads_its_weights_from_the_installed_package_without_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sevenn
    from assay_materials import foundation
    from assay_materials.sevennet import SEVENNET, checkpoint_path

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"SevenNet tried the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(foundation, "_PRETRAINED", {})  # load afresh, not the cached network
    path = checkpoint_path()
    assert path.is_file()
    assert path.resolve().is_relative_to(Path(sevenn.__file__).resolve().parent)
    net = SEVENNET.pretrained()
    assert "force_output" not in net._modules  # energies only
    assert len(SEVENNET.blocks(net)) == 5  # SevenNet-0: five interaction blocks
    assert SEVENNET.energies(net, list(_emt_example(2).inputs)).shape == (2,)


@needs_sevenn
def test_sevennet_without_its_weights_says_so_and_never_downloads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sevenn.util
    from assay.errors import NotInstalledError
    from assay_materials import foundation, sevennet

    def download(*args: object, **kwargs: object) -> None:
        raise AssertionError("SevenNet tried to download its weights")

    monkeypatch.setattr(sevenn.util, "download_checkpoint", download)
    monkeypatch.setattr(sevennet, "checkpoint_path", lambda: tmp_path / "missing.pth")
    monkeypatch.setattr(foundation, "_PRETRAINED", {})
    with pytest.raises(NotInstalledError, match=r"SevenNet-0's weights are missing .*missing\.pth"):
        sevennet.SEVENNET.pretrained()
