"""Matbench task files in every form Matbench, matminer and pandas write them (files made here).

The forms: plain JSON, gzip, bz2 and xz; pandas split (with and without the index, and its
"tight" variant), columns, index and records orient; the Matbench id (`mbid`) as a column
(as in the task files of Matbench's repository) or as the index (as `matbench` loads a task);
composition tasks and structure tasks. Every refusal is one line naming the file and what it
found.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from assay.builtin import plugin as core_plugin
from assay.data.cache import DataCache
from assay.data.dataset import Dataset
from assay.engine.executors import SerialExecutor
from assay.engine.runner import GridEntry, plan_grid
from assay.errors import DataError
from assay.plugin import Catalog
from assay.spec import ModelEntry
from assay_materials.plugin import plugin
from assay_materials.user_files import EXAMPLE, MatbenchFileSource
from pymatgen.core.lattice import Lattice
from pymatgen.core.structure import Structure

FORMULAS = [
    "NaCl",
    "MgO",
    "Al2O3",
    "Fe2O3",
    "ZnO",
    "CuO",
    "TiO2",
    "SiO2",
    "CaO",
    "KBr",
    "LiF",
    "K6 S6",
]
MBIDS = [f"mb-expt-gap-{i + 1:04d}" for i in range(len(FORMULAS))]
GAPS = [8.5, 7.8, 8.8, 2.2, 3.4, 1.2, 3.0, 9.0, 7.0, 7.4, 13.6, 3.9]

COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "none": lambda raw: raw,
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
}
SUFFIX = {"none": ".json", "gzip": ".json.gz", "bz2": ".json.bz2", "xz": ".json.xz"}


def _columns(inputs: list[Any], column: str = "composition") -> dict[str, list[Any]]:
    return {"mbid": MBIDS, column: inputs, "gap expt": GAPS}


def layouts(table: dict[str, list[Any]]) -> dict[str, Any]:
    """`table` (columns, `mbid` first) as each pandas orient writes it."""
    names = list(table)
    n = len(table[names[0]])
    rows = [[table[c][i] for c in names] for i in range(n)]
    ids, rest = table["mbid"], names[1:]
    keyed = [{c: table[c][i] for c in rest} for i in range(n)]
    return {
        # The task files in Matbench's repository: pandas' default orient, mbid a column.
        "columns with an mbid column": {c: {str(i): table[c][i] for i in range(n)} for c in names},
        # `matbench`'s loaded frame (mbid the index) written with pandas' default orient.
        "columns with the mbid index": {c: dict(zip(ids, table[c], strict=True)) for c in rest},
        # matminer's store_dataframe_as_json of that frame.
        "split with the mbid index": {
            "index": ids,
            "columns": rest,
            "data": [row[1:] for row in rows],
        },
        # The same after reset_index(): the id becomes the first column.
        "split with an mbid column": {"index": list(range(n)), "columns": names, "data": rows},
        "split without an index, mbid a column": {"columns": names, "data": rows},
        "tight": {
            "index": ids,
            "columns": rest,
            "data": [row[1:] for row in rows],
            "index_names": ["mbid"],
            "column_names": [None],
        },
        "index": dict(zip(ids, keyed, strict=True)),
        "records": [{c: table[c][i] for c in names} for i in range(n)],
    }


def _write(tmp_path: Path, document: Any, compression: str = "none", name: str = "task") -> Path:
    path = tmp_path / f"{name}{SUFFIX[compression]}"
    path.write_bytes(COMPRESS[compression](json.dumps(document).encode()))
    return path


def _load(path: Path | str, root: Path, **params: Any) -> Dataset:
    dataset, _ = DataCache(root).load(MatbenchFileSource(), {"path": str(path), **params})
    return dataset


@pytest.mark.parametrize("compression", sorted(COMPRESS))
@pytest.mark.parametrize("layout", sorted(layouts(_columns(FORMULAS))))
def test_every_form_reads_the_same_composition_task(
    layout: str, compression: str, tmp_path: Path
) -> None:
    path = _write(tmp_path, layouts(_columns(FORMULAS))[layout], compression)
    dataset = _load(path, tmp_path / "cache")
    assert list(dataset.inputs) == FORMULAS
    assert dataset.targets is not None
    assert dataset.targets.tolist() == GAPS
    assert dataset.ids is not None
    assert list(dataset.ids) == MBIDS  # the Matbench id is the row's id, never a formula
    assert dataset.row_ids() is dataset.ids
    assert dataset.groups is not None
    assert dataset.groups[0] == "Cl-Na"
    assert any("target column 'gap expt'" in n for n in dataset.metadata.notes)


def _structure(i: int) -> Structure:
    lattice = Lattice.cubic(3.6 + 0.05 * i)
    species = ["Cu", "Au" if i % 2 else "Ag", "Cu", "Cu"]
    coords = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    return Structure(lattice, species, coords)


@pytest.mark.parametrize("compression", ["bz2", "gzip"])
def test_structure_task_as_matminer_writes_it(compression: str, tmp_path: Path) -> None:
    """Structures as Monty dicts (`@module`, `@class`) in split orient, as matminer stores a
    structure task; a `composition` column beside them does not make it a composition task,
    and of the extra columns the Matbench target name is the target."""
    structures = [_structure(i) for i in range(12)]
    table = {
        "mbid": [f"mb-mp-e-form-{i + 1:06d}" for i in range(12)],
        "structure": [s.as_dict() for s in structures],
        "composition": [s.composition.formula for s in structures],
        "e_form": [-0.01 * i for i in range(12)],
        "spg_num": [221] * 12,
    }
    path = _write(tmp_path, layouts(table)["split with the mbid index"], compression)
    dataset = _load(path, tmp_path / "cache")
    assert all(isinstance(s, Structure) for s in dataset.inputs)
    assert dataset.inputs[3].lattice.a == pytest.approx(3.75)
    assert dataset.targets is not None
    assert dataset.targets[5] == pytest.approx(-0.05)
    assert dataset.ids is not None
    assert dataset.ids[0] == "mb-mp-e-form-000001"
    assert any("input column 'structure' (structures)" in n for n in dataset.metadata.notes)


def test_named_target_among_several_numeric_columns(tmp_path: Path) -> None:
    table = {**_columns(FORMULAS), "band gap (eV)": GAPS[::-1], "spg_num": [225] * 12}
    del table["gap expt"]
    path = _write(tmp_path, layouts(table)["columns with an mbid column"])
    with pytest.raises(DataError) as raised:
        _load(path, tmp_path / "cache")
    message = str(raised.value)
    assert "which column is the target?" in message
    assert "'band gap (eV)'" in message
    assert "--target" in message
    assert "\n" not in message
    dataset = _load(path, tmp_path / "cache", target="band gap (eV)")
    assert dataset.targets is not None
    assert dataset.targets.tolist() == GAPS[::-1]


def test_matbench_ids_are_kept_beside_the_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    catalog = Catalog.from_plugins([core_plugin, plugin])
    path = _write(tmp_path, layouts(_columns(FORMULAS))["columns with an mbid column"], "bz2")
    params = {"path": str(path)}
    entry = GridEntry("materials/matbench-file", [ModelEntry(name="mean")], source_params=params)
    tasks = plan_grid(catalog, [entry], "quick")
    results = list(SerialExecutor(catalog).run(tasks))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    predicted = {str(i) for r in results for i in r.predictions["id"]}
    assert predicted == set(MBIDS)


def test_a_structure_model_on_a_composition_file_is_refused_while_planning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """crystal_graph reads atomic positions: on formulas it is refused before any unit runs,
    in one line that names the model, what the data hold and what to use instead."""
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    catalog = Catalog.from_plugins([core_plugin, plugin])
    path = _write(tmp_path, layouts(_columns(FORMULAS))["columns with an mbid column"], "bz2")
    models = [ModelEntry(name="mean"), ModelEntry(name="materials.crystal_graph")]
    entry = GridEntry("materials/matbench-file", models, source_params={"path": str(path)})
    with pytest.raises(DataError) as raised:
        plan_grid(catalog, [entry], "quick")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "model materials.crystal_graph needs structures, which the data of "
        "materials/matbench-file lack (row 0 is a str, not a structure); "
    ), message
    assert "materials.random_forest" in message
    entry = GridEntry("materials/matbench-file", models[:1], source_params={"path": str(path)})
    assert plan_grid(catalog, [entry], "quick")  # the same data serve a composition model


GOOD = layouts(_columns(FORMULAS))
BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "corrupt bz2": (
        lambda d: _raw(d, "task.json.bz2", b"BZh91AY&SY" + b"\x00" * 40),
        "a corrupt bz2 file",
    ),
    "truncated gzip": (
        lambda d: _raw(d, "task.json.gz", gzip.compress(json.dumps(GOOD["index"]).encode())[:60]),
        "a corrupt gzip file",
    ),
    "a zip archive": (
        lambda d: _raw(d, "task.json", b"PK\x03\x04" + b"\x00" * 40),
        "a zip archive (it starts with the bytes b'PK\\x03\\x04'); unzip it",
    ),
    "binary, not JSON": (
        lambda d: _raw(d, "task.json", b"\x89PNG\r\n\x1a\n" + b"\xff" * 8),
        "neither JSON text nor gzip, bz2 or xz compressed JSON",
    ),
    "pandas values orient": (
        lambda d: _write(d, [[f, g] for f, g in zip(FORMULAS, GAPS, strict=True)]),
        "found a list of 12 (list)",
    ),
    "a bare number": (lambda d: _write(d, 3.5), "found float 3.5"),
    "columns of unequal length": (
        lambda d: _write(
            d, {**GOOD["columns with an mbid column"], "gap expt": {"0": 1.0, "1": 2.0}}
        ),
        "column 'gap expt' has other rows than 'mbid' (2 against 12)",
    ),
    "split row of the wrong width": (
        lambda d: _write(
            d, {**GOOD["split with an mbid column"], "data": [["mb-x-1", "NaCl"]] * 12}
        ),
        "data row 0: expected 3 values",
    ),
    "classification target": (
        lambda d: _write(d, layouts({**_columns(FORMULAS), "gap expt": [True] * 12})["records"]),
        "holds true/false values (a classification task)",
    ),
    "unknown element": (
        lambda d: _write(d, layouts(_columns(["Xx2O3", *FORMULAS[1:]]))["records"]),
        "row 0 ('mb-expt-gap-0001'): 'Xx2O3'",
    ),
    "one column": (lambda d: _write(d, {"composition": {"0": "NaCl"}}), "1 column(s)"),
}


def _raw(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_task_file_is_one_line_naming_it(case: str, tmp_path: Path) -> None:
    make, expected = BAD_FILES[case]
    path = make(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as raised:
        _load(path, cache)
    message = str(raised.value)
    assert "\n" not in message
    assert str(path) in message, message
    assert expected in message, message
    written = list(cache.rglob("*")) if cache.exists() else []
    assert [p for p in written if p.is_file()] == []  # nothing half-written is left behind


def test_a_folder_given_as_a_task_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a folder; this source reads a file"):
        _load(tmp_path, tmp_path / "cache")


def test_bundled_example_keeps_its_rows_and_gains_ids(tmp_path: Path) -> None:
    dataset = _load(EXAMPLE, tmp_path)
    assert len(dataset) == 40
    assert dataset.ids is not None
    assert dataset.ids[0] == "emt-0"
    assert np.all(np.isfinite(np.asarray(dataset.targets)))
