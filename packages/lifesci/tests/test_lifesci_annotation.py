"""Cell annotation: the bundled PBMC data, the marker-gene biology, the models' sanity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.data.dataset import Dataset
from assay_lifesci.annotation import MarkerScoreModel, marker_genes
from assay_lifesci.cells import PbmcSource, read_genes


@pytest.fixture(scope="module")
def pbmc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, list[str]]:
    cache = DataCache(tmp_path_factory.mktemp("cache"))
    dataset, entry = cache.load(PbmcSource(), {})
    return dataset, read_genes(Path(entry.path))


def test_pbmc_shape_and_labels(pbmc: tuple[Dataset, list[str]]) -> None:
    dataset, genes = pbmc
    assert dataset.inputs.shape == (700, 765)
    assert len(genes) == 765
    assert dataset.targets is not None
    classes, counts = np.unique(dataset.targets, return_counts=True)
    assert len(classes) == 10
    assert dict(zip(classes, counts, strict=True))["Dendritic"] == 240
    # log-normalised expression: non-negative, not scaled per gene
    assert dataset.inputs.min() == 0.0


@pytest.mark.parametrize(
    ("cell_type", "markers"),
    [
        ("CD14+ Monocyte", {"FCGR3A", "LYZ", "CST3", "FTL", "AIF1", "CTSS", "S100A9"}),
        ("CD19+ B", {"CD79A", "CD79B", "MS4A1", "CD74", "HLA-DRA"}),
        ("CD56+ NK", {"NKG7", "GNLY", "GZMB", "GZMA", "PRF1", "CTSW"}),
    ],
)
def test_known_markers_rank_at_the_top(
    pbmc: tuple[Dataset, list[str]], cell_type: str, markers: set[str]
) -> None:
    """Known PBMC markers present among the 765 genes lead their type's ranking."""
    dataset, genes = pbmc
    assert dataset.targets is not None
    ranked = marker_genes(dataset.inputs, dataset.targets, n_genes=10)[cell_type]
    top = [genes[i] for i in ranked]
    assert markers & set(top[:3]), f"{cell_type}: top genes {top}"
    assert len(markers & set(top)) >= 2, f"{cell_type}: top genes {top}"


def test_marker_scoring_beats_chance(pbmc: tuple[Dataset, list[str]]) -> None:
    dataset, _ = pbmc
    rows = np.random.default_rng(0).permutation(len(dataset))
    train, test = dataset.subset(rows[:500]), dataset.subset(rows[500:])
    model = MarkerScoreModel()
    model.fit(train)
    accuracy = float(np.mean(model.predict(test.without_targets()).values == test.targets))
    assert accuracy > 0.6
