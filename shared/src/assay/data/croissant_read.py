"""Reading a Croissant dataset: our own exports, or one OpenML or Hugging Face publishes.

The JSON-LD is read here for what Assay checks before anything is loaded
(every local file present, its sha256 as declared, the target field there);
the records themselves come from `mlcroissant` (the `assay[croissant]`
extra), which follows the description's file objects, extracts and types.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.data.dataset import sha256_file
from assay.errors import DataError, NotInstalledError

SPLIT_TYPES = frozenset({"cr:Split", "http://mlcommons.org/croissant/Split", "wd:Q3985153"})
_ROLE_URLS = {"TrainingSplit": "train", "ValidationSplit": "valid", "TestSplit": "test"}
_ROLE_NAMES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "dev": "valid",
    "test": "test",
    "testing": "test",
}
_NUMERIC = frozenset({"sc:Float", "sc:Integer", "sc:Number", "sc:Boolean"})


def read_description(path: Path) -> dict[str, Any]:
    """The JSON-LD of a Croissant dataset; one line if it is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("recordSet"), list):
        raise DataError(f"{path}: not a Croissant dataset (no recordSet list)")
    return doc


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _ref(value: Any) -> str:
    """The `@id` a reference names (`{"@id": "x"}`, or a bare string)."""
    if isinstance(value, dict):
        return str(value.get("@id", ""))
    return str(value or "")


def local_files(path: Path, doc: dict[str, Any]) -> list[Path]:
    """Every local file the description names, resolved beside it (globs of file sets
    expanded); a remote one is refused: Assay reads nothing from the network."""
    base = path.resolve().parent
    found: list[Path] = []
    for item in _listed(doc.get("distribution")):
        kinds = {str(t) for t in _listed(item.get("@type"))}
        name = item.get("name") or item.get("@id")
        if kinds & {"cr:FileObject", "http://mlcommons.org/croissant/FileObject"}:
            url = str(item.get("contentUrl", ""))
            if "://" in url:
                if any(_ref(s.get("fileObject")) == item.get("@id") for s in _sources(doc)):
                    raise DataError(
                        f"{path}: file '{name}' is remote ({url}); download it beside the "
                        "description and give a local contentUrl (Assay reads offline)"
                    )
                continue  # a remote container only a file set points into
            found.append(base / url)
        elif kinds & {"cr:FileSet", "http://mlcommons.org/croissant/FileSet"}:
            for pattern in _listed(item.get("includes")):
                matches = sorted(base.glob(str(pattern)))
                if not matches:
                    raise DataError(
                        f"{path}: file set '{name}' matches no file ({pattern} beside it)"
                    )
                found += matches
    return found


def _sources(doc: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for record_set in _listed(doc.get("recordSet")):
        for field in _listed(record_set.get("field")):
            source = field.get("source")
            if isinstance(source, dict):
                yield source


def check_files(path: Path, doc: dict[str, Any]) -> list[Path]:
    """Every local file is present and matches its declared sha256; one line if not."""
    base = path.resolve().parent
    for item in _listed(doc.get("distribution")):
        url = str(item.get("contentUrl", ""))
        if not url or "://" in url:
            continue
        file = base / url
        name = item.get("name") or item.get("@id")
        if not file.is_file():
            raise DataError(f"{path}: file '{name}' not found at {file}")
        declared = str(item.get("sha256") or "").lower()
        actual = sha256_file(file) if declared else ""
        if actual != declared:
            raise DataError(
                f"{path}: {file.name} has sha256 {actual[:16]}..., not the declared "
                f"{declared[:16]}... (the file changed since it was described)"
            )
    return local_files(path, doc)


def open_dataset(path: Path) -> Any:
    """`mlcroissant.Dataset` of the description; its validation errors as one line."""
    try:
        import mlcroissant as mlc  # type: ignore[import-untyped]
    except ImportError:
        raise NotInstalledError(
            "reading Croissant records needs mlcroissant: pip install 'assay[croissant]'"
        ) from None
    _quiet_mlcroissant()
    try:
        with _library_warnings_off():
            return mlc.Dataset(str(path))
    except mlc.ValidationError as exc:
        problems = [line.strip(" -") for line in str(exc).splitlines() if line.strip(" -")]
        detail = problems[1] if len(problems) > 1 else (problems[0] if problems else "invalid")
        raise DataError(f"{path}: not a valid Croissant description ({detail})") from None


def _quiet_mlcroissant() -> None:
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)


