"""The life-science plugin object, found by the core through the `assay.plugins` entry point."""

from __future__ import annotations

from importlib.resources import files

from assay.plugin import Plugin

from assay_lifesci import __version__
from assay_lifesci.annotation import (
    HELD_OUT_BATCH,
    KnnPcaModel,
    MarkerScoreModel,
    logistic_regression,
    mlp,
    warm_up,
)
from assay_lifesci.cells import H5adSource, PbmcSource
from assay_lifesci.denoising import (
    METRICS,
    CountAutoencoder,
    CountsSource,
    DiffusionDenoiser,
    MolecularCrossValidation,
    NoDenoising,
    PcaDenoiser,
)
from assay_lifesci.genome import GenomeWindowsSource, KmerLogistic, PyrodigalModel, WindowCnn

plugin = Plugin(
    name="lifesci",
    version=__version__,
    description=(
        "Life science with scanpy, AnnData, Biopython and pyrodigal: cell-type annotation, "
        "label projection on your .h5ad, count denoising, coding regions in genomes"
    ),
    scenario_dir=files("assay_lifesci") / "scenarios",
    sources=(PbmcSource(), H5adSource(), CountsSource(), GenomeWindowsSource()),
    models={
        "lifesci.logistic": logistic_regression,
        "lifesci.knn_pca": KnnPcaModel,
        "lifesci.marker_score": MarkerScoreModel,
        "lifesci.mlp": mlp,
        "lifesci.no_denoising": NoDenoising,
        "lifesci.pca_denoise": PcaDenoiser,
        "lifesci.diffusion": DiffusionDenoiser,
        "lifesci.count_autoencoder": CountAutoencoder,
        "lifesci.pyrodigal": PyrodigalModel,
        "lifesci.kmer_logistic": KmerLogistic,
        "lifesci.window_cnn": WindowCnn,
    },
    metrics=METRICS,
    protocols=(MolecularCrossValidation(),),
    splits={"lifesci.held_out_batch": HELD_OUT_BATCH},
    warm_up=warm_up,
    key_libraries=("scanpy", "anndata", "pyrodigal", "biopython"),
    check_params={
        "lifesci.mlp": {"max_epochs": 3, "hidden": 32},
        "lifesci.count_autoencoder": {"max_epochs": 3, "hidden": 32, "bottleneck": 8},
        "lifesci.window_cnn": {"max_epochs": 2, "channels": 8},
    },
)
