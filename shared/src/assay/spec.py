"""Scenario and suite specs: TOML files validated by pydantic.

A spec is data. It names registered components (source, split, metrics,
models) and never holds code. Unknown keys are errors so that a typo never
silently changes a benchmark.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assay.errors import SpecError

SCHEMA_VERSION = 1
Size = Literal["quick", "standard"]
Direction = Literal["maximize", "minimize"]
TaskType = Literal["regression", "binary", "multiclass", "closed-loop"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """Which registered source builds the data, with parameters per size."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    sizes: dict[Size, dict[str, Any]] = Field(default_factory=dict)

    def params_for(self, size: Size) -> dict[str, Any]:
        """The common parameters overlaid with the size's own."""
        return {**self.params, **self.sizes.get(size, {})}


class ProtocolSpec(_Strict):
    """How the scenario is evaluated: protocol name, split kind and its repetitions."""

    name: str = "supervised"
    split: str = "kfold"
    folds: int = Field(default=5, ge=1)
    repeats: int = Field(default=1, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    split_seed: int = 0
    valid_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    params: dict[str, Any] = Field(default_factory=dict)
    sizes: dict[Size, dict[str, Any]] = Field(default_factory=dict)

    def for_size(self, size: Size) -> ProtocolSpec:
        """This protocol with the size's overrides applied (e.g. fewer folds for quick)."""
        overrides = self.sizes.get(size, {})
        if not overrides:
            return self
        merged = {**self.model_dump(exclude={"sizes"}), **overrides}
        try:
            return ProtocolSpec.model_validate(merged)
        except ValidationError as exc:
            raise SpecError(f"protocol.sizes.{size}: {first_error(exc)}") from exc


class MetricSpec(_Strict):
    name: str
    direction: Direction


class ControlsSpec(_Strict):
    """Models that anchor normalised scores: negative -> 0, positive (or the best) -> 1."""

    negative: str
    positive: str | None = None
    baselines: list[str] = Field(default_factory=list)


class ReferenceSpec(_Strict):
    """A published number, shown beside ours with its citation and how the data differ."""

    model: str
    metric: str
    value: float
    citation: str
    note: str = ""


class BudgetSpec(_Strict):
    time_limit_s: float = Field(default=600.0, gt=0)


class ScenarioSpec(_Strict):
    schema_version: int
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*$")
    version: str = Field(pattern=r"^[0-9]+(\.[0-9]+)*$")
    title: str
    description: str = ""
    task: TaskType
    source: SourceSpec
    protocol: ProtocolSpec = Field(default_factory=ProtocolSpec)
    metrics: list[MetricSpec] = Field(min_length=1)
    controls: ControlsSpec
    models: list[str] = Field(default_factory=list, description="models a suite runs by default")
    references: list[ReferenceSpec] = Field(default_factory=list)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is not supported (expected {SCHEMA_VERSION})")
        return value

    @model_validator(mode="after")
    def _unique_metrics(self) -> ScenarioSpec:
        names = [metric.name for metric in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metrics are listed twice: {names}")
        return self

    @property
    def key(self) -> str:
        """`id@version`, the name a suite and a run key use."""
        return f"{self.id}@{self.version}"

    @property
    def primary_metric(self) -> MetricSpec:
        return self.metrics[0]


class ModelEntry(_Strict):
    """A model in a suite: registry name or `module:Class`, with hyperparameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @property
    def display_name(self) -> str:
        return self.label or self.name


class SuiteEntry(_Strict):
    scenario: str = Field(description="`id@version` or `id` for the newest version")
    models: list[str | ModelEntry] = Field(default_factory=list)
    seeds: list[int] | None = None

    def model_entries(self) -> list[ModelEntry]:
        return [m if isinstance(m, ModelEntry) else ModelEntry(name=m) for m in self.models]


class SuiteSpec(_Strict):
    schema_version: int
    name: str
    description: str = ""
    size: Size = "quick"
    seeds: list[int] | None = None
    entries: list[SuiteEntry] = Field(min_length=1)

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is not supported (expected {SCHEMA_VERSION})")
        return value


def first_error(exc: ValidationError) -> str:
    """One readable line from pydantic's error list: the field path and the message."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}'"
    if error["type"] == "missing":
        return f"missing key '{where}'"
    extra = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return f"'{where}': {error['msg']}{extra}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None


def parse_scenario(data: dict[str, Any], *, origin: str = "<scenario>") -> ScenarioSpec:
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{origin}: {first_error(exc)}") from None


def load_scenario(path: Path) -> ScenarioSpec:
    """Read and validate one scenario file; any problem is one `SpecError` line."""
    return parse_scenario(_read_toml(path), origin=str(path))


def load_suite(path: Path) -> SuiteSpec:
    """Read and validate one suite file; any problem is one `SpecError` line."""
    data = _read_toml(path)
    try:
        return SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{path}: {first_error(exc)}") from None
