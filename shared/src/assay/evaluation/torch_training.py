"""One small torch training loop that every plugin's deep models share.

Seeded, mini-batched, early stopping on a validation set with the best
weights restored, CPU by default and CUDA when present. Needs the
`assay[torch]` extra; nothing imports this module unless a torch model runs.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import logging
import math
import os
import random
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from pydantic import Field, create_model
from pydantic.fields import FieldInfo
from torch import nn

from assay.data.dataset import Dataset
from assay.evaluation import checkpoints
from assay.evaluation.checkpoints import next_fit_checkpoint
from assay.evaluation.models import (
    CLASSIFICATION_TASKS,
    Featurizer,
    FittedChoice,
    array_features,
    require_targets,
)
from assay.evaluation.predictions import Predictions
from assay.evaluation.preprocessing import Standardiser
from assay.params import Params, signature_params
from assay.threads import current_budget

log = logging.getLogger(__name__)

Batch = Sequence[Any]
LrSchedule = Literal["constant", "cosine"]
Precision = Literal["float32", "bfloat16"]
BatchFn = Callable[[np.random.Generator], Iterable[Batch]]
"""Yields mini-batches (tuples of tensors or objects with `.to(device)`); reshuffled per call."""


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


_NATIVE_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
"""Linux CPU flags of bfloat16 arithmetic units: x86 AVX512-BF16 and AMX, Arm's BF16."""


def cpu_has_native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether the CPU computes in bfloat16 natively; None where its flags cannot be read.

    Without such units torch emulates bfloat16 autocast, which makes training
    slower than float32, not faster (the hep README's Benchmarks measure it).
    """
    try:
        words = set(cpuinfo.read_text().split())
    except OSError:
        return None
    return bool(words & _NATIVE_BFLOAT16_FLAGS)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU thread count set to `threads` for a block, then put back.

    `torch.set_num_threads` is process-wide: left set, one model's choice
    would slow every later model in the same worker.
    """
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@functools.cache
def import_optimisers() -> None:
    """Make and drop one optimiser. The first one a process makes imports torch's compiler
    stack (sympy and more: seconds), which a unit should neither pay against its time limit
    nor be stopped in the middle of, leaving half-imported modules to the next unit."""
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


def seed_everything(seed: int) -> None:
    """Seed every generator; on CUDA also ask for deterministic kernels.

    Scatter-adds (`index_add_`, used by graph networks) are nondeterministic on
    CUDA by default, so two runs of one seed would differ. Kernels without a
    deterministic version only warn. CPU results depend on the thread count.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


class TrainConfig(Params):
    """The training knobs every torch model shares, checked once (suites, `-p` and code)."""

    max_epochs: int = Field(default=200, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    patience: int = Field(default=20, ge=1)
    """Epochs without improvement on the validation loss before stopping."""
    grad_clip: float | None = Field(default=10.0, gt=0)
    threads: int | None = Field(default=None, ge=1)
    """torch's CPU threads while training (None: torch's default, all cores). One
    thread suits small batches and runs with several worker processes."""
    lr_schedule: LrSchedule = "constant"
    """"cosine" anneals the rate from `lr` to zero over `max_epochs`: the last
    epochs take small steps, which is what small training sets need to settle."""
    precision: Precision = "float32"
    """"bfloat16" runs the training steps' forward pass under autocast (weights,
    gradients and optimiser state stay float32): faster on CPUs with AMX or
    AVX512-BF16 units and on recent GPUs (the hep bench measures it), with
    activations kept to ~3 significant digits. Validation losses and
    predictions are always float32, so scores keep their full resolution for
    ranking metrics."""
    batch_size: int = Field(default=64, ge=1)
    device: str | None = None
    """"cpu", "cuda", "cuda:1", ...; None: CUDA when present, else the CPU."""

    def replace(self, **changes: Any) -> TrainConfig:
        """This config with `changes`, checked like any other."""
        return TrainConfig.model_validate({**self.model_dump(), **changes})


DEFAULT_TRAINING = TrainConfig()


@dataclass
class TrainResult:
    best_epoch: int
    best_valid_loss: float
    train_losses: list[float] = field(default_factory=list)
    valid_losses: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    """The rate each epoch trained with."""
    resumed_at_epoch: int | None = None
    """The epoch (counted from 1) a stopped fit went on from, read from its checkpoint."""

    def choices(self) -> dict[str, FittedChoice]:
        """For a model's `fitted_choices()`: which epoch's weights were kept (counted
        from 1), of how many trained, and the loss that chose it: the validation
        loss, or without validation batches the epoch's mean training loss."""
        choices: dict[str, FittedChoice] = {
            "kept_epoch": self.best_epoch + 1,
            "epochs_trained": len(self.train_losses),
            "kept_loss": self.best_valid_loss,
            "kept_on": "validation" if self.valid_losses else "training",
        }
        if self.resumed_at_epoch is not None:
            choices["resumed_at_epoch"] = self.resumed_at_epoch
        return choices


