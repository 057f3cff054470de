"""The quantum plugin object, found by the core through the `assay.plugins` entry point.

Every contribution is named as "module:attr" and imported only when used: qiskit,
Aer and stim stay out of `assay list`, and so does every module of this package but
this one.
"""

from __future__ import annotations

from importlib.resources import files

from assay.kit import Plugin

from assay_quantum import __version__

_METRICS = "assay_quantum.metrics:DECODING_METRICS"
_PER_ROUND = "logical_error_rate_per_round_r{rounds}"

plugin = Plugin(
    name="quantum",
    version=__version__,
    description="Quantum scenarios on simulators: error mitigation (Aer), surface-code decoding (stim), QML",
    scenario_dir=files("assay_quantum") / "scenarios",
    sources={
        "quantum.ising_noisy": "assay_quantum.mitigation_data:IsingNoiseSource",
        "quantum.user_circuits": "assay_quantum.user_files:UserCircuitSource",
        "quantum.surface_code": "assay_quantum.surface_code:SurfaceCodeSource",
        "quantum.qml_data": "assay_quantum.qml_data:QMLDataSource",
    },
    models={
        "quantum.unmitigated": "assay_quantum.mitigation_models:Unmitigated",
        "quantum.zne_linear": "assay_quantum.mitigation_models:zne_linear",
        "quantum.zne_richardson": "assay_quantum.mitigation_models:zne_richardson",
        "quantum.linear": "assay_quantum.mitigation_models:linear_regression",
        "quantum.circuit_gnn": "assay_quantum.circuit_gnn:circuit_gnn",
        "quantum.mwpm": "assay_quantum.decoders:MWPMDecoder",
        "quantum.neural_decoder": "assay_quantum.decoders:neural_decoder",
        "quantum.svc": "assay_quantum.qml_models:svc",
        "quantum.mlp": "assay_quantum.qml_models:mlp",
        "quantum.kernel_svm": "assay_quantum.qml_models:QuantumKernelSVM",
        "quantum.reuploading": "assay_quantum.qml_models:reuploading",
    },
    metrics={
        "logical_error_rate": _METRICS,
        _PER_ROUND: _METRICS,
        _PER_ROUND + "_ci_low": _METRICS,
        _PER_ROUND + "_ci_high": _METRICS,
    },
    splits={"quantum.by_steps": "assay_quantum.splits:BY_STEPS"},
    key_libraries=("qiskit", "qiskit-aer", "stim", "pymatching"),
    check_params={
        "quantum.circuit_gnn": {"max_epochs": 2, "hidden": 16, "layers": 2},
        "quantum.neural_decoder": {"max_epochs": 1, "channels": 4, "hidden": 8},
        "quantum.kernel_svm": {"bandwidths": [0.5], "c_values": [1.0]},
        "quantum.reuploading": {"layers_grid": [1], "max_epochs": 5},
        "random_forest": {"n_estimators": 10},
        "torch_mlp": {"max_epochs": 3},
    },
)
