"""The medicine plugin object, found by the core through the `assay.plugins` entry point."""

from __future__ import annotations

from importlib.resources import files

from assay.plugin import Plugin

from assay_medicine import __version__
from assay_medicine.models import (
    ESOLModel,
    PhysicsColumnModel,
    TanimotoKNN,
    gradient_boosting,
    random_forest,
    ridge,
)
from assay_medicine.sources import (
    ChemblPic50Source,
    FreeSolvSource,
    SolubilitySource,
    UserFileSource,
)

plugin = Plugin(
    name="medicine",
    version=__version__,
    description="Molecular property scenarios with RDKit: FreeSolv, solubility, ChEMBL pIC50, your CSV",
    scenario_dir=files("assay_medicine") / "scenarios",
    sources=(FreeSolvSource(), SolubilitySource(), ChemblPic50Source(), UserFileSource()),
    models={
        "medicine.physics": PhysicsColumnModel,
        "medicine.esol": ESOLModel,
        "medicine.ridge": ridge,
        "medicine.random_forest": random_forest,
        "medicine.gradient_boosting": gradient_boosting,
        "medicine.knn_tanimoto": TanimotoKNN,
        "medicine.dmpnn": "assay_medicine.dmpnn:dmpnn",
    },
    key_libraries=("rdkit", "datamol"),
    check_params={
        "medicine.dmpnn": {"max_epochs": 2, "hidden": 32, "ffn_hidden": 32},
        "medicine.random_forest": {"n_estimators": 10},
        "medicine.gradient_boosting": {"max_iter": 20},
    },
)
