"""The breeding plugin object, found by the core through the `assay.plugins` entry point."""

from __future__ import annotations

from importlib.resources import files

from assay.kit import Plugin

from assay_breeding import __version__

_METRICS = "assay_breeding.metrics:BREEDING_METRICS"
_SELECTION_METRICS = "assay_breeding.metrics:SELECTION_METRICS"

plugin = Plugin(
    name="breeding",
    version=__version__,
    description="Genomic prediction on simulated breeding populations (msprime + crosses), VCF and PLINK",
    scenario_dir=files("assay_breeding") / "scenarios",
    # "module:attr" entries are imported only when used: msprime, scipy and torch stay out
    # of `assay list`, and so does every module of this package but this one.
    sources={
        "breeding.simulated": "assay_breeding.sources:SimulatedPopulationSource",
        "breeding.file": "assay_breeding.user_files:UserFilesSource",
    },
    models={
        "breeding.gblup": "assay_breeding.models:GBLUP",
        "breeding.snp_blup": "assay_breeding.models:RidgeSNPBLUP",
        "breeding.bayesc": "assay_breeding.models:BayesC",
        "breeding.rkhs": "assay_breeding.models:RKHS",
        "breeding.mlp": "assay_breeding.deep:mlp",
    },
    metrics={
        "r_tbv": _METRICS,
        "r_phenotype": _METRICS,
        "slope_bias": _METRICS,
        "gain_per_cycle": _SELECTION_METRICS,
        "genetic_variance_kept": _SELECTION_METRICS,
        "inbreeding": _SELECTION_METRICS,
    },
    splits={
        "breeding.forward": "assay_breeding.protocol:FORWARD",
        "breeding.user_folds": "assay_breeding.user_files:USER_FOLDS",
    },
    protocols={
        "breeding.tbv": "assay_breeding.protocol:BreedingProtocol",
        "breeding.selection": "assay_breeding.selection:SelectionProtocol",
    },
    environments={"breeding.selection": "assay_breeding.selection:SelectionEnvironment"},
    policies={
        "breeding.phenotypic": "assay_breeding.selection:PhenotypicSelection",
        "breeding.genomic": "assay_breeding.selection:GenomicSelection",
    },
    key_libraries=("msprime", "tskit", "scikit-allel", "bed-reader"),
    check_params={
        "breeding.bayesc": {"chain_length": 20, "burn_in": 5},
        "breeding.mlp": {"max_epochs": 3, "hidden": [16]},
    },
)