@contextlib.contextmanager
def _library_warnings_off() -> Iterator[None]:
    """mlcroissant 1.1 builds its graph with rdflib's deprecated ConjunctiveGraph and
    reads with pandas options pandas deprecates: warnings about their code, not the data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def validation_warnings(path: Path) -> set[str]:
    """mlcroissant's warnings for the description (an empty set when it is clean)."""
    dataset = open_dataset(path)
    return set(dataset.metadata.ctx.issues.warnings)


def records(dataset: Any, record_set: str, *, limit: int | None = None) -> dict[str, list[Any]]:
    """A record set's values by field name (the part of its id after the record set's);
    the first `limit` records only, when given."""
    out: dict[str, list[Any]] = {}
    with _library_warnings_off():
        for record in itertools.islice(dataset.records(record_set), limit):
            for key, value in record.items():
                name = key.split("/", 1)[1] if key.startswith(f"{record_set}/") else key
                out.setdefault(name, []).append(_decoded(value))
    return out


def _decoded(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


# ----------------------------------------------------------------------------- a user's table


@dataclass(frozen=True)
class CroissantTable:
    """One record set as a numeric table: features, target, and the splits it declares."""

    name: str
    licence: str
    provenance: str
    feature_names: tuple[str, ...]
    features: npt.NDArray[np.float64]
    targets: npt.NDArray[Any]
    partition: npt.NDArray[np.str_] | None
    """train / valid / test per row, from a split field of the record set."""
    fold_roles: npt.NDArray[np.str_] | None
    """(rows, folds): train / valid / test / "" per fold, from a folds record set."""
    class_names: tuple[str, ...] = ()
    """For a class target: the label of class 0, 1, ..."""


def _field_name(field: dict[str, Any], record_set: str) -> str:
    field_id = str(field.get("@id") or field.get("name"))
    return field_id.split("/", 1)[1] if field_id.startswith(f"{record_set}/") else field_id


def _rs_id(record_set: dict[str, Any]) -> str:
    return str(record_set.get("@id") or record_set.get("name"))


def _is_split_set(record_set: dict[str, Any]) -> bool:
    return bool({str(t) for t in _listed(record_set.get("dataType"))} & SPLIT_TYPES)


def _role_map(doc: dict[str, Any], field: dict[str, Any]) -> dict[str, str]:
    """The split record set a field points to, as value -> train / valid / test."""
    target = _ref((field.get("references") or {}).get("field"))
    split_set = next((rs for rs in doc["recordSet"] if target.startswith(f"{_rs_id(rs)}/")), None)
    roles: dict[str, str] = {}
    for row in _listed(split_set.get("data") if split_set else None):
        values = {str(k).rsplit("/", 1)[-1]: v for k, v in row.items()}
        name = str(values.get("name", values.get(target.rsplit("/", 1)[-1], "")))
        url = str(values.get("url", ""))
        role = _ROLE_URLS.get(url.rsplit("/", 1)[-1].removeprefix("cr:"))
        roles[name] = role or _ROLE_NAMES.get(name.lower(), "")
    return roles


def _as_role(value: Any, roles: dict[str, str], origin: str) -> str:
    text = str(value)
    role = roles.get(text) or _ROLE_NAMES.get(text.lower())
    if not role:
        raise DataError(f"{origin}: split value '{text}' is not train, valid(ation) or test")
    return role


def _split_field(doc: dict[str, Any], fields: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    split_sets = {_rs_id(rs) for rs in doc["recordSet"] if _is_split_set(rs)}
    for field in fields:
        types = {str(t) for t in _listed(field.get("dataType"))}
        pointed = _ref((field.get("references") or {}).get("field")).split("/", 1)[0]
        if types & SPLIT_TYPES or pointed in split_sets:
            return field
    return None


def read_table(
    path: Path, target: str, features: Sequence[str] | None = None, *, labels: bool = False
) -> CroissantTable:
    """The record set holding `target`, as numbers, with its declared splits. Bad input is
    one line: a missing or changed file, an unknown target, a text feature. With `labels`
    the target is a class label, numbered 0, 1, ... in sorted order (`class_names`)."""
    doc = read_description(path)
    check_files(path, doc)
    origin = path.name
    record_set, target_field = _find_target(doc, target, origin)
    rs_id = _rs_id(record_set)
    fields = _listed(record_set.get("field"))
    split_field = _split_field(doc, fields)
    keys = {_ref(k) for k in _listed(record_set.get("key"))}
    dataset = open_dataset(path)
    values = records(dataset, rs_id)
    target_name = _field_name(target_field, rs_id)
    skipped = {target_name} | {_field_name(f, rs_id) for f in fields if _ref(f.get("@id")) in keys}
    if split_field is not None:
        skipped.add(_field_name(split_field, rs_id))
    chosen = [
        f
        for f in fields
        if _field_name(f, rs_id) not in skipped
        and (features is None or _field_name(f, rs_id) in features)
    ]
    if features is not None:
        unknown = sorted(set(features) - {_field_name(f, rs_id) for f in fields})
        if unknown:
            raise DataError(f"{origin}: no feature field '{unknown[0]}' in record set '{rs_id}'")
    if not chosen:
        raise DataError(f"{origin}: record set '{rs_id}' has no feature fields beside the target")
    names, matrix = _feature_matrix(chosen, values, rs_id, origin)
    partition = None
    if split_field is not None:
        roles = _role_map(doc, split_field)
        partition = np.asarray(
            [_as_role(v, roles, origin) for v in values[_field_name(split_field, rs_id)]],
            dtype=np.str_,
        )
    fold_roles = _declared_folds(doc, dataset, record_set, values, origin)
    class_names: tuple[str, ...] = ()
    if labels:
        names_found, codes = np.unique([str(v) for v in values[target_name]], return_inverse=True)
        if len(names_found) < 2:
            raise DataError(f"{origin}: target '{target}' has a single class")
        targets, class_names = codes.astype(np.int64), tuple(str(n) for n in names_found)
    else:
        targets = _target_values(values[target_name], target_field, origin)
    return CroissantTable(
        name=str(doc.get("name", path.stem)),
        licence=_text(doc.get("license")),
        provenance=_text(doc.get("citeAs") or doc.get("url") or doc.get("description")),
        feature_names=tuple(names),
        features=matrix,
        targets=targets,
        class_names=class_names,
        partition=partition,
        fold_roles=fold_roles,
    )


def _text(value: Any) -> str:
    return "; ".join(str(_ref(v) if isinstance(v, dict) else v) for v in _listed(value))


def _find_target(
    doc: dict[str, Any], target: str, origin: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    known: list[str] = []
    for record_set in doc["recordSet"]:
        if record_set.get("data") is not None or _is_split_set(record_set):
            continue
        rs_id = _rs_id(record_set)
        for field in _listed(record_set.get("field")):
            name = _field_name(field, rs_id)
            known.append(f"{rs_id}/{name}")
            if target in (name, f"{rs_id}/{name}", field.get("@id"), field.get("name")):
                return record_set, field
    raise DataError(
        f"{origin}: no field '{target}' to use as the target (fields: {', '.join(known)})"
    )


def _target_values(values: list[Any], field: dict[str, Any], origin: str) -> npt.NDArray[Any]:
    name = field.get("name") or field.get("@id")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"{origin}: target '{name}' is not numeric (e.g. {values[0]!r}); for class "
            "labels run core/croissant-classification"
        ) from None
    if not np.all(np.isfinite(array)):
        raise DataError(f"{origin}: target '{name}' has missing or infinite values")
    return array


def _feature_matrix(
    fields: Sequence[dict[str, Any]], values: dict[str, list[Any]], rs_id: str, origin: str
) -> tuple[list[str], npt.NDArray[np.float64]]:
    names: list[str] = []
    columns: list[npt.NDArray[np.float64]] = []
    for field in fields:
        name = _field_name(field, rs_id)
        types = {str(t) for t in _listed(field.get("dataType"))}
        if not types & _NUMERIC:
            kind = ", ".join(sorted(types)) or "no dataType"
            raise DataError(
                f"{origin}: feature '{name}' is {kind}, not numeric; core/croissant needs "
                "numeric features (choose them with --set features=[...])"
            )
        column = values[name]
        try:
            if field.get("repeated") or field.get("isArray"):
                block = np.asarray([np.asarray(v, dtype=np.float64) for v in column])
                if block.ndim != 2:
                    raise ValueError("lists of differing lengths")
                names += [f"{name}[{k}]" for k in range(block.shape[1])]
                columns += list(block.T)
            else:
                names.append(name)
                columns.append(np.asarray(column, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise DataError(f"{origin}: feature '{name}' is not numeric ({exc})") from None
    matrix = np.column_stack(columns) if columns else np.empty((0, 0))
    bad = ~np.isfinite(matrix)
    if bad.any():
        raise DataError(
            f"{origin}: feature '{names[int(np.argwhere(bad)[0][1])]}' has missing or infinite "
            "values"
        )
    return names, matrix


def _declared_folds(
    doc: dict[str, Any],
    dataset: Any,
    record_set: dict[str, Any],
    values: dict[str, list[Any]],
    origin: str,
) -> npt.NDArray[np.str_] | None:
    """Folds another record set declares (as `assay data export` writes them): fields
    `fold`, the rows (a reference into this record set's key, or a field named `row` or
    `rows`; one row or a list per record), and a role pointing into a split record set.
    The first seed listed is used."""
    rs_id = _rs_id(record_set)
    keys = [_ref(k) for k in _listed(record_set.get("key"))]
    if len(keys) != 1:
        return None
    key_name = keys[0].split("/", 1)[1] if keys[0].startswith(f"{rs_id}/") else keys[0]
    for other in doc["recordSet"]:
        other_id = _rs_id(other)
        fields = _listed(other.get("field"))
        row_field = next(
            (f for f in fields if _ref((f.get("references") or {}).get("field")) == keys[0]),
            None,
        ) or next((f for f in fields if _field_name(f, other_id) in ("row", "rows")), None)
        role_field = _split_field(doc, fields)
        names = {_field_name(f, other_id) for f in fields}
        if other is record_set or row_field is None or role_field is None or "fold" not in names:
            continue
        table = records(dataset, other_id)
        roles = _role_map(doc, role_field)
        position = {v: i for i, v in enumerate(values[key_name])}
        seeds = table.get("seed")
        first_seed = seeds[0] if seeds else None
        fold_names = list(dict.fromkeys(table["fold"]))
        out = np.full((len(position), len(fold_names)), "", dtype="<U5")
        column = {name: j for j, name in enumerate(fold_names)}
        row_name = _field_name(row_field, other_id)
        role_name = _field_name(role_field, other_id)
        for k, fold in enumerate(table["fold"]):
            if seeds is not None and seeds[k] != first_seed:
                continue
            members = table[row_name][k]
            role = _as_role(table[role_name][k], roles, origin)
            for row in members if isinstance(members, list) else [members]:
                if row not in position:
                    raise DataError(
                        f"{origin}: folds name row {row}, which '{rs_id}' does not have"
                    )
                out[position[row], column[fold]] = role
        return out
    return None
