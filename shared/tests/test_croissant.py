"""Croissant both ways: `assay data export` and `core/croissant` on a user's dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from assay.conformance.checks import check_croissant_export
from assay.data.croissant_read import read_table, validation_warnings
from assay.data.dataset import sha256_file
from assay.engine.units import prepare
from assay.errors import AssayError, DataError
from assay.evaluation.protocols import fit_and_valid_rows
from assay.plugin import Catalog
from assay.publish.croissant import export_description, export_scenario

pytest.importorskip("mlcroissant")

HAND_WRITTEN = Path(__file__).parent / "data" / "croissant_hf"
"""Written by hand in the style Hugging Face publishes: train.csv and test.csv in one
file set, the split taken from the file name and pointing into a cr:Split record set."""


def test_export_round_trips_through_mlcroissant(tmp_path: Path) -> None:
    bench = check_croissant_export("core/diabetes", tmp_path / "export")
    description = json.loads((tmp_path / "export" / "croissant.json").read_text())
    assert description["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    for item in description["distribution"]:
        assert item["sha256"] == sha256_file(tmp_path / "export" / item["contentUrl"])
    fields = {f["name"]: f for rs in description["recordSet"] for f in rs["field"]}
    assert fields["target"]["dataType"] == "sc:Float"
    assert fields["bmi"]["dataType"] == "sc:Float"  # scikit-learn's feature names
    assert "rmse" in fields["target"]["description"]
    assert "scikit-learn" in description["measurementTechnique"]
    assert description["license"] == bench.licence
    # a classification scenario with integer labels round-trips too
    check_croissant_export("core/breast-cancer", tmp_path / "bc")


def test_export_refuses_a_closed_loop_and_a_used_folder(
    core_catalog: Catalog, tmp_path: Path
) -> None:
    with pytest.raises(AssayError, match="no folds of rows to export"):
        export_scenario(core_catalog, "core/hartmann6-loop", "quick", tmp_path / "loop")
    assert not (tmp_path / "loop").exists()
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    with pytest.raises(AssayError, match="not an empty folder"):
        export_scenario(core_catalog, "core/diabetes", "quick", used)
    assert [p.name for p in used.iterdir()] == ["notes.txt"]


def test_a_description_alone_lists_the_files_a_full_export_writes(
    core_catalog: Catalog, tmp_path: Path
) -> None:
    boards = tmp_path / "leaderboards"
    (boards / "core").mkdir(parents=True)
    (boards / "core" / "diabetes.md").write_text("a board")  # a folder in use is fine
    path = export_description(core_catalog, "core/diabetes", "quick", boards)
    assert path == boards / "core" / "diabetes.croissant.json"
    assert sorted(p.name for p in (boards / "core").iterdir()) == [
        "diabetes.croissant.json",
        "diabetes.md",
    ]
    assert not validation_warnings(path)
    alone = json.loads(path.read_text())
    assert "not kept beside this description" in alone["description"]
    assert "assay data export core/diabetes --size quick --out DIR" in alone["description"]
    export_scenario(core_catalog, "core/diabetes", "quick", tmp_path / "full")
    full = json.loads((tmp_path / "full" / "croissant.json").read_text())
    assert alone["distribution"] == full["distribution"]
    for item in alone["distribution"]:
        assert item["sha256"] == sha256_file(tmp_path / "full" / item["contentUrl"])
    assert alone["recordSet"] == full["recordSet"]


def test_an_export_runs_as_core_croissant_on_its_own_folds(
    core_catalog: Catalog, tmp_path: Path
) -> None:
    export_scenario(core_catalog, "core/diabetes", "quick", tmp_path / "export")
    params = {"path": str(tmp_path / "export" / "croissant.json"), "target": "target"}
    ours = prepare(core_catalog, "core/croissant", "quick", source_params=params)
    original = prepare(core_catalog, "core/diabetes", "quick")
    np.testing.assert_allclose(ours.dataset.inputs, original.dataset.inputs)
    theirs = original.plan.payload.folds
    assert len(ours.plan.payload.folds) == len(theirs) == 5
    for mine, given in zip(ours.plan.payload.folds, theirs, strict=True):
        # the declared folds carry the validation rows the original carved for seed 0
        fit, valid = fit_and_valid_rows(
            original.plan.payload, given, original.dataset, original.protocol.valid_fraction, 0
        )
        assert len(valid) > 0
        assert mine.valid is not None
        assert np.array_equal(mine.train, np.sort(fit))
        assert np.array_equal(mine.valid, np.sort(valid))
        assert np.array_equal(mine.test, given.test)


def test_a_hand_written_hugging_face_style_dataset_runs_on_its_split(
    core_catalog: Catalog,
) -> None:
    path = HAND_WRITTEN / "croissant.json"
    assert validation_warnings(path) == set()
    table = read_table(path, "solubility")
    assert table.feature_names == ("mol_weight", "logp", "rings")
    assert list(table.partition) == ["test"] * 4 + ["train"] * 12  # files in name order
    params = {"path": str(path), "target": "solubility"}
    prepared = prepare(core_catalog, "core/croissant", "quick", source_params=params)
    (fold,) = prepared.plan.payload.folds
    assert (len(fold.train), len(fold.test)) == (12, 4)
    assert prepared.dataset.metadata.licence.startswith("https://creativecommons.org")


def test_without_a_declared_split_the_scenario_folds_are_used(
    core_catalog: Catalog, tmp_path: Path
) -> None:
    copy = _copy(tmp_path)
    doc = json.loads((copy / "croissant.json").read_text())
    rows = doc["recordSet"][1]
    rows["field"] = [f for f in rows["field"] if f["name"] != "split"]
    (copy / "croissant.json").write_text(json.dumps(doc))
    params = {"path": str(copy / "croissant.json"), "target": "solubility"}
    prepared = prepare(core_catalog, "core/croissant", "quick", source_params=params)
    assert len(prepared.plan.payload.folds) == 5


EXAMPLE = Path(__file__).parents[1] / "src" / "assay" / "examples" / "croissant"
"""The bundled toy example, in the style OpenML publishes: one CSV file object with its
sha256, a split column pointing into a cr:Split record set."""


def _copy(tmp_path: Path, original: Path = HAND_WRITTEN) -> Path:
    return Path(shutil.copytree(original, tmp_path / "copy"))


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ("missing", r"file 'measurements\.csv' not found at .*measurements\.csv"),
        ("edited", r"measurements\.csv has sha256 .*not the declared"),
        ("target", r"no field 'solubilty' to use as the target \(fields: .*default/solubility"),
        ("text", r"feature 'name' is sc:Text, not numeric"),
    ],
)
def test_bad_input_is_one_line(
    core_catalog: Catalog, tmp_path: Path, mistake: str, expected: str
) -> None:
    copy = _copy(tmp_path, EXAMPLE if mistake in ("missing", "edited") else HAND_WRITTEN)
    target = "yield" if mistake in ("missing", "edited") else "solubility"
    if mistake == "missing":
        (copy / "measurements.csv").unlink()
    elif mistake == "edited":
        with (copy / "measurements.csv").open("a") as handle:
            handle.write("s999,1.0,1.0,1.0,1.0,train\n")
    elif mistake == "target":
        target = "solubilty"
    else:
        doc = json.loads((copy / "croissant.json").read_text())
        rows = doc["recordSet"][1]
        name = next(f for f in rows["field"] if f["name"] == "name")
        rows["key"] = []  # the name is no longer the key: a text feature
        assert name["dataType"] == "sc:Text"
        (copy / "croissant.json").write_text(json.dumps(doc))
    params = {"path": str(copy / "croissant.json"), "target": target}
    with pytest.raises(DataError, match=expected) as caught:
        prepare(core_catalog, "core/croissant", "quick", source_params=params)
    assert "\n" not in str(caught.value)
    assert not list((tmp_path / "assay-home").rglob(".tmp-*"))


def test_a_constant_target_is_refused_in_one_line(core_catalog: Catalog, tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    for table in sorted((copy / "data").glob("*.csv")):
        lines = table.read_text().splitlines()
        # every row's solubility (the last column) set to 1.5: nothing to learn or score
        rows = [line.rsplit(",", 1)[0] + ",1.5" for line in lines[1:]]
        table.write_text("\n".join([lines[0], *rows]) + "\n")
    params = {"path": str(copy / "croissant.json"), "target": "solubility"}
    with pytest.raises(
        DataError, match=r"target field 'solubility' is 1\.5 in all 16 rows"
    ) as caught:
        prepare(core_catalog, "core/croissant", "quick", source_params=params)
    assert "\n" not in str(caught.value)
    assert "pick another --target" in str(caught.value)
    assert not list((tmp_path / "assay-home").rglob(".tmp-*"))


def test_class_labels_run_as_core_croissant_classification(
    core_catalog: Catalog, tmp_path: Path
) -> None:
    export_scenario(core_catalog, "core/breast-cancer", "quick", tmp_path / "export")
    params = {"path": str(tmp_path / "export" / "croissant.json"), "target": "target"}
    ours = prepare(core_catalog, "core/croissant-classification", "quick", source_params=params)
    original = prepare(core_catalog, "core/breast-cancer", "quick")
    np.testing.assert_array_equal(ours.dataset.targets, original.dataset.targets)
    assert "class 0 = 0, class 1 = 1" in ours.dataset.metadata.notes
    for mine, given in zip(ours.plan.payload.folds, original.plan.payload.folds, strict=True):
        assert np.array_equal(mine.test, given.test)
    # the bundled example: text labels numbered in sorted order, a declared validation set
    example = prepare(core_catalog, "core/croissant-classification", "quick")
    assert "class 0 = high, class 1 = low, class 2 = medium" in example.dataset.metadata.notes
    (fold,) = example.plan.payload.folds
    assert (len(fold.train), len(fold.test)) == (66, 18)
    assert fold.valid is not None
    assert len(fold.valid) == 6


def test_a_text_target_points_to_the_classification_scenario(core_catalog: Catalog) -> None:
    classes = EXAMPLE.parent / "croissant_classes" / "croissant.json"
    params = {"path": str(classes), "target": "grade"}
    with pytest.raises(DataError, match="for class labels run core/croissant-classification"):
        prepare(core_catalog, "core/croissant", "quick", source_params=params)
