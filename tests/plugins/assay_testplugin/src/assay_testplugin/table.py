"""A user-file source for the core's tests: a CSV of numeric columns, one of them the target."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from assay.kit import (
    DataError,
    Dataset,
    DatasetMetadata,
    SourceParams,
    UserFileSource,
    bundled_path,
    read_array,
    read_json,
    write_array,
    write_json,
)


class TableParams(SourceParams):
    path: str | None = None
    """The CSV (`--data`), or "example" for the bundled one."""
    target: str = "y"


class TableFileSource(UserFileSource[TableParams]):
    name = "testplugin.table"
    params_model = TableParams

    def input_files(self, params: TableParams) -> list[Path]:
        example = bundled_path(self.name, "assay_testplugin", "examples", "table.csv")
        return [self.given_path(params, example=example)]

    def prepare(self, params: TableParams, out_dir: Path) -> None:
        (path,) = self.input_files(params)
        target = params.target
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        columns = list(rows[0]) if rows else []
        if target not in columns:
            raise DataError(f"{path}: no '{target}' column (columns: {columns})")
        features = [c for c in columns if c != target]
        write_array(out_dir / "x.npy", np.array([[float(r[c]) for c in features] for r in rows]))
        write_array(out_dir / "y.npy", np.array([float(r[target]) for r in rows]))
        write_json(out_dir / "name.json", path.name)

    def load(self, params: TableParams, files_dir: Path) -> Dataset:
        name = str(read_json(files_dir / "name.json"))
        meta = DatasetMetadata(name=name, version="1", provenance="a test CSV", licence="test")
        return Dataset(
            inputs=read_array(files_dir / "x.npy"),
            targets=read_array(files_dir / "y.npy"),
            metadata=meta,
        )
