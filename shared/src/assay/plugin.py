"""Plugins and the catalog of everything they register.

A plugin is one `Plugin` object per package, exposed under the entry-point
group `assay.plugins`. The catalog loads every plugin; one that fails to
import (or registers a bad scenario or a clashing name) is recorded as a
failure and never stops the others.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

from assay.data import Source
from assay.errors import AssayError, SpecError, UnknownNameError
from assay.metrics import Metric, MetricFamily, MetricRegistry, builtin_metrics
from assay.models import ModelEntry
from assay.registry import Registry
from assay.spec import ScenarioSpec, parse_scenario
from assay.splits import SPLITTERS, Splitter

if TYPE_CHECKING:
    from assay.protocols import EvaluationProtocol

ENTRY_POINT_GROUP = "assay.plugins"


@dataclass(frozen=True)
class Plugin:
    """What a package contributes. Scenario files live in `scenario_dir` (TOML, data only)."""

    name: str
    version: str
    description: str = ""
    scenario_dir: Traversable | None = None
    sources: Sequence[Source] | Mapping[str, str] = ()
    """Source objects, or name -> `"module:Class"` imported only when that source is used
    (so `assay list` never imports a plugin's generators and readers)."""
    models: Mapping[str, ModelEntry] = field(default_factory=dict)
    """Name -> factory, or `"module:factory"` imported only when that model is used."""
    metrics: Sequence[Metric | MetricFamily] = ()
    splits: Mapping[str, Splitter] = field(default_factory=dict)
    protocols: Sequence[EvaluationProtocol] = ()
    check_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Hyperparameters the conformance kit uses per model (e.g. a few epochs only)."""
    key_libraries: Sequence[str] = ()
    """Distributions whose versions change this plugin's numbers (RDKit, Pythia8, ...);
    tagged on every run as `assay.version.<name>`."""

    def scenario_specs(self) -> list[ScenarioSpec]:
        """Every `*.toml` in the scenario folder, validated; a bad file raises `SpecError`."""
        import tomllib

        if self.scenario_dir is None:
            return []
        specs = []
        for item in sorted(self.scenario_dir.iterdir(), key=lambda t: t.name):
            if not item.name.endswith(".toml"):
                continue
            origin = f"{self.name}:{item.name}"
            try:
                data = tomllib.loads(item.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise SpecError(f"{origin}: not valid TOML ({exc})") from None
            specs.append(parse_scenario(data, origin=origin))
        return specs


@dataclass(frozen=True)
class PluginFailure:
    name: str
    error: str
    detail: str = ""


@dataclass(frozen=True)
class RegisteredScenario:
    spec: ScenarioSpec
    plugin: str
    plugin_version: str


class Catalog:
    """Everything the loaded plugins register, under one set of registries."""

    def __init__(self) -> None:
        self.plugins: dict[str, Plugin] = {}
        self.failures: list[PluginFailure] = []
        self.scenarios: dict[str, RegisteredScenario] = {}
        self.sources: Registry[Source | str] = Registry("source")
        self.models: Registry[ModelEntry] = Registry("model")
        self.metrics: MetricRegistry = builtin_metrics()
        self.splits: Registry[Splitter] = Registry("split")
        self.splits.update(SPLITTERS)
        from assay.protocols import builtin_protocols

        self.protocols: Registry[EvaluationProtocol] = builtin_protocols()

    @classmethod
    def from_plugins(cls, plugins: Iterable[Plugin]) -> Catalog:
        catalog = cls()
        for plugin in plugins:
            catalog.add(plugin)
        return catalog

    def add(self, plugin: Plugin) -> None:
        """Register a plugin atomically: on any problem nothing of it is kept and it is a failure."""
        try:
            if plugin.name in self.plugins:
                raise ValueError(f"a plugin named '{plugin.name}' is already loaded")
            staged = _stage(plugin, self)
        except (AssayError, ValueError) as exc:
            self.failures.append(PluginFailure(plugin.name, str(exc)))
            return
        self.plugins[plugin.name] = plugin
        for spec in staged:
            self.scenarios[spec.key] = RegisteredScenario(spec, plugin.name, plugin.version)
        for name, source in _sources_of(plugin).items():
            self.sources.register(name, source)
        for name, factory in plugin.models.items():
            self.models.register(name, factory)
        for metric in plugin.metrics:
            if isinstance(metric, MetricFamily):
                self.metrics.add_family(metric)
            else:
                self.metrics.register(metric.name, metric)
        for name, splitter in plugin.splits.items():
            self.splits.register(name, splitter)
        for protocol in plugin.protocols:
            self.protocols.register(protocol.name, protocol)

    def scenario(self, ref: str) -> RegisteredScenario:
        """Look up `id@version`, or `id` for its newest version."""
        if ref in self.scenarios:
            return self.scenarios[ref]
        if "@" not in ref:
            versions = [s for s in self.scenarios.values() if s.spec.id == ref]
            if versions:
                return max(versions, key=lambda s: tuple(int(p) for p in s.spec.version.split(".")))
        known = ", ".join(sorted(self.scenarios)) or "none (no plugin is installed)"
        raise UnknownNameError(f"unknown scenario '{ref}' (known: {known})")

    def source(self, name: str) -> Source:
        """The source registered as `name`, imported now if it was registered lazily."""
        entry = self.sources.get(name)
        if isinstance(entry, Source):
            return entry
        from assay.models import import_object

        made = import_object(entry)()
        if not isinstance(made, Source) or made.name != name:
            raise UnknownNameError(f"'{entry}' did not make the source '{name}'")
        self.sources.register(name, made, replace=True)
        return made

    def plugin_of(self, ref: str) -> str:
        return self.scenario(ref).plugin


def _sources_of(plugin: Plugin) -> dict[str, Source | str]:
    if isinstance(plugin.sources, Mapping):
        return dict(plugin.sources)
    return {source.name: source for source in plugin.sources}


def _stage(plugin: Plugin, catalog: Catalog) -> list[ScenarioSpec]:
    """Validate a plugin against the catalog without changing it."""
    clashes: list[str] = []
    for registry, names in (
        (catalog.sources, list(_sources_of(plugin))),
        (catalog.models, list(plugin.models)),
        (catalog.metrics, [m.name for m in plugin.metrics if isinstance(m, Metric)]),
        (catalog.splits, list(plugin.splits)),
        (catalog.protocols, [p.name for p in plugin.protocols]),
    ):
        clashes += [f"{registry.kind} '{n}'" for n in names if n in registry]
    if clashes:
        raise ValueError(f"registers names that are already taken: {', '.join(clashes)}")
    for name, splitter in plugin.splits.items():
        if not isinstance(splitter, Splitter):
            raise ValueError(
                f"split '{name}' must be an assay.splits.Splitter that declares keeps_groups, "
                f"not {type(splitter).__name__}"
            )
    specs = plugin.scenario_specs()
    staged = MetricRegistry()
    for offered in plugin.metrics:
        if isinstance(offered, MetricFamily):
            staged.add_family(offered)
        else:
            staged.register(offered.name, offered)
    for spec in specs:
        if spec.key in catalog.scenarios:
            raise SpecError(f"scenario {spec.key} is already registered by another plugin")
        for metric in spec.metrics:
            if metric.name in catalog.metrics:
                known = catalog.metrics.get(metric.name)
            elif metric.name in staged:
                known = staged.get(metric.name)
            else:
                raise SpecError(f"scenario {spec.key}: unknown metric '{metric.name}'")
            if known.direction != metric.direction:
                raise SpecError(
                    f"scenario {spec.key}: metric '{metric.name}' is {known.direction}d, "
                    f"the spec says {metric.direction}"
                )
    return specs


def _load_entry_point(entry_point: metadata.EntryPoint) -> Plugin:
    obj: Any = entry_point.load()
    if not isinstance(obj, Plugin) and callable(obj):
        obj = obj()
    if not isinstance(obj, Plugin):
        raise TypeError(f"entry point '{entry_point.value}' is not an assay Plugin")
    return obj


def discover(
    entry_points: Callable[[], Iterable[metadata.EntryPoint]] | None = None,
) -> Catalog:
    """Load every installed plugin; failures are recorded in `catalog.failures`."""
    found = entry_points() if entry_points else metadata.entry_points(group=ENTRY_POINT_GROUP)
    catalog = Catalog()
    for entry_point in sorted(found, key=lambda ep: (ep.name != "core", ep.name)):
        try:
            plugin = _load_entry_point(entry_point)
        except Exception as exc:
            catalog.failures.append(
                PluginFailure(
                    entry_point.name,
                    f"{type(exc).__name__}: {exc}",
                    "".join(traceback.format_exception(exc)),
                )
            )
            continue
        catalog.add(plugin)
    return catalog


_PROCESS_CATALOG: Catalog | None = None


def process_catalog() -> Catalog:
    """The catalog of installed plugins, loaded once per process (workers reuse it)."""
    global _PROCESS_CATALOG
    if _PROCESS_CATALOG is None:
        _PROCESS_CATALOG = discover()
    return _PROCESS_CATALOG
