"""Metrics: name -> function + direction, backed by `sklearn.metrics`.

A metric takes the true targets and a `Predictions` and returns one float.
Plugins add domain metrics (background rejection, logical error rate, ...)
by name in their plugin: a `Metric`, or a `MetricFamily` under its pattern for a
metric with a parameter written into its name (rejection at a signal
efficiency, error rate per round), registered once for every setting. Either
may be named as `"module:attr"` (the object itself, or a collection holding it
under that name), imported when a scenario first scores with it.

A metric whose value is only a bound (1/eps_B capped where no background
event passes the cut: the true rejection is at least that) returns a
`Bound`. The unit records which metrics are bounds (`bound_info`, tagged with
the run and kept in its run records), and the tables, boards and site show
such a value as `≥ 222` or `≤ 0.001`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from assay.errors import UnknownNameError
from assay.evaluation.predictions import Predictions
from assay.registry import LazyRegistry, import_object

Direction = Literal["maximize", "minimize"]
MetricFn = Callable[[npt.NDArray[Any], Predictions], float]
BoundSide = Literal["lower", "upper"]
BOUND_INFO = "bound."
"""A unit's info key `bound.<metric>` (tag `assay.info.bound.<metric>`) holds the side."""


class Bound(float):
    """A metric value that bounds the true one: `lower` (the true value is at least
    this) or `upper` (at most this). Arithmetic on it gives plain floats."""

    side: BoundSide

    def __new__(cls, value: float, side: BoundSide) -> Bound:
        bound = super().__new__(cls, value)
        bound.side = side
        return bound

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries with its side
        return (Bound, (float(self), self.side))


def bound_info(values: Mapping[str, float]) -> dict[str, str]:
    """The unit info naming which metric values are bounds, and of which side."""
    return {f"{BOUND_INFO}{k}": v.side for k, v in values.items() if isinstance(v, Bound)}


def combined_bound(sides: Iterable[str | None]) -> str:
    """The side of a mean over units some of which are bounds: the mean of exact values
    and lower bounds is a lower bound (upper alike); "" when none is, or both sides are."""
    found = {side for side in sides if side}
    return found.pop() if len(found) == 1 else ""


@dataclass(frozen=True)
class Metric:
    name: str
    direction: Direction
    fn: MetricFn
    description: str = ""
    bounds: tuple[float, float] | None = None
    """The values the metric can take (MCC in [-1, 1]); intervals are clipped to them."""

    def __call__(self, y_true: npt.NDArray[Any], predictions: Predictions) -> float:
        value = self.fn(np.asarray(y_true), predictions)
        return value if isinstance(value, Bound) else float(value)

    def better(self, a: float, b: float) -> bool:
        """True if score `a` is strictly better than `b`."""
        return a > b if self.direction == "maximize" else a < b


@dataclass(frozen=True)
class MetricFamily:
    """A metric with one integer parameter in its name: `pattern` holds one `{field}`,
    e.g. `"hep.rejection_{percent}"`; a scenario asking for `hep.rejection_30` gets
    `make(30)`. `description` may use the same field."""

    pattern: str
    direction: Direction
    make: Callable[[int], MetricFn]
    description: str = ""

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return family_regex(self.pattern)

    def metric(self, name: str) -> Metric | None:
        """The member called `name`, or None when the name is not of this family."""
        found = self._regex.fullmatch(name)
        if found is None:
            return None
        ((field, value),) = found.groupdict().items()
        description = self.description.replace("{" + field + "}", value)
        return Metric(name, self.direction, self.make(int(value)), description)


def family_regex(pattern: str) -> re.Pattern[str]:
    """The names a family pattern such as `"hep.rejection_{percent}"` stands for."""
    prefix, field, suffix = re.fullmatch(r"([^{]*)\{(\w+)\}([^{]*)", pattern).groups()  # type: ignore[union-attr]
    return re.compile(re.escape(prefix) + rf"(?P<{field}>\d+)" + re.escape(suffix))


def is_family_pattern(key: str) -> bool:
    return "{" in key


def _one_named(key: str, imported: Any, kind: type[Any], name_of: Callable[[Any], str]) -> Any:
    """`imported` itself, or the member of a collection, whose name is `key`."""
    candidates: Iterable[Any] = imported if isinstance(imported, list | tuple) else (imported,)
    found = [c for c in candidates if isinstance(c, kind) and name_of(c) == key]
    if not found:
        raise UnknownNameError(
            f"the metric entry for '{key}' holds no {kind.__name__} of that name"
        )
    return found[0]


def _metric_named(name: str, imported: Any) -> Metric:
    metric: Metric = _one_named(name, imported, Metric, lambda m: m.name)
    return metric


class MetricRegistry(LazyRegistry[Metric]):
    """Metrics by name: registered ones, then members of a registered family; either kind
    may be registered lazily as `"module:attr"`."""

    def __init__(self) -> None:
        super().__init__("metric", _metric_named)
        self.families: list[MetricFamily] = []
        self._lazy_families: dict[str, str] = {}

    def add_family(self, family: MetricFamily) -> None:
        if any(f.pattern == family.pattern for f in self.families):
            raise ValueError(f"metric family '{family.pattern}' is registered twice")
        self.families.append(family)

    def add_lazy(self, key: str, reference: str) -> None:
        """A metric name, or a family pattern, whose object `reference` names."""
        if not is_family_pattern(key):
            self.register_lazy(key, reference)
            return
        if key in self._lazy_families or any(f.pattern == key for f in self.families):
            raise ValueError(f"metric family '{key}' is registered twice")
        self._lazy_families[key] = reference

    def _lazy_family_of(self, name: str) -> str | None:
        return next((p for p in self._lazy_families if family_regex(p).fullmatch(name)), None)

    def is_lazy(self, name: str) -> bool:
        return super().is_lazy(name) or (
            self.member(name) is None and self._lazy_family_of(name) is not None
        )

    def member(self, name: str) -> Metric | None:
        return next((m for f in self.families if (m := f.metric(name)) is not None), None)

    def get(self, name: str) -> Metric:
        if name not in self._items and not super().is_lazy(name):
            pattern = self._lazy_family_of(name) if self.member(name) is None else None
            if pattern is not None:
                imported = import_object(self._lazy_families.pop(pattern))
                self.add_family(_one_named(pattern, imported, MetricFamily, lambda f: f.pattern))
            if (member := self.member(name)) is not None:
                self.register(name, member)
        return super().get(name)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or (
            isinstance(name, str)
            and (self.member(name) is not None or self._lazy_family_of(name) is not None)
        )


