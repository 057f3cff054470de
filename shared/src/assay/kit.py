"""The plugin author's kit: everything a plugin takes from the core, in one module.

A plugin imports from `assay.kit` alone (a test holds every plugin to it), so the rest of
the core can move without breaking plugins. The names come in the order a plugin meets
them: its manifest, errors, data and sources, splits, models and metrics, protocols,
closed loops, torch training, and small helpers.

Importing this module stays light, because every plugin's manifest (`plugin.py`) imports
it and `assay list` imports every manifest: the torch training loop and the progress bars
(torch, Rich) are imported on first use of one of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from assay.data.cache import assay_home
from assay.data.dataset import (
    Dataset,
    DatasetMetadata,
    DescribedSource,
    Source,
    SourceParams,
    SourceParamsT,
    read_array,
    read_json,
    sha256_file,
    stable_hash,
    write_array,
    write_json,
)
from assay.data.export import ExportColumn, ExportFile, ExportView, Ragged, default_columns
from assay.data.splits import Fold, Split, Splitter, carve_validation, kfold, rows_sha
from assay.data.user_files import (
    EXAMPLE,
    USER_LICENCE,
    FingerprintParams,
    UserFileSource,
    bundled_path,
    content_digest,
    require_varying_target,
    user_path,
)
from assay.errors import (
    AssayError,
    DataError,
    NotInstalledError,
    SpecError,
    SplitError,
    UnknownNameError,
    reason,
)
from assay.evaluation.metrics import Bound, Metric, MetricFamily, MetricFn, positive_scores
from assay.evaluation.models import (
    CLASSIFICATION_TASKS,
    FittedChoice,
    MeanModel,
    Model,
    SklearnModel,
    TaskDispatchModel,
    array_features,
    fitted_choice_tags,
    require_targets,
)
from assay.evaluation.predictions import Predictions
from assay.evaluation.preprocessing import Standardiser
from assay.evaluation.protocols import (
    EvaluationProtocol,
    Plan,
    SupervisedProtocol,
    UnitContext,
    UnitOutput,
    fit_and_valid_rows,
    prediction_columns,
)
from assay.evaluation.requirements import Requirement, requires
from assay.loop.campaign import (
    DESIGN_SEEDS,
    CampaignPlan,
    ClosedLoopProtocol,
    campaign_scores,
    run_campaign,
)
from assay.loop.closed_loop import Candidates, Environment, History, Measurement
from assay.params import Params, checked, parse_params
from assay.plugin import Catalog, Plugin
from assay.spec import ProtocolSpec, ScenarioSpec
from assay.threads import available_cores, current_budget

if TYPE_CHECKING:
    from assay.engine.progress import progress_bar, track
    from assay.evaluation.torch_training import (
        Batch,
        BatchFn,
        MLPModel,
        TorchModel,
        TrainConfig,
        predict_batches,
        seed_everything,
        tensor_batches,
        torch_factory,
        torch_threads,
    )

_ON_FIRST_USE = {
    "assay.evaluation.torch_training": (
        "Batch",
        "BatchFn",
        "MLPModel",
        "TorchModel",
        "TrainConfig",
        "predict_batches",
        "seed_everything",
        "tensor_batches",
        "torch_factory",
        "torch_threads",
    ),
    "assay.engine.progress": ("progress_bar", "track"),
}
_MODULE_OF = {name: module for module, names in _ON_FIRST_USE.items() for name in names}

__all__ = [
    "CLASSIFICATION_TASKS",
    "DESIGN_SEEDS",
    "EXAMPLE",
    "USER_LICENCE",
    "AssayError",
    "Batch",
    "BatchFn",
    "Bound",
    "CampaignPlan",
    "Candidates",
    "Catalog",
    "ClosedLoopProtocol",
    "DataError",
    "Dataset",
    "DatasetMetadata",
    "DescribedSource",
    "Environment",
    "EvaluationProtocol",
    "ExportColumn",
    "ExportFile",
    "ExportView",
    "FingerprintParams",
    "FittedChoice",
    "Fold",
    "History",
    "MLPModel",
    "MeanModel",
    "Measurement",
    "Metric",
    "MetricFamily",
    "MetricFn",
    "Model",
    "NotInstalledError",
    "Params",
    "Plan",
    "Plugin",
    "Predictions",
    "ProtocolSpec",
    "Ragged",
    "Requirement",
    "ScenarioSpec",
    "SklearnModel",
    "Source",
    "SourceParams",
    "SourceParamsT",
    "SpecError",
    "Split",
    "SplitError",
    "Splitter",
    "Standardiser",
    "SupervisedProtocol",
    "TaskDispatchModel",
    "TorchModel",
    "TrainConfig",
    "UnitContext",
    "UnitOutput",
    "UnknownNameError",
    "UserFileSource",
    "array_features",
    "assay_home",
    "available_cores",
    "bundled_path",
    "campaign_scores",
    "carve_validation",
    "checked",
    "content_digest",
    "current_budget",
    "default_columns",
    "fit_and_valid_rows",
    "fitted_choice_tags",
    "kfold",
    "parse_params",
    "positive_scores",
    "predict_batches",
    "prediction_columns",
    "progress_bar",
    "read_array",
    "read_json",
    "reason",
    "require_targets",
    "require_varying_target",
    "requires",
    "rows_sha",
    "run_campaign",
    "seed_everything",
    "sha256_file",
    "stable_hash",
    "tensor_batches",
    "torch_factory",
    "torch_threads",
    "track",
    "user_path",
    "write_array",
    "write_json",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this hook
    return value
