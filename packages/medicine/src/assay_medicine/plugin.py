"""The medicine plugin object, found by the core through the `assay.plugins` entry point.

Every contribution is named as "module:attr" and imported only when used: RDKit stays
out of `assay list`, and so does every module of this package but this one.
"""

from __future__ import annotations

from importlib.resources import files

from assay.kit import Plugin

from assay_medicine import __version__

plugin = Plugin(
    name="medicine",
    version=__version__,
    description="Molecular property scenarios with RDKit: FreeSolv, solubility, ChEMBL pIC50, your CSV",
    scenario_dir=files("assay_medicine") / "scenarios",
    sources={
        "medicine.freesolv": "assay_medicine.sources:FreeSolvSource",
        "medicine.solubility": "assay_medicine.sources:SolubilitySource",
        "medicine.chembl2321810": "assay_medicine.sources:ChemblPic50Source",
        "medicine.file": "assay_medicine.user_files:MoleculeFileSource",
    },
    models={
        "medicine.physics": "assay_medicine.models:PhysicsColumnModel",
        "medicine.esol": "assay_medicine.models:ESOLModel",
        "medicine.ridge": "assay_medicine.models:ridge",
        "medicine.random_forest": "assay_medicine.models:random_forest",
        "medicine.gradient_boosting": "assay_medicine.models:gradient_boosting",
        "medicine.knn_tanimoto": "assay_medicine.models:TanimotoKNN",
        "medicine.dmpnn": "assay_medicine.deep:dmpnn",
    },
    key_libraries=("rdkit", "datamol"),
    check_params={
        "medicine.dmpnn": {"max_epochs": 2, "hidden": 32, "ffn_hidden": 32},
        "medicine.random_forest": {"n_estimators": 10},
        "medicine.gradient_boosting": {"max_iter": 20},
    },
)
