"""The materials plugin object, found by the core through the `assay.plugins` entry point."""

from __future__ import annotations

from importlib.resources import files

from assay.kit import Plugin

from assay_materials import __version__

_METRICS = "assay_materials.metrics:STABILITY_METRICS"

plugin = Plugin(
    name="materials",
    version=__version__,
    description="Formation energies: experimental enthalpies (pymatgen), EMT alloys (ASE), your Matbench and structure files",
    scenario_dir=files("assay_materials") / "scenarios",
    # "module:attr" entries are imported only when used: pymatgen, ASE, torch, CHGNet and
    # SevenNet stay out of `assay list`, and so does every module of this package but this one.
    sources={
        "materials.expt_formation_enthalpy": "assay_materials.sources:ExptFormationEnthalpySource",
        "materials.emt_alloys": "assay_materials.sources:EmtAlloysSource",
        "materials.matbench_file": "assay_materials.user_files:MatbenchFileSource",
        "materials.structure_folder": "assay_materials.user_files:StructureFolderSource",
    },
    models={
        "materials.linear": "assay_materials.models:linear_composition",
        "materials.random_forest": "assay_materials.models:random_forest",
        "materials.cluster_expansion": "assay_materials.cluster_expansion:cluster_expansion",
        "materials.composition_attention": "assay_materials.deep:composition_attention",
        "materials.crystal_graph": "assay_materials.deep:crystal_graph",
        # The `foundation` extra; without CHGNet or SevenNet these are reported as not installed.
        "materials.chgnet_zero_shot": "assay_materials.chgnet:CHGNetZeroShot",
        "materials.chgnet_calibrated": "assay_materials.chgnet:CHGNetCalibrated",
        "materials.chgnet_finetuned": "assay_materials.chgnet:chgnet_finetuned",
        "materials.sevennet_zero_shot": "assay_materials.sevennet:SevenNetZeroShot",
        "materials.sevennet_calibrated": "assay_materials.sevennet:SevenNetCalibrated",
        "materials.sevennet_finetuned": "assay_materials.sevennet:sevennet_finetuned",
    },
    metrics={
        "materials.stability_f1": _METRICS,
        "materials.stability_precision": _METRICS,
        "materials.stability_recall": _METRICS,
        "materials.daf": _METRICS,
    },
    splits={
        "materials.matbench": "assay_materials.splits:MATBENCH",
        "materials.leave_one_group_out": "assay_materials.splits:LEAVE_ONE_GROUP_OUT",
    },
    environments={"materials.alloy_pool": "assay_materials.alloy_loop:AlloyPool"},
    policies={
        "materials.chgnet_prior": "assay_materials.alloy_loop:CHGNetPriorPolicy",
        "materials.sevennet_prior": "assay_materials.alloy_loop:SevenNetPriorPolicy",
    },
    key_libraries=("pymatgen", "ase", "chgnet", "sevenn"),
    check_params={
        "materials.random_forest": {"n_estimators": 20},
        "materials.composition_attention": {"max_epochs": 2, "hidden": 16, "layers": 1},
        "materials.crystal_graph": {"max_epochs": 2, "hidden": 16, "layers": 1},
        "materials.chgnet_finetuned": {"max_epochs": 1},
        "materials.sevennet_finetuned": {"max_epochs": 1},
        "greedy": {"n_estimators": 10},
        "ucb": {"n_estimators": 10},
    },
)