def _sklearn(name: str, **options: Any) -> MetricFn:
    """`sklearn.metrics.<name>` on the predicted values, imported on first use: scikit-learn
    takes seconds to import, which `assay list` and `--help` should not pay."""

    def metric(y: npt.NDArray[Any], p: Predictions) -> float:
        from sklearn import metrics as skm

        return float(getattr(skm, name)(y, np.asarray(p.values), **options))

    return metric


def positive_scores(predictions: Predictions) -> npt.NDArray[np.float64]:
    """Scores for the positive class: probabilities[:, 1], or the values themselves."""
    if predictions.probabilities is not None:
        probs = np.asarray(predictions.probabilities, dtype=float)
        return probs[:, 1] if probs.ndim == 2 else probs
    return np.asarray(predictions.values, dtype=float)


def _roc_auc(y: npt.NDArray[Any], p: Predictions) -> float:
    from sklearn import metrics as skm

    if p.probabilities is not None and np.asarray(p.probabilities).ndim == 2:
        probs = np.asarray(p.probabilities, dtype=float)
        if probs.shape[1] > 2:
            return float(skm.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    return float(skm.roc_auc_score(y, positive_scores(p)))


def _rmse(y: npt.NDArray[Any], p: Predictions) -> float:
    from sklearn import metrics as skm

    return float(np.sqrt(skm.mean_squared_error(y, np.asarray(p.values))))


def _correlation(name: str) -> MetricFn:
    """A correlation is undefined when either side is constant (a mean predictor):
    that is NaN by definition, returned without scipy's warning."""

    def metric(y: npt.NDArray[Any], p: Predictions) -> float:
        from scipy import stats

        values = np.asarray(p.values, dtype=float)
        if np.ptp(y) == 0 or np.ptp(values) == 0:
            return float("nan")
        return float(getattr(stats, name)(y, values).statistic)

    return metric


_spearman = _correlation("spearmanr")
_pearson = _correlation("pearsonr")


def _log_loss(y: npt.NDArray[Any], p: Predictions) -> float:
    from sklearn import metrics as skm

    if p.probabilities is None:
        raise ValueError("log_loss needs class probabilities")
    return float(skm.log_loss(y, p.probabilities))


_UNIT = (0.0, 1.0)
_SIGNED = (-1.0, 1.0)
_NON_NEGATIVE = (0.0, math.inf)

BUILTIN_METRICS: tuple[Metric, ...] = (
    Metric("rmse", "minimize", _rmse, "root mean squared error", _NON_NEGATIVE),
    Metric(
        "mae", "minimize", _sklearn("mean_absolute_error"), "mean absolute error", _NON_NEGATIVE
    ),
    Metric(
        "r2", "maximize", _sklearn("r2_score"), "coefficient of determination", (-math.inf, 1.0)
    ),
    Metric("spearman", "maximize", _spearman, "Spearman rank correlation", _SIGNED),
    Metric("pearson", "maximize", _pearson, "Pearson correlation", _SIGNED),
    Metric("accuracy", "maximize", _sklearn("accuracy_score"), "fraction correct", _UNIT),
    Metric("balanced_accuracy", "maximize", _sklearn("balanced_accuracy_score"), "", _UNIT),
    Metric("f1_macro", "maximize", _sklearn("f1_score", average="macro"), "", _UNIT),
    Metric("f1_weighted", "maximize", _sklearn("f1_score", average="weighted"), "", _UNIT),
    Metric("mcc", "maximize", _sklearn("matthews_corrcoef"), "Matthews correlation", _SIGNED),
    Metric("roc_auc", "maximize", _roc_auc, "area under the ROC curve (macro one-vs-rest)", _UNIT),
    Metric(
        "log_loss", "minimize", _log_loss, "cross-entropy of class probabilities", _NON_NEGATIVE
    ),
)


def _campaign_only(y: npt.NDArray[Any], p: Predictions) -> float:
    raise ValueError("a campaign metric: the closed_loop protocol scores it from the campaign")


CAMPAIGN_METRICS: tuple[Metric, ...] = (
    Metric("best_at_budget", "maximize", _campaign_only, "best noise-free value found"),
    Metric("simple_regret", "minimize", _campaign_only, "known optimum minus best_at_budget"),
    Metric("top_recall", "maximize", _campaign_only, "fraction of the pool's top 1 % found", _UNIT),
    Metric(
        "auc_best_so_far",
        "maximize",
        _campaign_only,
        "area under the best-so-far curve over evaluations, divided by the budget",
    ),
)
"""Closed-loop scores (`assay.loop.campaign`): named in a closed-loop scenario's metrics like any
other, computed by the protocol from the campaign's trace, not from predictions."""


def builtin_metrics() -> MetricRegistry:
    registry = MetricRegistry()
    for metric in (*BUILTIN_METRICS, *CAMPAIGN_METRICS):
        registry.register(metric.name, metric)
    return registry