class ReportsKeptEpoch:
    """For a model trained by `fit_module`: it keeps the result as `training_`,
    and its runs record which epoch's weights were kept (`fitted_choices`)."""

    training_: TrainResult

    def fitted_choices(self) -> dict[str, FittedChoice]:
        return self.training_.choices()


def _to_device(batch: Batch, device: torch.device) -> list[Any]:
    return [item.to(device) if hasattr(item, "to") else item for item in batch]


def _mean_loss(
    module: nn.Module,
    batches: Iterable[Batch],
    loss_fn: Callable[..., torch.Tensor],
    device: torch.device,
) -> float:
    module.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            *inputs, target = _to_device(batch, device)
            loss = loss_fn(module(*inputs), target)
            n = len(target)
            total += float(loss) * n
            count += n
    return total / max(count, 1)


def fit_module(
    module: nn.Module,
    train_batches: BatchFn,
    loss_fn: Callable[..., torch.Tensor],
    *,
    valid_batches: BatchFn | None = None,
    config: TrainConfig = DEFAULT_TRAINING,
    seed: int = 0,
    device: torch.device | None = None,
) -> TrainResult:
    """Train `module` in place; each batch is `(*inputs, target)` and `module(*inputs)` predicts.

    With `valid_batches`, training stops after `patience` epochs without a
    better validation loss and the best weights are restored. Without it, the
    training loss plays that role.
    """
    with torch_threads(config.threads or current_budget()):
        return _train(module, train_batches, loss_fn, valid_batches, config, seed, device)


def _train(
    module: nn.Module,
    train_batches: BatchFn,
    loss_fn: Callable[..., torch.Tensor],
    valid_batches: BatchFn | None,
    config: TrainConfig,
    seed: int,
    device: torch.device | None,
) -> TrainResult:
    seed_everything(seed)
    device = device or default_device()
    if (
        config.precision == "bfloat16"
        and device.type == "cpu"
        and cpu_has_native_bfloat16() is False
    ):
        log.warning(
            "precision='bfloat16' on a CPU without bfloat16 units (no avx512_bf16, amx_bf16 "
            "or bf16 flag): torch emulates it, and training runs several times slower than "
            "with precision='float32'"
        )
    module.to(device)
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.max_epochs)
        if config.lr_schedule == "cosine"
        else None
    )
    rng = np.random.default_rng(seed)
    result = TrainResult(best_epoch=-1, best_valid_loss=math.inf)
    best_state: dict[str, torch.Tensor] | None = None
    checkpoint = _Checkpoint.for_fit(module, config, seed)
    first_epoch = 0
    if checkpoint is not None and (saved := checkpoint.load()) is not None:
        first_epoch, result, best_state = saved.restore(module, optimizer, scheduler, rng)
        if saved.finished:
            module.eval()
            return result
    for epoch in range(first_epoch, config.max_epochs):
        module.train()
        total, count = 0.0, 0
        for batch in train_batches(rng):
            *inputs, target = _to_device(batch, device)
            optimizer.zero_grad()
            with torch.autocast(
                device.type, dtype=torch.bfloat16, enabled=config.precision == "bfloat16"
            ):
                loss = loss_fn(module(*inputs), target)
            loss.backward()  # type: ignore[no-untyped-call]
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
            optimizer.step()
            total += float(loss.detach()) * len(target)
            count += len(target)
        result.learning_rates.append(float(optimizer.param_groups[0]["lr"]))
        if scheduler is not None:
            scheduler.step()
        train_loss = total / max(count, 1)
        result.train_losses.append(train_loss)
        monitored = train_loss
        if valid_batches is not None:
            monitored = _mean_loss(module, valid_batches(np.random.default_rng(0)), loss_fn, device)
            result.valid_losses.append(monitored)
        if not math.isfinite(monitored):
            raise FloatingPointError(f"training diverged at epoch {epoch} (loss {monitored})")
        if monitored < result.best_valid_loss:
            result.best_valid_loss, result.best_epoch = monitored, epoch
            best_state = copy.deepcopy(module.state_dict())
        elif epoch - result.best_epoch >= config.patience:
            break
        if checkpoint is not None and checkpoint.due():
            checkpoint.save(epoch + 1, module, optimizer, scheduler, rng, result, best_state)
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    if checkpoint is not None and checkpoint.written:  # a second attempt skips this fit
        checkpoint.save(None, module, optimizer, scheduler, rng, result, None)
    return result


