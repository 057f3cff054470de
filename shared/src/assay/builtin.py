"""The core's own plugin: generic models, closed-loop policies and environments, and
sanity scenarios on scikit-learn's bundled data and an analytic function.

The sanity scenarios (`core/diabetes`, `core/breast-cancer`) exercise the
whole harness with real, offline data and are part of every quick suite;
`core/hartmann6-loop` and `core/diabetes-loop` do the same for closed loops.
"""

from __future__ import annotations

from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from assay import __version__
from assay.data.croissant_source import CroissantSource, declared_or_kfold
from assay.data.dataset import (
    Dataset,
    DatasetMetadata,
    Source,
    SourceParams,
    read_array,
    write_array,
)
from assay.data.export import ExportView, named_columns
from assay.data.splits import Splitter
from assay.evaluation.models import MajorityModel, MeanModel, Model, SklearnModel, TaskDispatchModel
from assay.loop.environments import ENVIRONMENTS
from assay.loop.policies import POLICIES
from assay.plugin import Plugin

_TARGETS = {
    "diabetes": "a quantitative measure of disease progression one year after baseline",
    "breast_cancer": "the diagnosis: 0 = malignant, 1 = benign",
}
_BUNDLED = {
    "diabetes": (
        "load_diabetes",
        "Efron et al. (2004), Least Angle Regression, Ann. Statist. 32(2); shipped with scikit-learn",
    ),
    "breast_cancer": (
        "load_breast_cancer",
        "Wisconsin Diagnostic Breast Cancer (Street, Wolberg, Mangasarian 1993), UCI; "
        "shipped with scikit-learn",
    ),
}


class SklearnBundledParams(SourceParams):
    dataset: Literal["diabetes", "breast_cancer"]
    max_rows: int | None = Field(default=None, ge=2)


class SklearnBundledSource(Source[SklearnBundledParams]):
    """A table that scikit-learn ships (no download): `dataset` names it, `max_rows` trims it."""

    name = "core.sklearn"
    version = "1"

    def generator_versions(self) -> dict[str, str]:
        return {"scikit-learn": metadata.version("scikit-learn")}

    params_model = SklearnBundledParams

    def prepare(self, params: SklearnBundledParams, out_dir: Path) -> None:
        from sklearn import datasets

        loader, _ = _BUNDLED[params.dataset]
        x, y = getattr(datasets, loader)(return_X_y=True)
        max_rows = params.max_rows
        if max_rows is not None and max_rows < len(x):
            keep = np.sort(np.random.default_rng(0).choice(len(x), int(max_rows), replace=False))
            x, y = x[keep], y[keep]
        write_array(out_dir / "x.npy", np.ascontiguousarray(x, dtype=np.float64))
        write_array(out_dir / "y.npy", np.ascontiguousarray(y))

    def export_view(self, dataset: Dataset, params: SklearnBundledParams) -> ExportView:
        """scikit-learn's own feature names (diabetes: mean-centred and scaled as shipped)."""
        from sklearn import datasets

        loader, _ = _BUNDLED[params.dataset]
        names = [str(n) for n in getattr(datasets, loader)().feature_names]
        return ExportView(
            inputs=named_columns(
                np.asarray(dataset.inputs),
                [(n.replace(" ", "_"), f"'{n}' as scikit-learn ships it") for n in names],
            ),
            target_description=_TARGETS[params.dataset],
        )

    def load(self, params: SklearnBundledParams, files_dir: Path) -> Dataset:
        _, provenance = _BUNDLED[params.dataset]
        return Dataset(
            inputs=read_array(files_dir / "x.npy"),
            targets=read_array(files_dir / "y.npy"),
            metadata=DatasetMetadata(
                name=params.dataset,
                version=metadata.version("scikit-learn"),
                provenance=provenance,
                licence="BSD-3-Clause (scikit-learn distribution)",
            ),
        )


# scikit-learn is imported inside each factory: it takes seconds, which `assay list`
# and `--help` should not pay.


def ridge(alpha: float = 1.0) -> Model:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return SklearnModel(make_pipeline(StandardScaler(), Ridge(alpha=alpha)))


def logistic(C: float = 1.0, max_iter: int = 2000) -> Model:  # noqa: N803 - scikit-learn's name
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return SklearnModel(make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter)))


def random_forest(n_estimators: int = 300, min_samples_leaf: int = 1, n_jobs: int = 1) -> Model:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    kwargs = {"n_estimators": n_estimators, "min_samples_leaf": min_samples_leaf, "n_jobs": n_jobs}
    return TaskDispatchModel(
        lambda: SklearnModel(RandomForestRegressor(**kwargs)),
        lambda: SklearnModel(RandomForestClassifier(**kwargs)),
    )


def gradient_boosting(max_iter: int = 200, learning_rate: float = 0.1) -> Model:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    kwargs = {"max_iter": max_iter, "learning_rate": learning_rate}
    return TaskDispatchModel(
        lambda: SklearnModel(HistGradientBoostingRegressor(**kwargs)),
        lambda: SklearnModel(HistGradientBoostingClassifier(**kwargs)),
    )


def knn(n_neighbors: int = 5) -> Model:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return TaskDispatchModel(
        lambda: SklearnModel(make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors))),
        lambda: SklearnModel(make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors))),
    )


plugin = Plugin(
    name="core",
    version=__version__,
    description="Generic models and sanity scenarios on scikit-learn's bundled data",
    scenario_dir=files("assay") / "scenarios",
    sources={
        SklearnBundledSource.name: SklearnBundledSource(),
        CroissantSource.name: CroissantSource(),
    },
    splits={"core.croissant": Splitter(declared_or_kfold)},
    models={
        "mean": MeanModel,
        "majority": MajorityModel,
        "ridge": ridge,
        "logistic": logistic,
        "random_forest": random_forest,
        "gradient_boosting": gradient_boosting,
        "knn": knn,
        "torch_mlp": "assay.evaluation.torch_training:mlp",  # needs the `assay[torch]` extra
    },
    environments=ENVIRONMENTS,
    policies=POLICIES,
    check_params={
        "torch_mlp": {"max_epochs": 3},
        "random_forest": {"n_estimators": 10},
        "greedy": {"n_estimators": 10},
        "ucb": {"n_estimators": 10},
        "bo_qlognei": {"num_restarts": 1, "raw_samples": 32},
    },
)
