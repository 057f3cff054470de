"""Medicine models: controls (physics column, ESOL), fingerprint models, Tanimoto kNN.

The D-MPNN lives in `assay_medicine.deep` (it imports torch, so only when used).
Default features for the tree and linear models are ECFP4 bits + RDKit 2D
descriptors.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from assay.kit import (
    CLASSIFICATION_TASKS,
    DataError,
    Dataset,
    Model,
    Predictions,
    SklearnModel,
    TaskDispatchModel,
    checked,
    require_targets,
)
from pydantic import Field
from rdkit.Chem import rdMolDescriptors
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_selection import VarianceThreshold
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from assay_medicine.chem import mol_from_smiles
from assay_medicine.featurizers import MoleculeFeaturizer, featurize, smiles_of

DEFAULT_FEATURES = "ecfp4+rdkit2d"


class PhysicsColumnModel:
    """Control: predicts a physics estimate the dataset carries (FreeSolv's alchemical `calc`).

    Nothing is fitted; it shows how far a first-principles estimate gets.
    """

    def __init__(self, column: str = "calc") -> None:
        self.column = column

    def _values(self, dataset: Dataset) -> npt.NDArray[np.float64]:
        if self.column not in dataset.extras:
            raise DataError(
                f"dataset '{dataset.metadata.name}' has no '{self.column}' column for the physics "
                f"control (it has {sorted(dataset.extras) or 'none'}); use it on medicine/freesolv"
            )
        return np.asarray(dataset.extras[self.column], dtype=np.float64)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        self._values(train)

    def predict(self, dataset: Dataset) -> Predictions:
        return Predictions(values=self._values(dataset))


ESOL_COEFFICIENTS = (0.16, -0.63, -0.0062, 0.066, -0.74)
"""Delaney (J. Chem. Inf. Comput. Sci. 44, 1000-1005, 2004): intercept, clogP, MW, RB, AP."""


def esol_terms(smiles: str) -> npt.NDArray[np.float64]:
    """[1, Crippen logP, molecular weight, rotatable bonds, aromatic proportion]."""
    mol = mol_from_smiles(smiles)
    heavy = mol.GetNumHeavyAtoms()
    aromatic = sum(1 for atom in mol.GetAtoms() if atom.GetIsAromatic())
    return np.array(
        [
            1.0,
            float(rdMolDescriptors.CalcCrippenDescriptors(mol)[0]),
            float(rdMolDescriptors._CalcMolWt(mol)),
            float(rdMolDescriptors.CalcNumRotatableBonds(mol)),
            aromatic / heavy if heavy else 0.0,
        ]
    )


class ESOLModel:
    """Delaney's ESOL equation for logS with RDKit's Crippen logP in place of clogP.

    Unfitted by default (the published coefficients); `refit=True` refits the
    five coefficients by least squares on the training set.
    """

    def __init__(self, refit: bool = False) -> None:
        self.refit = refit
        self.coefficients_ = np.asarray(ESOL_COEFFICIENTS, dtype=np.float64)

    @staticmethod
    def _terms(dataset: Dataset) -> npt.NDArray[np.float64]:
        return np.vstack([esol_terms(s) for s in smiles_of(dataset)])

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        if self.refit:
            solution = np.linalg.lstsq(self._terms(train), require_targets(train), rcond=None)
            self.coefficients_ = np.asarray(solution[0], dtype=np.float64)

    def predict(self, dataset: Dataset) -> Predictions:
        if len(dataset) == 0:
            return Predictions(values=np.zeros(0))
        return Predictions(values=self._terms(dataset) @ self.coefficients_)


def ridge(alpha: float = 10.0, clip: float = 5.0, features: str = DEFAULT_FEATURES) -> Model:
    """Ridge regression on standardised fingerprint + descriptor features.

    Standardised features are clipped to +-`clip`: a test molecule far outside
    the training range of some descriptor (an acyclic molecule after training
    on ring systems only) would otherwise get an unbounded linear prediction.
    """
    return SklearnModel(
        make_pipeline(
            StandardScaler(),
            FunctionTransformer(np.clip, kw_args={"a_min": -clip, "a_max": clip}),
            Ridge(alpha=alpha),
        ),
        MoleculeFeaturizer(features),
    )


def random_forest(
    n_estimators: int = 500,
    max_features: float = 0.3,
    min_samples_leaf: int = 1,
    n_jobs: int = 1,
    features: str = DEFAULT_FEATURES,
) -> Model:
    """Random forest on ECFP4 + RDKit descriptors (regressor or classifier by task)."""
    kwargs: dict[str, Any] = {
        "n_estimators": n_estimators,
        "max_features": max_features,
        "min_samples_leaf": min_samples_leaf,
        "n_jobs": n_jobs,
    }
    featurizer = MoleculeFeaturizer(features)
    return TaskDispatchModel(
        lambda: SklearnModel(RandomForestRegressor(**kwargs), featurizer),
        lambda: SklearnModel(RandomForestClassifier(**kwargs), featurizer),
    )


class ThreadLimited:
    """Runs a model with OpenMP limited to `threads` (None: no limit).

    scikit-learn's histogram gradient boosting spins OpenMP threads per
    tree; on small data and few (virtual) cores one thread is several times
    faster than two, and runs in parallel processes do not oversubscribe.
    """

    def __init__(self, model: Model, threads: int | None) -> None:
        self.model, self.threads = model, threads

    def _limits(self) -> Any:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        return threadpool_limits(limits=self.threads, user_api="openmp")

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        with self._limits():
            self.model.fit(train, valid=valid, seed=seed)

    def predict(self, dataset: Dataset) -> Predictions:
        with self._limits():
            return self.model.predict(dataset)


def gradient_boosting(
    max_iter: int = 500,
    learning_rate: float = 0.05,
    max_leaf_nodes: int = 15,
    min_samples_leaf: int = 5,
    l2_regularization: float = 1.0,
    threads: int | None = 1,
    features: str = DEFAULT_FEATURES,
) -> Model:
    """Histogram gradient boosting on ECFP4 + RDKit descriptors (regressor or classifier).

    Constant feature columns (fingerprint bits no training molecule sets) are
    dropped first: they cost histogram time and carry nothing.
    """
    kwargs: dict[str, Any] = {
        "max_iter": max_iter,
        "learning_rate": learning_rate,
        "max_leaf_nodes": max_leaf_nodes,
        "min_samples_leaf": min_samples_leaf,
        "l2_regularization": l2_regularization,
        "early_stopping": False,
    }
    featurizer = MoleculeFeaturizer(features)
    return ThreadLimited(
        TaskDispatchModel(
            lambda: SklearnModel(
                make_pipeline(VarianceThreshold(), HistGradientBoostingRegressor(**kwargs)),
                featurizer,
            ),
            lambda: SklearnModel(
                make_pipeline(VarianceThreshold(), HistGradientBoostingClassifier(**kwargs)),
                featurizer,
            ),
        ),
        threads,
    )


def tanimoto_similarity(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Tanimoto similarity between the rows of two binary fingerprint matrices."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    common = a32 @ b32.T
    union = a32.sum(1)[:, None] + b32.sum(1)[None, :] - common
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(union > 0, common / np.maximum(union, 1e-12), 0.0)
    return np.asarray(sim, dtype=np.float64)


class TanimotoKNN:
    """k nearest training molecules by Tanimoto similarity of ECFP4 bits.

    Regression: mean (or similarity-weighted mean) of the neighbours'
    targets. Classification: their (weighted) vote. Ties in similarity go
    to the earlier training row, so predictions are deterministic.
    """

    @checked
    def __init__(
        self, k: Annotated[int, Field(ge=1)] = 5, weighted: bool = False, features: str = "ecfp4"
    ) -> None:
        self.k, self.weighted, self.features = k, weighted, features

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        self.train_fp_ = featurize(smiles_of(train), self.features) > 0
        self.y_ = require_targets(train)
        self.classify_ = train.task in CLASSIFICATION_TASKS
        if self.classify_:
            self.classes_, self.y_index_ = np.unique(self.y_, return_inverse=True)

    def predict(self, dataset: Dataset) -> Predictions:
        fp = featurize(smiles_of(dataset), self.features) > 0
        sim = tanimoto_similarity(fp.astype(np.float64), self.train_fp_.astype(np.float64))
        k = min(self.k, sim.shape[1])
        order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        neighbour_sim = np.take_along_axis(sim, order, axis=1)
        weights = neighbour_sim + 1e-6 if self.weighted else np.ones_like(neighbour_sim)
        weights = weights / weights.sum(1, keepdims=True)
        if self.classify_:
            probabilities = np.zeros((len(dataset), len(self.classes_)))
            for j in range(k):
                np.add.at(
                    probabilities,
                    (np.arange(len(dataset)), self.y_index_[order[:, j]]),
                    weights[:, j],
                )
            return Predictions(self.classes_[probabilities.argmax(1)], probabilities=probabilities)
        values = (np.asarray(self.y_, dtype=np.float64)[order] * weights).sum(1)
        return Predictions(values=values)
