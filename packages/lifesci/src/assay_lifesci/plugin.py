"""The life-science plugin object, found by the core through the `assay.plugins` entry point.

Every contribution is named as "module:attr" and imported only when used: scanpy,
anndata, Biopython, pyrodigal and torch stay out of `assay list`, and so does every
module of this package but this one.
"""

from __future__ import annotations

from importlib.resources import files

from assay.kit import Plugin

from assay_lifesci import __version__


def warm_up() -> None:
    """Compile scanpy's numba kernels and log_normalise's before the first unit's clock
    starts."""
    from assay_lifesci.annotation import warm_up as warm_scanpy
    from assay_lifesci.normalise import warm_up as warm_normalise

    warm_scanpy()
    warm_normalise()


plugin = Plugin(
    name="lifesci",
    version=__version__,
    description=(
        "Life science with scanpy, AnnData, Biopython and pyrodigal: cell-type annotation, "
        "label projection on your .h5ad, count denoising, coding regions in genomes"
    ),
    scenario_dir=files("assay_lifesci") / "scenarios",
    sources={
        "lifesci.pbmc68k_reduced": "assay_lifesci.cells:PbmcSource",
        "lifesci.h5ad": "assay_lifesci.cells:H5adSource",
        "lifesci.counts": "assay_lifesci.denoising:CountsSource",
        "lifesci.genome_windows": "assay_lifesci.genome:GenomeWindowsSource",
    },
    models={
        "lifesci.logistic": "assay_lifesci.annotation:logistic_regression",
        "lifesci.knn_pca": "assay_lifesci.annotation:KnnPcaModel",
        "lifesci.marker_score": "assay_lifesci.annotation:MarkerScoreModel",
        "lifesci.mlp": "assay_lifesci.deep:mlp",
        "lifesci.no_denoising": "assay_lifesci.denoising:NoDenoising",
        "lifesci.pca_denoise": "assay_lifesci.denoising:PcaDenoiser",
        "lifesci.diffusion": "assay_lifesci.denoising:DiffusionDenoiser",
        "lifesci.count_autoencoder": "assay_lifesci.deep:count_autoencoder",
        "lifesci.pyrodigal": "assay_lifesci.genome:PyrodigalModel",
        "lifesci.kmer_logistic": "assay_lifesci.genome:KmerLogistic",
        "lifesci.window_cnn": "assay_lifesci.deep:window_cnn",
    },
    metrics={
        "mcv_mse": "assay_lifesci.metrics:METRICS",
        "mcv_poisson": "assay_lifesci.metrics:METRICS",
    },
    protocols={"lifesci.mcv": "assay_lifesci.protocol:MolecularCrossValidation"},
    splits={"lifesci.held_out_batch": "assay_lifesci.splits:HELD_OUT_BATCH"},
    warm_up=warm_up,
    key_libraries=("scanpy", "anndata", "pyrodigal", "biopython"),
    check_params={
        "lifesci.mlp": {"max_epochs": 3, "hidden": 32},
        "lifesci.count_autoencoder": {"max_epochs": 3, "hidden": 32, "bottleneck": 8},
        "lifesci.window_cnn": {"max_epochs": 2, "channels": 8},
    },
)
