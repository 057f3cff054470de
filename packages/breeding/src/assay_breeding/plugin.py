"""The breeding plugin object, found by the core through the `assay.plugins` entry point."""

from __future__ import annotations

from importlib.resources import files

from assay.plugin import Plugin

from assay_breeding import __version__
from assay_breeding.metrics import BREEDING_METRICS, SELECTION_METRICS
from assay_breeding.models import GBLUP, RKHS, BayesC, RidgeSNPBLUP, mlp
from assay_breeding.protocol import FORWARD, BreedingProtocol
from assay_breeding.selection import (
    GenomicSelection,
    PhenotypicSelection,
    SelectionEnvironment,
    SelectionProtocol,
)
from assay_breeding.sources import SimulatedPopulationSource
from assay_breeding.user_files import USER_FOLDS, UserFilesSource

plugin = Plugin(
    name="breeding",
    version=__version__,
    description="Genomic prediction on simulated breeding populations (msprime + crosses), VCF and PLINK",
    scenario_dir=files("assay_breeding") / "scenarios",
    sources=(SimulatedPopulationSource(), UserFilesSource()),
    models={
        "breeding.gblup": GBLUP,
        "breeding.snp_blup": RidgeSNPBLUP,
        "breeding.bayesc": BayesC,
        "breeding.rkhs": RKHS,
        "breeding.mlp": mlp,
    },
    metrics=(*BREEDING_METRICS, *SELECTION_METRICS),
    splits={"breeding.forward": FORWARD, "breeding.user_folds": USER_FOLDS},
    protocols=(BreedingProtocol(), SelectionProtocol()),
    environments={"breeding.selection": SelectionEnvironment},
    policies={"breeding.phenotypic": PhenotypicSelection, "breeding.genomic": GenomicSelection},
    key_libraries=("msprime", "tskit", "scikit-allel", "bed-reader"),
    check_params={
        "breeding.bayesc": {"chain_length": 20, "burn_in": 5},
        "breeding.mlp": {"max_epochs": 3, "hidden": [16]},
    },
)
