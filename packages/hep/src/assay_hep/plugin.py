"""The hep plugin object, found by the core through the `assay.plugins` entry point.

Sources and models are named as "module:attr" and imported only when used: Pythia,
FastJet and torch stay out of `assay list`.
"""

from __future__ import annotations

from importlib.resources import files

from assay.plugin import Plugin

from assay_hep import __version__
from assay_hep.metrics import HEP_METRICS
from assay_hep.splits import GENERATOR_SEEDS

plugin = Plugin(
    name="hep",
    version=__version__,
    description="Jet tagging on Pythia8 + FastJet jets; JetClass ROOT and TopLandscape HDF5 in",
    scenario_dir=files("assay_hep") / "scenarios",
    sources={
        "hep.pythia": "assay_hep.sources:PythiaJetSource",
        "hep.files": "assay_hep.sources:JetFileSource",
    },
    models={
        "hep.cut": "assay_hep.models:MassTau32Cut",
        "hep.bdt": "assay_hep.models:boosted_trees",
        "hep.pfn": "assay_hep.deep:pfn",
        "hep.particlenet": "assay_hep.deep:particlenet_lite",
    },
    metrics=HEP_METRICS,
    splits={"hep.generator_seeds": GENERATOR_SEEDS},
    key_libraries=("pythia8mc", "fastjet", "uproot", "awkward", "vector", "h5py"),
    check_params={
        "hep.bdt": {"max_iter": 20},
        "hep.pfn": {"max_epochs": 2, "max_particles": 16},
        "hep.particlenet": {"max_epochs": 2, "max_particles": 16},
    },
)
