"""The model protocol, the scikit-learn adapter, controls, and model resolution.

A model is anything with `fit(train, *, valid=None, seed)` and
`predict(dataset) -> Predictions`. Suites name models by registry name or
`module:Class`; hyperparameters come from the suite file or the CLI. A
model may also define `fitted_choices()`: what it chose while fitting (a
window tuned on the validation set, the epoch whose weights it kept), which
the run records next to its scores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from assay.data.dataset import Dataset
from assay.errors import UnknownNameError
from assay.evaluation.predictions import Predictions
from assay.params import check_factory_params
from assay.registry import Registry, import_object

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

CLASSIFICATION_TASKS = frozenset({"binary", "multiclass"})


@runtime_checkable
class Model(Protocol):
    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None: ...

    def predict(self, dataset: Dataset) -> Predictions: ...


ModelFactory = Callable[..., Model]
ModelEntry = ModelFactory | str
"""What a plugin registers per model: a factory, or `"module:factory"` imported only
when the model is used, so a plugin's heavy imports (torch, RDKit) stay out of
`assay list` and of every run that does not use that model."""
FittedChoice = int | float | str
_CHOICE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_CHOICE_VALUE_CHARS = 1000


def fitted_choice_tags(model: Model) -> dict[str, str]:
    """The choices a fitted model reports through its optional `fitted_choices()`, as tags.

    Hyperparameters a model tunes itself are part of the result: without them
    a number can neither be explained nor reproduced by fixing the choice. A
    malformed report fails the unit here, before it can reach the tracker.
    """
    report: object = getattr(model, "fitted_choices", None)
    if report is None:
        return {}
    if not callable(report):
        raise TypeError("fitted_choices must be a method returning a mapping")
    choices = report()
    if not isinstance(choices, Mapping):
        raise TypeError(f"fitted_choices() must return a mapping, got {type(choices).__name__}")
    tags = {}
    for name, value in choices.items():
        if not isinstance(name, str) or not _CHOICE_NAME.fullmatch(name):
            raise ValueError(
                f"fitted_choices(): name {name!r} must be 1-100 letters, digits, '_', '.' or '-'"
            )
        tags[name] = str(value)[:_CHOICE_VALUE_CHARS]
    return tags


Featurizer = Callable[[Dataset], npt.NDArray[np.float64]]


def array_features(dataset: Dataset) -> npt.NDArray[np.float64]:
    """Inputs that already are a numeric 2-D array."""
    x = np.asarray(dataset.inputs, dtype=np.float64)
    return x.reshape(len(x), -1)


def require_targets(dataset: Dataset) -> npt.NDArray[Any]:
    if dataset.targets is None:
        raise ValueError(f"dataset '{dataset.metadata.name}' has no targets to fit on")
    return np.asarray(dataset.targets)


class SklearnModel:
    """Any scikit-learn estimator behind a featurizer.

    The estimator is cloned for every fit and gets `random_state=seed` wherever it
    has that parameter (nested steps included), so repeats differ only by the seed the runner gives.
    """

    def __init__(self, estimator: BaseEstimator, featurizer: Featurizer = array_features) -> None:
        self.estimator = estimator
        self.featurizer = featurizer
        self.fitted_: Any = None

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        from sklearn.base import clone

        estimator = clone(self.estimator)
        # Pipelines and meta-estimators nest theirs as `step__random_state`.
        seeded = {k: seed for k in estimator.get_params() if k.split("__")[-1] == "random_state"}
        estimator.set_params(**seeded)
        estimator.fit(self.featurizer(train), require_targets(train))
        self.fitted_ = estimator

    def predict(self, dataset: Dataset) -> Predictions:
        if self.fitted_ is None:
            raise RuntimeError("predict called before fit")
        x = self.featurizer(dataset)
        probabilities = None
        if dataset.task in CLASSIFICATION_TASKS and hasattr(self.fitted_, "predict_proba"):
            probabilities = np.asarray(self.fitted_.predict_proba(x), dtype=np.float64)
        return Predictions(values=np.asarray(self.fitted_.predict(x)), probabilities=probabilities)


class TaskDispatchModel:
    """Picks a regressor or a classifier by the dataset's task when fitting."""

    def __init__(self, regressor: Callable[[], Model], classifier: Callable[[], Model]) -> None:
        self._regressor, self._classifier = regressor, classifier
        self.model_: Model | None = None

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        build = self._classifier if train.task in CLASSIFICATION_TASKS else self._regressor
        self.model_ = build()
        self.model_.fit(train, valid=valid, seed=seed)

    def predict(self, dataset: Dataset) -> Predictions:
        if self.model_ is None:
            raise RuntimeError("predict called before fit")
        return self.model_.predict(dataset)


class MeanModel:
    """Negative control for regression: the training mean for every row."""

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        self.mean_ = float(np.mean(require_targets(train)))

    def predict(self, dataset: Dataset) -> Predictions:
        return Predictions(values=np.full(len(dataset), self.mean_))


class MajorityModel:
    """Negative control for classification: the most common training class, with class priors."""

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        classes, counts = np.unique(require_targets(train), return_counts=True)
        self.classes_, self.priors_ = classes, counts / counts.sum()

    def predict(self, dataset: Dataset) -> Predictions:
        n = len(dataset)
        majority = self.classes_[int(np.argmax(self.priors_))]
        probabilities = np.tile(self.priors_, (n, 1))
        return Predictions(values=np.full(n, majority), probabilities=probabilities)


def resolve_model(
    name: str, params: Mapping[str, Any], registry: Registry[ModelEntry]
) -> ModelFactory:
    """The factory for a registry name or `module:Class`, its parameters checked against
    what it declares (`assay.params.factory_params`), so `-p alpha=abc` or a value out of
    range is one clear error before anything runs, not five failed units."""
    factory = _model_factory(name, registry)
    check_factory_params(f"model '{name}'", factory, params, error=UnknownNameError)
    return factory


def _model_factory(name: str, registry: Registry[ModelEntry]) -> ModelFactory:
    entry: ModelEntry = name if ":" in name else registry.get(name)
    return import_object(entry) if isinstance(entry, str) else entry


def build_model(name: str, params: Mapping[str, Any], registry: Registry[ModelEntry]) -> Model:
    """A fresh model from a registry name or `module:Class`, with its parsed parameters."""
    factory = _model_factory(name, registry)
    kwargs = check_factory_params(f"model '{name}'", factory, params, error=UnknownNameError)
    model = factory(**kwargs)
    if not isinstance(model, Model):
        raise UnknownNameError(f"'{name}' did not build a model (it needs fit() and predict())")
    return model


def params_from_cli(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs from the command line; values parsed as TOML scalars when possible."""
    import tomllib

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UnknownNameError(f"parameter '{pair}' is not of the form key=value")
        try:
            out[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = raw
    return out
