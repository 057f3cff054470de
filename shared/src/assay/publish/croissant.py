"""`assay data export`: a scenario's prepared data in open formats, described in Croissant.

The export folder holds

- `rows.parquet`: one row per dataset row, `row` (its index in `assay.load`'s
  dataset), the inputs as columns (numbers, or lists of numbers, or text such
  as SMILES), `target`, and the row annotations (group, partition, extras);
- `folds.parquet`: per fold, seed and repeat, the rows that train, validate
  and test (lists of row indices; the same rows `assay run` and `assay.load` use);
- the files a plugin adds in its field's format (structures as extxyz, jets
  as JetClass ROOT);
- `croissant.json`: MLCommons Croissant 1.0 JSON-LD that describes every
  file (with its sha256) and every field (type and meaning), the target, the
  splits, provenance, licence, citations, and for generated data the
  generator's versions and parameters.

Nothing of a failed export is left behind: files are written to a staging
folder that is renamed into place at the end.

`export_description` keeps the description alone (`assay data export --description-only`):
the site links it beside each board without holding the data. It still lists every file
with its sha256, so the files a full export writes are the ones it verifies.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.data.dataset import Dataset, read_json, sha256_file
from assay.data.export import ExportColumn, ExportView, Ragged, extras_of
from assay.data.splits import Split
from assay.errors import AssayError, DataError
from assay.evaluation.protocols import fit_and_valid_rows
from assay.plugin import Catalog
from assay.spec import ScenarioSpec, Size

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
ROWS_FILE = "rows.parquet"
FOLDS_FILE = "folds.parquet"
DESCRIPTION_FILE = "croissant.json"
DESCRIPTION_SUFFIX = ".croissant.json"  # a description kept alone: <domain>/<name>.croissant.json
DATA_SHA_LABEL = "data sha256"  # names the data sha in the description's measurementTechnique
ROLES = {
    "train": ("cr:TrainingSplit", "rows a model fits on"),
    "valid": ("cr:ValidationSplit", "rows for early stopping and tuning (from the training side)"),
    "test": ("cr:TestSplit", "held-out rows the fold is scored on"),
}

# The JSON-LD context of Croissant 1.0 (the vocabulary's terms; Croissant's examples use it).
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


@dataclass(frozen=True)
class ExportSummary:
    description: Path
    rows: int
    folds: int
    files: tuple[str, ...]


def exportable(scenario: str, catalog: Catalog | None = None) -> bool:
    """Whether `assay data export` serves `scenario`: it has a data source and a protocol
    of the supervised family, which cuts folds of rows (not a closed loop, not molecular
    cross-validation)."""
    from assay.evaluation.protocols import SupervisedProtocol
    from assay.plugin import process_catalog

    try:
        catalog = catalog or process_catalog()
        spec = catalog.scenario(scenario).spec
        protocol = catalog.protocols.get(spec.protocol.name)
    except AssayError:
        return False
    return spec.source is not None and isinstance(protocol, SupervisedProtocol)


def export_scenario(catalog: Catalog, scenario: str, size: Size, out: Path) -> ExportSummary:
    """Write `scenario`'s data at `size` into the new folder `out` (see the module doc)."""
    from assay.data.cache import DataCache
    from assay.engine.units import prepare

    out = out.expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AssayError(f"{out} exists and is not an empty folder; give a new --out folder")
    spec = catalog.scenario(scenario).spec
    if not exportable(scenario, catalog):
        raise AssayError(
            f"{spec.key} uses the '{spec.protocol.name}' protocol, which has no folds of rows "
            "to export (only the supervised family cuts the data into folds of rows)"
        )
    prepared = prepare(catalog, scenario, size)
    split = prepared.plan.payload
    if not isinstance(split, Split):
        raise AssayError(f"{spec.key}: its protocol planned no folds of rows to export")
    source = catalog.source(spec.data_source.name)
    params = spec.data_source.params_for(size)
    manifest_path = DataCache().ensure(source, params).path / "manifest.json"
    manifest = read_json(manifest_path)
    # the day the data were prepared: the same for every export of one cache entry
    manifest["prepared_on"] = (
        datetime.fromtimestamp(manifest_path.stat().st_mtime, tz=UTC).date().isoformat()
    )
    dataset = prepared.dataset
    view = source.export_view(dataset, source.validate_params(params))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}-", dir=out.parent))
    try:
        rows = _row_columns(dataset, view, spec)
        info = _info_columns(dataset, view)
        _write_parquet(staging / ROWS_FILE, rows + info)
        folds = _fold_rows(split, dataset, prepared.protocol.valid_fraction, prepared.seeds)
        _write_parquet(staging / FOLDS_FILE, folds)
        for extra in view.files:
            extra.write(staging / extra.name)
        description = _description(spec, size, dataset, view, rows, info, folds, manifest, staging)
        (staging / DESCRIPTION_FILE).write_text(
            json.dumps(description, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        if out.exists():
            out.rmdir()
        os.rename(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return ExportSummary(
        description=out / DESCRIPTION_FILE,
        rows=len(dataset),
        folds=len(split.folds),
        files=tuple(sorted(p.name for p in out.iterdir())),
    )


def description_path(out: Path, scenario_id: str) -> Path:
    """Where `export_description` puts `scenario_id`'s description under `out`: the
    boards' layout, so `out/<domain>/<name>.croissant.json` sits beside `<name>.html`."""
    return out / f"{scenario_id}{DESCRIPTION_SUFFIX}"


def described_data_sha(path: Path) -> str | None:
    """The data sha256 that a description written here names; None when it names none or
    cannot be read (so a page links a description only of the data its board ran on)."""
    try:
        made = json.loads(path.read_text(encoding="utf-8")).get("measurementTechnique", "")
    except (OSError, ValueError, AttributeError):
        return None
    found = re.search(rf"{DATA_SHA_LABEL} ([0-9a-f]{{64}})", str(made))
    return found.group(1) if found else None


def export_description(catalog: Catalog, scenario: str, size: Size, out: Path) -> Path:
    """Write only `scenario`'s Croissant description at `size`, as
    `description_path(out, id)` (`out` may hold other files). The data are exported to a
    temporary folder and dropped; the description's text says so and names the command
    that writes the files it lists."""
    spec = catalog.scenario(scenario).spec
    target = description_path(out.expanduser().resolve(), spec.id)
    with tempfile.TemporaryDirectory(prefix="assay-export-") as tmp:
        summary = export_scenario(catalog, scenario, size, Path(tmp) / "data")
        description = json.loads(summary.description.read_text(encoding="utf-8"))
    description["description"] += (
        " The data files are not kept beside this description: "
        f"`assay data export {spec.id} --size {size} --out DIR` writes them "
        "with the sha256 listed here."
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp")
    staging.write_text(json.dumps(description, indent=2, ensure_ascii=False) + "\n", "utf-8")
    staging.replace(target)
    return target


# ----------------------------------------------------------------------------- tables


def _row_columns(dataset: Dataset, view: ExportView, spec: ScenarioSpec) -> list[ExportColumn]:
    columns = [ExportColumn("row", np.arange(len(dataset), dtype=np.int64), _ROW_MEANING)]
    if dataset.ids is not None:
        ids = np.asarray([str(v) for v in dataset.ids], dtype=object)
        columns.append(ExportColumn("id", ids, "the row's identifier in its field"))
    columns += view.inputs
    if dataset.targets is not None:
        meaning = view.target_description or f"the value to predict ({spec.task})"
        primary = spec.primary_metric
        columns.append(
            ExportColumn(
                "target",
                np.asarray(dataset.targets),
                f"the target: {meaning}; scored by {primary.name} ({primary.direction})",
            )
        )
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise DataError(f"{spec.key}: the export has columns named twice: {names}")
    return columns


_ROW_MEANING = "the row's index in the dataset that assay.load hands out (0-based)"


def _info_columns(dataset: Dataset, view: ExportView) -> list[ExportColumn]:
    columns: list[ExportColumn] = []
    if dataset.groups is not None:
        columns.append(
            ExportColumn(
                "group",
                np.asarray(dataset.groups),
                "the row's group (scaffold, chemical system, family); a group-keeping "
                "split never puts one group on both sides",
            )
        )
    if dataset.partition is not None:
        columns.append(
            ExportColumn(
                "partition",
                np.asarray(dataset.partition, dtype=object),
                "the partition the data came with (train, valid, test)",
            )
        )
    columns += [
        ExportColumn(f"extra_{c.name}", c.values, c.description) for c in extras_of(view, dataset)
    ]
    return columns


def _arrow(column: ExportColumn) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    values = column.values
    if isinstance(values, Ragged):
        offsets = pa.array(np.asarray(values.offsets, dtype=np.int64))
        return pa.LargeListArray.from_arrays(offsets, pa.array(_plain(values.flat)))
    if isinstance(values, np.ndarray) and values.ndim == 2:
        flat = np.ascontiguousarray(values).reshape(-1)
        offsets = np.arange(0, flat.size + 1, values.shape[1], dtype=np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(_plain(flat)))
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return pa.array(_plain(values))
    if isinstance(values, np.ndarray) and values.dtype.kind in "OUS":
        items = list(values)
        if all(isinstance(v, str) for v in items):
            return pa.array(items, type=pa.string())
    raise DataError(f"column '{column.name}': values of {type(values).__name__} cannot be written")


def _plain(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Booleans as 0/1 integers: every Croissant reader takes integers."""
    return values.astype(np.int8) if values.dtype == np.bool_ else values


def _write_parquet(path: Path, columns: Sequence[ExportColumn]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    table = pa.table({c.name: _arrow(c) for c in columns})
    pq.write_table(table, path, compression="zstd")


def _fold_rows(
    split: Split, dataset: Dataset, valid_fraction: float, seeds: Sequence[int]
) -> list[ExportColumn]:
    """One record per fold, seed and role with the list of its rows; the carve of
    validation rows depends on the seed, so each seed is listed."""
    parts: dict[str, list[Any]] = {k: [] for k in ("fold", "repeat", "seed", "role")}
    rows: list[npt.NDArray[np.int64]] = []
    for fold in split.folds:
        for seed in seeds:
            fit, valid = fit_and_valid_rows(split, fold, dataset, valid_fraction, seed)
            for role, members in (("train", fit), ("valid", valid), ("test", fold.test)):
                parts["fold"].append(fold.name)
                parts["repeat"].append(fold.repeat)
                parts["seed"].append(seed)
                parts["role"].append(role)
                rows.append(np.sort(np.asarray(members, dtype=np.int64)))
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    meanings = {
        "fold": "the fold's name: r<repeat>f<index>",
        "repeat": "the repeat of the split the fold belongs to",
        "seed": "the seed that carved validation rows from the training side",
        "role": "train, valid or test (roles/name)",
    }
    columns = [
        ExportColumn(
            name,
            np.asarray(values, dtype=object if name in ("fold", "role") else np.int64),
            meanings[name],
        )
        for name, values in parts.items()
    ]
    flat = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    columns.append(
        ExportColumn(
            "rows", Ragged(offsets, flat), "the rows in this role, ascending (values of rows/row)"
        )
    )
    return columns


# ----------------------------------------------------------------------------- description


def _data_type(column: ExportColumn) -> tuple[str, bool]:
    """(Croissant data type, whether each row holds a list)."""
    values = column.values
    if isinstance(values, Ragged):
        return _scalar_type(values.flat.dtype), True
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf" and values.ndim <= 2:
        return _scalar_type(values.dtype), values.ndim == 2
    return "sc:Text", False


def _scalar_type(dtype: np.dtype[Any]) -> str:
    if dtype.kind in "iub":
        return "sc:Integer"
    return "sc:Float"


def _field(record_set: str, file_id: str, column: ExportColumn, **extra: Any) -> dict[str, Any]:
    data_type, repeated = _data_type(column)
    field: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{record_set}/{column.name}",
        "name": column.name,
        "description": column.description,
        "dataType": data_type,
        "source": {"fileObject": {"@id": file_id}, "extract": {"column": column.name}},
    }
    if repeated:
        field["repeated"] = True
    field.update(extra)
    return field


def _file_object(staging: Path, name: str, encoding: str, description: str) -> dict[str, Any]:
    return {
        "@type": "cr:FileObject",
        "@id": name,
        "name": name,
        "description": description,
        "contentUrl": name,
        "contentSize": f"{(staging / name).stat().st_size} B",
        "encodingFormat": encoding,
        "sha256": sha256_file(staging / name),
    }


def _description(
    spec: ScenarioSpec,
    size: Size,
    dataset: Dataset,
    view: ExportView,
    rows: Sequence[ExportColumn],
    info: Sequence[ExportColumn],
    folds: Sequence[ExportColumn],
    manifest: dict[str, Any],
    staging: Path,
) -> dict[str, Any]:
    meta = dataset.metadata
    generated = bool(manifest.get("generator_versions"))
    made = (
        f"Prepared by the Assay source '{manifest['source']}' (version "
        f"{manifest['source_version']}) with parameters "
        f"{json.dumps(manifest['params'], sort_keys=True)}"
        + (
            f"; generator versions {json.dumps(manifest['generator_versions'], sort_keys=True)}"
            if generated
            else ""
        )
        + f"; {DATA_SHA_LABEL} {meta.sha256}."
    )
    protocol = spec.protocol.for_size(size)
    notes = " ".join([*meta.notes, *view.notes])
    distribution = [
        _file_object(
            staging, ROWS_FILE, "application/x-parquet", "every row: inputs, target, annotations"
        ),
        _file_object(
            staging,
            FOLDS_FILE,
            "application/x-parquet",
            f"the folds of split '{protocol.split}': per fold, seed and repeat, "
            "the rows that train, validate and test",
        ),
        *(_file_object(staging, f.name, f.encoding_format, f.description) for f in view.files),
    ]
    record_sets: list[dict[str, Any]] = [
        {
            "@type": "cr:RecordSet",
            "@id": "roles",
            "name": "roles",
            "description": "The roles a row plays in a fold (Croissant splits).",
            "dataType": "cr:Split",
            "key": {"@id": "roles/name"},
            "field": [
                {
                    "@type": "cr:Field",
                    "@id": "roles/name",
                    "name": "name",
                    "description": "the role's name",
                    "dataType": "sc:Text",
                },
                {
                    "@type": "cr:Field",
                    "@id": "roles/url",
                    "name": "url",
                    "description": "the role's Croissant split",
                    "dataType": "sc:URL",
                },
                {
                    "@type": "cr:Field",
                    "@id": "roles/meaning",
                    "name": "meaning",
                    "description": "what the role's rows are for",
                    "dataType": "sc:Text",
                },
            ],
            "data": [
                {"roles/name": name, "roles/url": url, "roles/meaning": meaning}
                for name, (url, meaning) in ROLES.items()
            ],
        },
        {
            "@type": "cr:RecordSet",
            "@id": "rows",
            "name": "rows",
            "description": "One record per dataset row: its inputs and its target.",
            "key": {"@id": "rows/row"},
            "field": [_field("rows", ROWS_FILE, c) for c in rows],
        },
    ]
    if info:
        record_sets.append(
            {
                "@type": "cr:RecordSet",
                "@id": "row_info",
                "name": "row_info",
                "description": "Annotations of each row that are not model inputs.",
                "key": {"@id": "row_info/row"},
                "field": [
                    _field(
                        "row_info",
                        ROWS_FILE,
                        ExportColumn("row", np.zeros(1, dtype=np.int64), _ROW_MEANING),
                        references={"field": {"@id": "rows/row"}},
                    ),
                    *(_field("row_info", ROWS_FILE, c) for c in info),
                ],
            }
        )
    # Only the role points into another record set: a reference from `rows` into the
    # rows record set makes readers join the whole table just to list the folds.
    references = {"role": "roles/name"}
    record_sets.append(
        {
            "@type": "cr:RecordSet",
            "@id": "folds",
            "name": "folds",
            "description": (
                f"The scenario's folds ({protocol.folds} folds x {protocol.repeats} repeats, "
                f"split '{protocol.split}', split seed {protocol.split_seed}); "
                "one record per fold, seed and role, with the list of its rows."
            ),
            "field": [
                _field(
                    "folds",
                    FOLDS_FILE,
                    column,
                    **(
                        {"references": {"field": {"@id": references[column.name]}}}
                        if column.name in references
                        else {}
                    ),
                )
                for column in folds
            ],
        }
    )
    citations = sorted(
        {f"{r.citation} ({r.model}: {r.metric} = {r.value:g})" for r in spec.references}
    )
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": f"assay-{spec.id.replace('/', '-')}-{size}",
        "description": " ".join(
            f"{spec.title}. {spec.description} Data: {meta.name} {meta.version}. "
            f"Provenance: {meta.provenance}. {notes}".split()
        ),
        "conformsTo": CONFORMS_TO,
        "version": f"{spec.version}.0.0" if spec.version.count(".") == 0 else spec.version,
        "license": meta.licence,
        "datePublished": manifest["prepared_on"],
        "creator": {"@type": "sc:Organization", "name": "Assay"},
        "citeAs": meta.provenance,
        "citation": citations,
        "isBasedOn": meta.provenance,
        "measurementTechnique": made,
        "keywords": ["Assay", spec.id, f"size {size}", spec.task],
        "distribution": distribution,
        "recordSet": record_sets,
    }
