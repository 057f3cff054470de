"""Cell-type annotation models on log-normalised expression, and the held-out-batch split.

Inputs are a cells x genes float32 matrix of log-normalised expression;
targets are cell-type names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import (
    Dataset,
    Predictions,
    SklearnModel,
    Standardiser,
    array_features,
    require_targets,
)


def logistic_regression(c: float = 1.0, max_iter: int = 1000) -> SklearnModel:
    """Open Problems' label-projection baseline: logistic regression on log-normalised
    expression (genes standardised so one penalty suits them all)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return SklearnModel(make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter)))


class KnnPcaModel:
    """k nearest neighbours in the training cells' principal components (scanpy's default
    neighbourhood: 50 PCs, 15 neighbours), a majority vote among them."""

    def __init__(self, n_neighbors: int = 15, n_components: int = 50) -> None:
        self.n_neighbors, self.n_components = n_neighbors, n_components

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        from sklearn.decomposition import PCA
        from sklearn.neighbors import KNeighborsClassifier

        x, y = array_features(train), require_targets(train)
        components = min(self.n_components, x.shape[0] - 1, x.shape[1])
        self.pca_ = PCA(n_components=components, random_state=seed).fit(x)
        neighbours = min(self.n_neighbors, len(x))
        self.knn_ = KNeighborsClassifier(n_neighbors=neighbours).fit(self.pca_.transform(x), y)

    def predict(self, dataset: Dataset) -> Predictions:
        z = self.pca_.transform(array_features(dataset))
        return Predictions(
            values=self.knn_.predict(z),
            probabilities=np.asarray(self.knn_.predict_proba(z), dtype=np.float64),
        )


def marker_genes(
    x: npt.NDArray[Any], labels: npt.NDArray[Any], n_genes: int
) -> dict[str, npt.NDArray[np.int64]]:
    """The top `n_genes` column indices per cell type by scanpy's `rank_genes_groups`
    (t-test, each type against the rest) on these cells."""
    import anndata
    import pandas as pd
    import scanpy as sc

    adata = anndata.AnnData(
        X=np.asarray(x, dtype=np.float32),
        obs=pd.DataFrame(
            {"label": pd.Categorical(labels.astype(str))},
            index=[str(i) for i in range(x.shape[0])],
        ),
        var=pd.DataFrame(index=[str(i) for i in range(x.shape[1])]),
    )
    sc.tl.rank_genes_groups(adata, "label", method="t-test", n_genes=n_genes, use_raw=False)
    names = adata.uns["rank_genes_groups"]["names"]
    return {
        str(group): np.asarray([int(g) for g in names[group]], dtype=np.int64)
        for group in names.dtype.names
    }


class MarkerScoreModel:
    """Marker-gene scoring: each type's top genes from `rank_genes_groups` on the training
    cells; a cell is called the type whose markers it expresses most (mean of the
    markers' standardised expression). No weights are fitted beyond the marker lists;
    a type with a single training cell has no markers and is never predicted."""

    def __init__(self, n_markers: int = 20) -> None:
        self.n_markers = n_markers

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        x, y = array_features(train), require_targets(train).astype(str)
        self.scaler_ = Standardiser.columns(x, eps=1e-6)
        classes, counts = np.unique(y, return_counts=True)
        # rank_genes_groups needs two cells of a type; a rarer type is never predicted.
        classes = classes[counts >= 2]
        if len(classes) < 2:
            self.classes_ = np.unique(y)[np.argmax(np.unique(y, return_counts=True)[1])][None]
            self.markers_ = [np.arange(x.shape[1])]
            return
        kept = np.isin(y, classes)
        markers = marker_genes(x[kept], y[kept], min(self.n_markers, x.shape[1]))
        self.classes_ = classes
        self.markers_ = [markers[c] for c in classes]

    def scores(self, dataset: Dataset) -> npt.NDArray[np.float64]:
        z = self.scaler_.apply(array_features(dataset))
        return np.stack([z[:, genes].mean(1) for genes in self.markers_], axis=1)

    def predict(self, dataset: Dataset) -> Predictions:
        scores = self.scores(dataset)
        shifted = np.exp(scores - scores.max(1, keepdims=True))
        return Predictions(
            values=self.classes_[scores.argmax(1)],
            probabilities=shifted / shifted.sum(1, keepdims=True),
        )


def warm_up() -> None:
    """Import scanpy and compile the numba kernels `rank_genes_groups` uses (several
    seconds in a fresh process), so a unit's clock never includes them."""
    rng = np.random.default_rng(0)
    x = rng.poisson(1.0, size=(30, 8)).astype(np.float32)
    marker_genes(np.log1p(x), np.repeat(np.array(["a", "b", "c"]), 10), n_genes=2)
