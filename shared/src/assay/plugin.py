"""Plugins and the catalog of everything they register.

A plugin is one `Plugin` object per package, exposed under the entry-point
group `assay.plugins`. The catalog loads every plugin; one that fails to
import (or registers a bad scenario or a clashing name) is recorded as a
failure and never stops the others.

Every contribution is a mapping from its name to the object, or to
`"module:attr"` imported only when the contribution is first used: loading the
catalog (`assay list`, `assay show`, `--help`) then imports nothing of a plugin
beyond its `plugin.py`. A plugin's version comes from its distribution's
metadata (`importlib.metadata.version`), since it is part of every run key.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

from assay.data.dataset import Source
from assay.data.splits import SPLITTERS, Splitter
from assay.errors import AssayError, SpecError, UnknownNameError
from assay.evaluation.metrics import (
    Metric,
    MetricFamily,
    MetricRegistry,
    builtin_metrics,
    is_family_pattern,
)
from assay.evaluation.models import ModelEntry
from assay.registry import LazyRegistry, Registry, import_object
from assay.spec import ScenarioSpec, parse_scenario

if TYPE_CHECKING:
    from assay.evaluation.protocols import EvaluationProtocol
    from assay.loop.closed_loop import EnvironmentEntry, PolicyEntry

ENTRY_POINT_GROUP = "assay.plugins"


@dataclass(frozen=True)
class Plugin:
    """What a package contributes. Scenario files live in `scenario_dir` (TOML, data only)."""

    name: str
    version: str
    description: str = ""
    scenario_dir: Traversable | None = None
    sources: Mapping[str, Source[Any] | str] = field(default_factory=dict)
    """Name -> source, or `"module:Class"` imported only when that source is used (so
    `assay list` never imports a plugin's generators and readers)."""
    models: Mapping[str, ModelEntry] = field(default_factory=dict)
    """Name -> factory, or `"module:factory"` imported only when that model is used."""
    metrics: Mapping[str, Metric | MetricFamily | str] = field(default_factory=dict)
    """Metric name (a family's pattern, such as `"hep.rejection_{percent}"`) -> the metric,
    or `"module:attr"` naming it or a tuple that holds it."""
    splits: Mapping[str, Splitter | str] = field(default_factory=dict)
    """Name -> splitter, or `"module:attr"` naming one."""
    protocols: Mapping[str, EvaluationProtocol | str] = field(default_factory=dict)
    """Name -> evaluation protocol, or `"module:attr"` naming one (an instance, or a class
    made with no arguments)."""
    environments: Mapping[str, EnvironmentEntry] = field(default_factory=dict)
    """Closed-loop environments (name -> factory), named by a scenario's `[environment]`;
    see `assay.loop.closed_loop`."""
    policies: Mapping[str, PolicyEntry] = field(default_factory=dict)
    """Closed-loop policies (name -> factory); they take the models' slot in a
    closed-loop scenario's `models` and a suite's entries."""
    check_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Hyperparameters the conformance kit uses per model (e.g. a few epochs only)."""
    key_libraries: Sequence[str] = ()
    """Distributions whose versions change this plugin's numbers (RDKit, Pythia8, ...);
    tagged on every run as `assay.version.<name>`."""
    warm_up: Callable[[], None] | None = None
    """One-off work per process before this plugin's first unit starts its clock
    (compiling numba kernels, say), so it never counts against a unit's time limit."""

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


BUILTIN_PROTOCOLS = {
    "supervised": "assay.evaluation.protocols:SupervisedProtocol",
    "closed_loop": "assay.loop.campaign:ClosedLoopProtocol",
}


class Catalog:
    """Everything the loaded plugins register, under one set of registries."""

    def __init__(self) -> None:
        self.plugins: dict[str, Plugin] = {}
        self.failures: list[PluginFailure] = []
        self.scenarios: dict[str, RegisteredScenario] = {}
        self.sources: Registry[Source[Any] | str] = Registry("source")
        self.models: Registry[ModelEntry] = Registry("model")
        self.metrics: MetricRegistry = builtin_metrics()
        self.splits: LazyRegistry[Splitter] = LazyRegistry("split", _splitter_named)
        self.splits.update(SPLITTERS)
        self.protocols: LazyRegistry[EvaluationProtocol] = LazyRegistry("protocol", _protocol_named)
        # Named, not imported: the protocols sit above the catalog (the closed loop's on top
        # of the loop package), so the catalog never imports them.
        for name, reference in BUILTIN_PROTOCOLS.items():
            self.protocols.register_lazy(name, reference)
        self.environments: Registry[EnvironmentEntry] = Registry("environment")
        self.policies: Registry[PolicyEntry] = Registry("policy")

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
        for name, source in plugin.sources.items():
            self.sources.register(name, source)
        for name, factory in plugin.models.items():
            self.models.register(name, factory)
        _add_metrics(self.metrics, plugin.metrics)
        for name, splitter in plugin.splits.items():
            if isinstance(splitter, str):
                self.splits.register_lazy(name, splitter)
            else:
                self.splits.register(name, splitter)
        for name, protocol in plugin.protocols.items():
            if isinstance(protocol, str):
                self.protocols.register_lazy(name, protocol)
            else:
                self.protocols.register(name, protocol)
        for name, environment in plugin.environments.items():
            self.environments.register(name, environment)
        for name, policy in plugin.policies.items():
            self.policies.register(name, policy)

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

    def source(self, name: str) -> Source[Any]:
        """The source registered as `name`, imported now if it was registered lazily."""
        entry = self.sources.get(name)
        if isinstance(entry, Source):
            return entry
        made = import_object(entry)()
        if not isinstance(made, Source) or made.name != name:
            raise UnknownNameError(f"'{entry}' did not make the source '{name}'")
        self.sources.register(name, made, replace=True)
        return made

    def plugin_of(self, ref: str) -> str:
        return self.scenario(ref).plugin


def _splitter_named(name: str, imported: Any) -> Splitter:
    if not isinstance(imported, Splitter):
        raise UnknownNameError(f"split '{name}' must be an assay.data.splits.Splitter")
    return imported


def _protocol_named(name: str, imported: Any) -> EvaluationProtocol:
    """An instance, or a class made with no arguments."""
    from assay.evaluation.protocols import EvaluationProtocol

    if isinstance(imported, type) and issubclass(imported, EvaluationProtocol):
        imported = imported()
    if not isinstance(imported, EvaluationProtocol) or imported.name != name:
        raise UnknownNameError(f"'{name}' does not name the evaluation protocol '{name}'")
    return imported


def _add_metrics(
    registry: MetricRegistry, metrics: Mapping[str, Metric | MetricFamily | str]
) -> None:
    for key, metric in metrics.items():
        if isinstance(metric, str):
            registry.add_lazy(key, metric)
        elif isinstance(metric, MetricFamily):
            registry.add_family(metric)
        else:
            registry.register(key, metric)


def _check_names(plugin: Plugin) -> None:
    """Each object given under a name carries that name."""
    for key, metric in plugin.metrics.items():
        if isinstance(metric, str):
            continue
        own = metric.pattern if isinstance(metric, MetricFamily) else metric.name
        if own != key:
            raise ValueError(f"metric '{key}' is registered under another name ('{own}')")
    for key, protocol in plugin.protocols.items():
        if not isinstance(protocol, str) and protocol.name != key:
            raise ValueError(f"protocol '{key}' is registered under another name")
    for key, source in plugin.sources.items():
        if isinstance(source, Source) and source.name != key:
            raise ValueError(f"source '{key}' is registered under another name ('{source.name}')")


def _stage(plugin: Plugin, catalog: Catalog) -> list[ScenarioSpec]:
    """Validate a plugin against the catalog without changing it."""
    clashes: list[str] = []
    for registry, names in (
        (catalog.sources, list(plugin.sources)),
        (catalog.models, list(plugin.models)),
        (catalog.metrics, [k for k in plugin.metrics if not is_family_pattern(k)]),
        (catalog.splits, list(plugin.splits)),
        (catalog.protocols, list(plugin.protocols)),
        (catalog.environments, list(plugin.environments)),
        (catalog.policies, list(plugin.policies)),
    ):
        clashes += [f"{registry.kind} '{n}'" for n in names if n in registry]
    if clashes:
        raise ValueError(f"registers names that are already taken: {', '.join(clashes)}")
    _check_names(plugin)
    for name, splitter in plugin.splits.items():
        if not isinstance(splitter, Splitter | str):
            raise ValueError(
                f"split '{name}' must be an assay.data.splits.Splitter that declares keeps_groups, "
                f"not {type(splitter).__name__}"
            )
    specs = plugin.scenario_specs()
    staged = MetricRegistry()
    _add_metrics(staged, plugin.metrics)
    for spec in specs:
        if spec.key in catalog.scenarios:
            raise SpecError(f"scenario {spec.key} is already registered by another plugin")
        for metric in spec.metrics:
            registry = catalog.metrics if metric.name in catalog.metrics else staged
            if metric.name not in registry:
                raise SpecError(f"scenario {spec.key}: unknown metric '{metric.name}'")
            if registry.is_lazy(metric.name):
                continue  # not imported to load the catalog; the conformance kit checks it
            known = registry.get(metric.name)
            if known.direction != metric.direction:
                raise SpecError(
                    f"scenario {spec.key}: metric '{metric.name}' is {known.direction}d, "
                    f"the spec says {metric.direction}"
                )
    return specs


def load_entry_point(entry_point: metadata.EntryPoint) -> Plugin:
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
            plugin = load_entry_point(entry_point)
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
_WARMED: set[str] = set()


def warm_up_plugin(catalog: Catalog, scenario: str) -> None:
    """Run the `warm_up` of the plugin behind `scenario`, once per process. A warm-up
    that fails is only a lost optimisation: the unit then pays the cost itself."""
    try:
        plugin = catalog.plugins[catalog.plugin_of(scenario)]
    except (AssayError, KeyError):
        return
    if plugin.warm_up is None or plugin.name in _WARMED:
        return
    _WARMED.add(plugin.name)
    with contextlib.suppress(Exception):  # the unit itself reports any real problem
        plugin.warm_up()


def process_catalog() -> Catalog:
    """The catalog of installed plugins, loaded once per process (workers reuse it)."""
    global _PROCESS_CATALOG
    if _PROCESS_CATALOG is None:
        _PROCESS_CATALOG = discover()
    return _PROCESS_CATALOG