@dataclass
class _SavedFit:
    """A fit's state as `_Checkpoint.save` wrote it."""

    state: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.state["next_epoch"] is None

    def restore(
        self,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        rng: np.random.Generator,
    ) -> tuple[int, TrainResult, dict[str, torch.Tensor] | None]:
        """Put every piece of state back; (the next epoch, the losses so far, the best
        weights so far)."""
        state = self.state
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        if torch.cuda.is_available() and state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        random.setstate(state["python_rng"])
        name, key, *rest = state["numpy_rng"]
        np.random.set_state((name, np.asarray(key, dtype=np.uint32), *rest))
        result = TrainResult(**state["result"])
        next_epoch = state["next_epoch"]
        if next_epoch is not None:
            result.resumed_at_epoch = next_epoch + 1
            log.warning("resuming a stopped fit at epoch %d from %s", next_epoch + 1, state["path"])
        return next_epoch or 0, result, state["best"]


class _Checkpoint:
    """One fit's checkpoint file inside a unit (`assay.evaluation.checkpoints`)."""

    def __init__(self, path: Path, signature: dict[str, Any]) -> None:
        self.path, self.signature = path, signature
        self.last_save = time.monotonic()
        self.written = False

    @classmethod
    def for_fit(cls, module: nn.Module, config: TrainConfig, seed: int) -> _Checkpoint | None:
        path = next_fit_checkpoint()
        if path is None:
            return None
        signature = {
            "weights": [[name, list(t.shape)] for name, t in module.state_dict().items()],
            "config": config.model_dump(mode="json"),
            "seed": seed,
            "torch": str(torch.__version__),
        }
        return cls(path, signature)

    def due(self) -> bool:
        return time.monotonic() - self.last_save >= checkpoints.CHECKPOINT_EVERY_S

    def load(self) -> _SavedFit | None:
        """The saved state when it is this fit's (same weights' shapes, knobs, seed and
        torch); None when there is none or another fit's."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a file cut off mid-write by a kill is only a lost save
            log.warning(
                "ignoring unreadable checkpoint %s (%s)", self.path, str(exc).splitlines()[0]
            )
            return None
        if not isinstance(state, dict) or state.get("signature") != self.signature:
            log.warning("ignoring checkpoint %s: written by another fit", self.path)
            return None
        state["path"] = str(self.path)
        return _SavedFit(state)

    def save(
        self,
        next_epoch: int | None,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        rng: np.random.Generator,
        result: TrainResult,
        best: dict[str, torch.Tensor] | None,
    ) -> None:
        """Write the whole state (`next_epoch` None: the fit is finished), atomically."""
        name, key, *rest = np.random.get_state()
        state = {
            "signature": self.signature,
            "next_epoch": next_epoch,
            "module": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python_rng": random.getstate(),
            "numpy_rng": [name, [int(k) for k in key], *rest],
            "result": dataclasses.asdict(result),
            "best": best,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        torch.save(state, partial)
        os.replace(partial, self.path)
        self.last_save, self.written = time.monotonic(), True


def predict_batches(module: nn.Module, batches: Iterable[Batch]) -> npt.NDArray[np.float64]:
    """`module(*batch)` for each batch on the module's own device, without gradients.

    Outputs come back to the CPU and are concatenated along the first axis, so
    a model trained on CUDA predicts from CPU tensors without moving them itself.
    """
    device = next(module.parameters()).device
    module.eval()
    outputs: list[npt.NDArray[Any]] = []
    with torch.no_grad():
        for batch in batches:
            outputs.append(module(*_to_device(batch, device)).cpu().numpy())
    if not outputs:
        raise ValueError("predict_batches got no batches")
    return np.concatenate(outputs).astype(np.float64)


def tensor_batches(
    *arrays: npt.NDArray[Any] | torch.Tensor, batch_size: int, shuffle: bool = True
) -> BatchFn:
    """A BatchFn over row-aligned arrays, reshuffled each epoch from the loop's generator."""
    tensors = [a if isinstance(a, torch.Tensor) else torch.as_tensor(a) for a in arrays]
    n = len(tensors[0])

    def batches(rng: np.random.Generator) -> Iterable[Batch]:
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, batch_size):
            idx = torch.as_tensor(order[start : start + batch_size])
            yield tuple(t[idx] for t in tensors)

    return batches


