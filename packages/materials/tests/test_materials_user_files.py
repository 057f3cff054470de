"""User files: Matbench task files and structure folders, and a bad-input corpus (one line each)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.data.dataset import Dataset, Source, sha256_file
from assay.errors import DataError
from assay.plugin import process_catalog
from assay_materials.splits import matbench_folds
from assay_materials.user_files import EXAMPLE, MatbenchFileSource, StructureFolderSource
from pymatgen.core.structure import Structure

GOOD_POSCAR = """Cu3Au
1.0
3.75 0 0
0 3.75 0
0 0 3.75
Au Cu
1 3
direct
0 0 0
0 0.5 0.5
0.5 0 0.5
0.5 0.5 0
"""


def _load(source: Source, params: dict[str, Any], root: Path) -> Dataset:
    dataset, _ = DataCache(root).load(source, params)
    return dataset


def _entries(root: Path) -> list[Path]:
    data = root / "data"
    return [p for p in data.rglob("manifest.json")] if data.is_dir() else []


def test_bundled_matbench_example_loads_with_structures(tmp_path: Path) -> None:
    dataset = _load(MatbenchFileSource(), {"path": EXAMPLE}, tmp_path)
    assert len(dataset) == 40
    assert isinstance(dataset.inputs[0], Structure)
    assert dataset.targets is not None
    assert np.all(np.isfinite(dataset.targets))
    folds = matbench_folds(dataset, folds=5, repeats=1, seed=0)
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(40))


def test_matbench_file_with_compositions(tmp_path: Path) -> None:
    formulas = ["NaCl", "MgO", "Al2O3", "Fe2O3", "ZnO", "CuO", "TiO2", "SiO2", "CaO", "KBr", "LiF"]
    table = {
        "index": [f"mb-{i}" for i in range(len(formulas))],
        "columns": ["composition", "gap expt"],
        "data": [[f, float(i)] for i, f in enumerate(formulas)],
    }
    path = tmp_path / "task.json"
    path.write_text(json.dumps(table))
    dataset = _load(MatbenchFileSource(), {"path": str(path)}, tmp_path / "cache")
    assert list(dataset.inputs) == formulas
    assert dataset.groups is not None
    assert dataset.groups[0] == "Cl-Na"
    card, digest = dataset.metadata, sha256_file(path)[:16]
    assert card.provenance.startswith(f"user Matbench task file {path} (sha256 {digest}, ")
    assert card.licence == "user-supplied data (licence as given by its owner)"
    assert card.notes[0] == "11 rows of task.json, target column 'gap expt'"


def test_bundled_structure_folder_reads_cif_poscar_and_extxyz(tmp_path: Path) -> None:
    dataset = _load(StructureFolderSource(), {"path": EXAMPLE}, tmp_path)
    assert len(dataset) == 12
    assert all(isinstance(s, Structure) for s in dataset.inputs)
    source = StructureFolderSource()
    example = source.targets_csv(source.validate_params({"path": EXAMPLE})).parent
    suffixes = {p.suffix for p in example.iterdir()}
    assert {".cif", ".vasp", ".extxyz"} <= suffixes
    assert f"{example} (sha256 " in dataset.metadata.provenance
    assert "of its 13 files" in dataset.metadata.provenance  # 12 structures and targets.csv


def test_user_scenarios_are_listed() -> None:
    ids = {s.spec.id for s in process_catalog().scenarios.values()}
    assert {"materials/matbench-file", "materials/structure-folder"} <= ids


def _folder_with(tmp_path: Path, name: str, content: str, target: str = "-0.01") -> Path:
    folder = tmp_path / "structures"
    source = StructureFolderSource()
    example = source.targets_csv(source.validate_params({"path": EXAMPLE})).parent
    shutil.copytree(example, folder)
    (folder / name).write_text(content)
    with (folder / "targets.csv").open("a") as handle:
        handle.write(f"{name},{target}\n")
    return folder


def _matbench_with(tmp_path: Path, table: Any) -> Path:
    path = tmp_path / "task.json"
    path.write_text(json.dumps(table))
    return path


def _formulas(first: str) -> dict[str, Any]:
    rows = [[first, -1.0]] + [["NaCl", -2.0]] * 11
    return {"index": list(range(12)), "columns": ["composition", "e"], "data": rows}


BAD_INPUTS: dict[str, tuple[str, Any]] = {
    "broken CIF": (
        "folder",
        ("bad.cif", "data_broken\n_cell_length_a 3.6\nloop_\n_atom_site_label\n"),
    ),
    "overlapping atoms": (
        "folder",
        ("overlap.vasp", GOOD_POSCAR.replace("0.5 0.5 0\n", "0 0 0.0001\n")),
    ),
    "NaN target": ("folder", ("ok.vasp", GOOD_POSCAR, "nan")),
    "unknown element in a structure": (
        "folder",
        ("xx.vasp", GOOD_POSCAR.replace("Au Cu", "Xx Cu")),
    ),
    "wrong JSON layout": ("matbench", [["NaCl", 1.0]] * 12),
    "records instead of split orient": ("matbench", {"columns": ["a"], "records": []}),
    "unknown element": ("matbench", _formulas("Xx2O3")),
    "NaN target in JSON": ("matbench", {**_formulas("NaCl"), "data": [["NaCl", None]] * 12}),
    "not JSON": ("matbench", None),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_leaves_nothing(case: str, tmp_path: Path) -> None:
    kind, payload = BAD_INPUTS[case]
    cache = tmp_path / "cache"
    if kind == "folder":
        folder = _folder_with(tmp_path, *payload)
        source: Source = StructureFolderSource()
        params: dict[str, Any] = {"path": str(folder)}
        expected = payload[0]
    else:
        path = _matbench_with(tmp_path, payload)
        if payload is None:
            path.write_text("{not json")
        source, params, expected = MatbenchFileSource(), {"path": str(path)}, "task.json"
    with pytest.raises(DataError) as raised:
        _load(source, params, cache)
    message = str(raised.value)
    assert "\n" not in message
    assert expected in message, message
    assert _entries(cache) == []
    leftovers = list((cache / "data").rglob(".tmp-*")) if (cache / "data").is_dir() else []
    assert leftovers == []


def _poscar(i: int) -> str:
    """Cu3X on fcc sites, X and the cell varying by row."""
    other = ("Au", "Ag", "Pd", "Pt")[i % 4]
    a = 3.6 + 0.04 * i
    rows = [f"{a} 0 0", f"0 {a} 0", f"0 0 {a}"]
    sites = ["0 0 0", "0 0.5 0.5", "0.5 0 0.5", "0.5 0.5 0"]
    return "\n".join([f"Cu3{other}", "1.0", *rows, f"{other} Cu", "1 3", "direct", *sites]) + "\n"


def _my_structures(tmp_path: Path, n: int = 10) -> Path:
    folder = tmp_path / "my_structures"
    folder.mkdir()
    lines = ["file,target"]
    for i in range(n):
        (folder / f"s{i}.vasp").write_text(_poscar(i))
        lines.append(f"s{i}.vasp,{-0.01 * i}")
    (folder / "targets.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_structure_folder_given_as_a_folder_path_through_assay_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `assay run materials/structure-folder --data my_structures/` hands the source."""
    import assay

    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    folder = _my_structures(tmp_path)
    bench = assay.load("materials/structure-folder", source_params={"path": f"{folder}/"})
    assert len(bench.dataset) == 10
    assert all(isinstance(s, Structure) for s in bench.dataset.inputs)
    assert bench.dataset.inputs[9].lattice.a == pytest.approx(3.96)
    assert len(bench.folds) == 5
    tested = sorted(np.concatenate([f.test_rows for f in bench.folds]).tolist())
    assert tested == list(range(10))


