"""`core/croissant`: the supervised protocol on a Croissant dataset a user points to.

    assay run core/croissant --data path/to/croissant.json --target FIELD -m ridge -m mean
    assay run core/croissant-classification --data ... --target LABEL -m logistic -m majority

The source reads the record set that holds the target field as numbers
(`assay.data.croissant_read`), with the splits it declares. The splitter then
uses those: folds a folds record set declares (as `assay data export`
writes them), else a split field's train / valid / test rows as one fold,
else the scenario's own k-fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assay.data.dataset import (
    Dataset,
    DatasetMetadata,
    SourceParams,
    read_array,
    read_json,
    write_array,
    write_json,
)
from assay.data.splits import SPLITTERS, Fold
from assay.data.user_files import UserFileSource, bundled_path, require_varying_target
from assay.errors import DataError, SplitError

DECLARED_FOLDS = "declared_folds"
"""The extra holding, per row and fold, the row's declared role (train, valid, test or "")."""


class CroissantParams(SourceParams):
    path: str | None = None
    """the Croissant description (--data croissant.json)"""
    target: str
    """the field to predict: pass --target FIELD"""
    features: list[str] | None = None
    """the feature fields (default: every other field of the target's record set)"""
    labels: bool = False
    """the target is a class label (numbered 0, 1, ... in sorted order), not a number"""


class CroissantSource(UserFileSource[CroissantParams]):
    """A local Croissant dataset: the description and every file it names."""

    name = "core.croissant"
    version = "1"
    params_model = CroissantParams

    def generator_versions(self) -> dict[str, str]:
        from importlib import metadata

        try:
            return {"mlcroissant": metadata.version("mlcroissant")}
        except metadata.PackageNotFoundError:
            return {}

    def description(self, params: CroissantParams) -> Path:
        """The path given, or the bundled toy example for `path = "example"`."""
        folder = "croissant_classes" if params.labels else "croissant"
        example = bundled_path(self.name, "assay", "examples", folder, "croissant.json")
        return self.given_path(params, example=example)

    def input_files(self, params: CroissantParams) -> Sequence[Path]:
        from assay.data.croissant_read import check_files, read_description

        description = self.description(params)
        if not description.is_file():
            raise DataError(f"{self.name}: {description} not found; check the path given")
        return [description, *check_files(description, read_description(description))]

    def prepare(self, params: CroissantParams, out_dir: Path) -> None:
        from assay.data.croissant_read import read_table

        description = self.description(params)
        table = read_table(description, params.target, params.features, labels=params.labels)
        require_varying_target(
            table.targets,
            file=description,
            column=f"target field '{params.target}'",
            hint="pick another --target",
        )
        if not table.licence:
            raise DataError(
                f"{description.name}: declares no license; Assay records the "
                "licence of every dataset it runs on"
            )
        write_array(out_dir / "x.npy", np.ascontiguousarray(table.features))
        write_array(out_dir / "y.npy", np.ascontiguousarray(table.targets))
        if table.partition is not None:
            write_json(out_dir / "partition.json", table.partition.tolist())
        if table.fold_roles is not None:
            write_json(out_dir / "folds.json", table.fold_roles.tolist())
        write_json(
            out_dir / "meta.json",
            {
                "name": table.name,
                "licence": table.licence,
                "provenance": table.provenance or f"the Croissant dataset {table.name}",
                "features": list(table.feature_names),
                "classes": list(table.class_names),
            },
        )

    def load(self, params: CroissantParams, files_dir: Path) -> Dataset:
        meta = read_json(files_dir / "meta.json")
        partition = None
        if (files_dir / "partition.json").is_file():
            partition = np.asarray(read_json(files_dir / "partition.json"), dtype=np.str_)
        notes = [f"features: {', '.join(meta['features'])}"]
        classes = meta.get("classes", [])
        if classes:
            notes.append(", ".join(f"class {k} = {c}" for k, c in enumerate(classes)))
        extras = {}
        if (files_dir / "folds.json").is_file():
            extras[DECLARED_FOLDS] = np.asarray(read_json(files_dir / "folds.json"), dtype=np.str_)
        return Dataset(
            inputs=read_array(files_dir / "x.npy"),
            targets=read_array(files_dir / "y.npy"),
            partition=partition,
            extras=extras,
            metadata=DatasetMetadata(
                name=meta["name"],
                version="1",
                provenance=meta["provenance"],
                licence=meta["licence"],
                notes=tuple(notes),
            ),
        )


def declared_or_kfold(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """The folds the dataset declares, else its declared split as one fold, else k-fold."""
    roles = dataset.extras.get(DECLARED_FOLDS)
    if roles is not None:
        columns = np.asarray(roles)
        return [_fold(columns[:, j], 0, j, dataset) for j in range(columns.shape[1])]
    if dataset.partition is not None:
        return [_fold(np.asarray(dataset.partition), 0, 0, dataset)]
    return SPLITTERS.get("kfold")(dataset, folds=folds, repeats=repeats, seed=seed)


def _fold(roles: np.ndarray[Any, Any], repeat: int, index: int, dataset: Dataset) -> Fold:
    train = np.flatnonzero(roles == "train").astype(np.int64)
    test = np.flatnonzero(roles == "test").astype(np.int64)
    valid = np.flatnonzero(roles == "valid").astype(np.int64)
    if not len(train) or not len(test):
        raise SplitError(
            f"'{dataset.metadata.name}' declares a split with {len(train)} train and "
            f"{len(test)} test rows; both must be non-empty"
        )
    return Fold(repeat, index, train, test, valid if len(valid) else None)