class TorchModel(ReportsKeptEpoch):
    """The base of every torch model: the training knobs come whole as a `TrainConfig`.

    A subclass's own `__init__` arguments are its network's hyperparameters;
    epochs, rate, batch size, threads, schedule, precision and device are the
    config's, the same knobs for every model. `torch_factory` turns such a
    class into the flat `key=value` factory that suites and `-p` use.
    """

    def __init__(self, config: TrainConfig | None = None) -> None:
        self.config = config or TrainConfig()

    @property
    def device(self) -> torch.device:
        return torch.device(self.config.device) if self.config.device else default_device()

    def train_module(
        self,
        module: nn.Module,
        train_batches: BatchFn,
        loss_fn: Callable[..., torch.Tensor],
        *,
        valid_batches: BatchFn | None = None,
        seed: int = 0,
    ) -> TrainResult:
        """`fit_module` under this model's config and device; the result is kept as `training_`."""
        self.training_ = fit_module(
            module,
            train_batches,
            loss_fn,
            valid_batches=valid_batches,
            config=self.config,
            seed=seed,
            device=self.device,
        )
        return self.training_


MLP_TRAINING = TrainConfig(max_epochs=300, lr=1e-3, weight_decay=1e-4, patience=25, batch_size=64)

_CONFIG_FIELDS = frozenset(TrainConfig.model_fields)


def torch_factory(
    build: Callable[..., TorchModel], defaults: TrainConfig | None = None
) -> Callable[..., TorchModel]:
    """A model factory taking `build`'s own parameters and every `TrainConfig` knob, flat.

    `build(config=..., **own)` is a `TorchModel` subclass or a function that makes one,
    its own parameters declared in its signature (ranges as `Annotated`); or
    `build(config=..., params=...)` where `params` is annotated with a `Params` model
    (for parameters with cross-field rules), which `build` then gets parsed. `defaults`
    are this model's training defaults. The factory's `params_model` declares both sets,
    so a misspelt knob, `-p lr=abc` or `max_epochs=0` is refused before anything runs.
    """
    defaults = defaults or TrainConfig()
    own_model, typed = _own_params(build)
    clash = sorted(set(own_model.model_fields) & _CONFIG_FIELDS)
    if clash:
        raise TypeError(f"{build.__name__}: {clash} belong to TrainConfig, not the model")
    knobs: dict[str, Any] = {
        name: (_constrained(info), Field(default=getattr(defaults, name)))
        for name, info in TrainConfig.model_fields.items()
    }
    params_model = create_model(f"{build.__name__}Params", __base__=own_model, **knobs)

    def factory(**params: Any) -> TorchModel:
        knob_values = {k: params.pop(k) for k in list(params) if k in _CONFIG_FIELDS}
        config = defaults.replace(**knob_values)
        if typed:
            return build(config=config, params=own_model.model_validate(params))
        return build(config=config, **params)

    factory.params_model = params_model  # type: ignore[attr-defined]
    factory.__wrapped__ = build  # type: ignore[attr-defined]  # what it builds, for inspection
    factory.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=info.default,
                annotation=info.annotation,
            )
            for name, info in params_model.model_fields.items()
        ],
        return_annotation=TorchModel,
    )
    factory.__name__ = build.__name__
    factory.__qualname__ = build.__qualname__
    factory.__doc__ = build.__doc__
    return factory