FOLDER_PROBLEMS: dict[str, tuple[dict[str, str], str]] = {
    "empty": ({}, "no structure files (CIF, POSCAR/CONTCAR/.vasp or extxyz/.xyz) in the folder"),
    "only targets.csv": (
        {"targets.csv": "file,target\n"},
        "in the folder; it holds only targets.csv",
    ),
    "no structures, no targets": (
        {"README.txt": "my data", "energies.dat": "1 2 3"},
        "no targets.csv (columns 'file' and 'target'); the folder holds no CIF",
    ),
    "structures without targets.csv": (
        {"a.cif": "data_a\n", "POSCAR_b": "x"},
        "no targets.csv (columns 'file' and 'target'); the folder holds 2 structure files",
    ),
}


@pytest.mark.parametrize("case", sorted(FOLDER_PROBLEMS))
def test_folder_without_structures_is_one_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assay

    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    contents, expected = FOLDER_PROBLEMS[case]
    folder = tmp_path / "my_structures"
    folder.mkdir()
    for name, text in contents.items():
        (folder / name).write_text(text)
    with pytest.raises(DataError) as raised:
        assay.load("materials/structure-folder", source_params={"path": str(folder)})
    message = str(raised.value)
    assert "\n" not in message
    assert str(folder) in message
    assert expected in message, message
    assert _entries(tmp_path / "home") == []


def test_a_file_given_as_the_structure_folder_is_one_line(tmp_path: Path) -> None:
    folder = _my_structures(tmp_path)
    with pytest.raises(DataError, match=r"s0\.vasp is a file; pass the folder"):
        _load(StructureFolderSource(), {"path": str(folder / "s0.vasp")}, tmp_path / "cache")


def _constant_task_file(tmp_path: Path) -> tuple[Path, str]:
    formulas = ["NaCl", "MgO", "Al2O3", "Fe2O3", "ZnO", "CuO", "TiO2", "SiO2", "CaO", "KBr"]
    table = {"columns": ["composition", "gap"], "data": [[f, 1.5] for f in formulas]}
    return _matbench_with(tmp_path, table), "task.json: target column 'gap' is 1.5 in all 10 rows"


def _constant_structure_folder(tmp_path: Path) -> tuple[Path, str]:
    folder = _my_structures(tmp_path)
    lines = ["file,target", *(f"s{i}.vasp,0.0" for i in range(10))]
    (folder / "targets.csv").write_text("\n".join(lines) + "\n")
    return folder, "targets.csv: column 'target' is 0 in all 10 rows"


CONSTANT_TARGETS = {
    "matbench file": (MatbenchFileSource, _constant_task_file),
    "structure folder": (StructureFolderSource, _constant_structure_folder),
}


@pytest.mark.parametrize("case", sorted(CONSTANT_TARGETS))
def test_a_constant_target_is_refused_in_one_line(case: str, tmp_path: Path) -> None:
    """One value in every row: a model would "succeed" on it with a meaningless score."""
    source_type, write = CONSTANT_TARGETS[case]
    path, expected = write(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as raised:
        _load(source_type(), {"path": str(path)}, cache)
    message = str(raised.value)
    assert "\n" not in message
    assert expected in message, message
    assert message.endswith("nothing to learn")
    assert _entries(cache) == []
