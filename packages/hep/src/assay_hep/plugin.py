"""The hep plugin object, found by the core through the `assay.plugins` entry point.

Every contribution is named as "module:attr" and imported only when used: Pythia,
FastJet and torch stay out of `assay list`, and so does every module of this package
but this one.
"""

from __future__ import annotations

from importlib.resources import files

from assay.kit import Plugin

from assay_hep import __version__

_METRICS = "assay_hep.metrics:HEP_METRICS"

plugin = Plugin(
    name="hep",
    version=__version__,
    description="Jet tagging on Pythia8 + FastJet jets; JetClass ROOT and TopLandscape HDF5 in",
    scenario_dir=files("assay_hep") / "scenarios",
    sources={
        "hep.pythia": "assay_hep.sources:PythiaJetSource",
        "hep.files": "assay_hep.user_files:JetFileSource",
    },
    models={
        "hep.cut": "assay_hep.models:MassTau32Cut",
        "hep.bdt": "assay_hep.models:boosted_trees",
        "hep.pfn": "assay_hep.deep:pfn",
        "hep.particlenet": "assay_hep.deep:particlenet_lite",
    },
    metrics={
        "hep.rejection_{percent}": _METRICS,
        **{
            f"hep.qcd_rejection_50_{jet}": _METRICS
            for jet in ("Tbqq", "Wqq", "Zqq", "Hbb")  # metrics.JETCLASS_ORDER less QCD
        },
    },
    splits={"hep.generator_seeds": "assay_hep.splits:GENERATOR_SEEDS"},
    key_libraries=("pythia8mc", "fastjet", "uproot", "awkward", "vector", "h5py"),
    check_params={
        "hep.bdt": {"max_iter": 20},
        "hep.pfn": {"max_epochs": 2, "max_particles": 16},
        "hep.particlenet": {"max_epochs": 2, "max_particles": 16},
    },
)