def _constrained(info: FieldInfo) -> Any:
    """A field's type with its constraints (`ge=1`), to declare it again with another default."""
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def _own_params(build: Callable[..., TorchModel]) -> tuple[type[Params], bool]:
    """`build`'s own parameters (all but `config`), and whether it takes them as one
    parsed `Params` object (`params: SomeParams`) rather than as keywords."""
    if "params" in inspect.signature(build).parameters:
        target = build.__init__ if inspect.isclass(build) else build
        declared = typing.get_type_hints(target).get("params")
        if isinstance(declared, type) and issubclass(declared, Params):
            return declared, True
    return signature_params(build, skip=("config",)), False


class MLPModel(TorchModel):
    """A multilayer perceptron on array features: the core's reference torch model.

    Regression targets are standardised for training; classification uses
    cross-entropy and returns class probabilities.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (128, 128),
        dropout: float = 0.1,
        featurizer: Featurizer = array_features,
        config: TrainConfig | None = None,
    ) -> None:
        super().__init__(config or MLP_TRAINING)
        self.hidden, self.dropout = tuple(hidden), dropout
        self.featurizer = featurizer

    def _network(self, n_in: int, n_out: int) -> nn.Module:
        layers: list[nn.Module] = []
        for width in self.hidden:
            layers += [nn.Linear(n_in, width), nn.ReLU(), nn.Dropout(self.dropout)]
            n_in = width
        layers.append(nn.Linear(n_in, n_out))
        return nn.Sequential(*layers)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        seed_everything(seed)
        x = self.featurizer(train)
        self.x_scaler_ = Standardiser.columns(x, eps=1e-8)
        y = require_targets(train)
        self.classify_ = train.task in CLASSIFICATION_TASKS
        if self.classify_:
            self.classes_, y_idx = np.unique(y, return_inverse=True)
            target: npt.NDArray[Any] = y_idx.astype(np.int64)
            loss_fn: Callable[..., torch.Tensor] = nn.functional.cross_entropy
            n_out = len(self.classes_)
        else:
            self.y_scaler_ = Standardiser.scalar(y, eps=1e-8)
            target = self.y_scaler_.apply(y).astype(np.float32).reshape(-1, 1)
            loss_fn = nn.functional.mse_loss
            n_out = 1
        self.net_ = self._network(x.shape[1], n_out)
        valid_fn = None
        if valid is not None and len(valid):
            valid_fn = tensor_batches(
                self._scaled(valid),
                self._targets(require_targets(valid)),
                batch_size=512,
                shuffle=False,
            )
        self.train_module(
            self.net_,
            tensor_batches(self._scaled(train), target, batch_size=self.config.batch_size),
            loss_fn,
            valid_batches=valid_fn,
            seed=seed,
        )

    def _scaled(self, dataset: Dataset) -> npt.NDArray[np.float32]:
        scaled = self.x_scaler_.apply(self.featurizer(dataset))
        return np.asarray(scaled, dtype=np.float32)

    def _targets(self, y: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if self.classify_:
            return np.searchsorted(self.classes_, y).astype(np.int64)
        return self.y_scaler_.apply(y).astype(np.float32).reshape(-1, 1)

    def predict(self, dataset: Dataset) -> Predictions:
        device = next(self.net_.parameters()).device
        with torch.no_grad():
            out = self.net_(torch.as_tensor(self._scaled(dataset), device=device)).cpu().numpy()
        if self.classify_:
            probabilities = torch.softmax(torch.as_tensor(out), dim=1).numpy().astype(np.float64)
            return Predictions(self.classes_[probabilities.argmax(1)], probabilities=probabilities)
        return Predictions(values=self.y_scaler_.invert(out[:, 0].astype(np.float64)))


mlp = torch_factory(MLPModel, MLP_TRAINING)
"""The core's torch MLP on array features (registered as `torch_mlp`)."""
