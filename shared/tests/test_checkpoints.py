"""A unit's training survives a stop: a fit cut off between epochs goes on from its
checkpoint and ends with the weights an uninterrupted fit would have had."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from assay.engine.runner import GridEntry, plan_grid  # noqa: E402
from assay.engine.units import checkpoint_folder, execute_unit  # noqa: E402
from assay.evaluation import checkpoints  # noqa: E402
from assay.evaluation.checkpoints import unit_checkpoints  # noqa: E402
from assay.evaluation.torch_training import TrainConfig, TrainResult, fit_module  # noqa: E402
from assay.plugin import Catalog  # noqa: E402
from assay.spec import ModelEntry  # noqa: E402

CONFIG = TrainConfig(max_epochs=8, lr=1e-2, patience=100, lr_schedule="cosine", batch_size=16)


class Stop(Exception):
    """Stands for the machine going away mid-epoch."""


def data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], dtype=np.float32) + 0.1).reshape(-1, 1)
    return torch.from_numpy(x), torch.from_numpy(y)


def batches(stop_at_epoch: int | None = None) -> object:
    x, y = data()
    epochs = iter(range(1_000))

    def epoch_batches(rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = next(epochs)
        order = rng.permutation(len(x))
        for start in range(0, len(x), 16):
            if epoch == stop_at_epoch:
                raise Stop
            rows = order[start : start + 16]
            yield x[rows], y[rows]

    return epoch_batches


def network() -> torch.nn.Module:
    torch.manual_seed(0)
    # Dropout draws from torch's generator each step: a resume must restore it too.
    return torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1)
    )


def fit(stop_at_epoch: int | None = None) -> tuple[torch.nn.Module, TrainResult]:
    module = network()
    valid = batches()
    result = fit_module(
        module,
        batches(stop_at_epoch),  # type: ignore[arg-type]
        torch.nn.functional.mse_loss,
        valid_batches=lambda rng: valid(rng),  # type: ignore[operator]
        config=CONFIG,
        seed=3,
    )
    return module, result


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


@pytest.fixture
def save_every_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoints, "CHECKPOINT_EVERY_S", 0.0)


def test_a_stopped_fit_goes_on_to_the_uninterrupted_weights(
    tmp_path: Path, save_every_epoch: None
) -> None:
    whole, whole_result = fit()
    with unit_checkpoints(tmp_path), pytest.raises(Stop):
        fit(stop_at_epoch=5)
    assert (tmp_path / "fit-0.pt").is_file()
    with unit_checkpoints(tmp_path):
        resumed, result = fit()
    assert same_weights(resumed, whole)
    assert result.train_losses == whole_result.train_losses
    assert result.valid_losses == whole_result.valid_losses
    assert result.best_epoch == whole_result.best_epoch
    assert result.resumed_at_epoch == 6  # epochs 1-5 were saved, the sixth was cut off
    assert result.choices()["resumed_at_epoch"] == 6
    assert "resumed_at_epoch" not in whole_result.choices()


def test_a_finished_fit_is_not_trained_again(tmp_path: Path, save_every_epoch: None) -> None:
    with unit_checkpoints(tmp_path):
        first, _ = fit()
    with unit_checkpoints(tmp_path):  # the unit stopped after its fit, before its result
        again, result = fit(stop_at_epoch=0)  # would raise if it trained at all
    assert same_weights(again, first)
    assert len(result.train_losses) == CONFIG.max_epochs


def test_a_checkpoint_of_another_fit_is_ignored(tmp_path: Path, save_every_epoch: None) -> None:
    with unit_checkpoints(tmp_path), pytest.raises(Stop):
        fit(stop_at_epoch=3)
    other = TrainConfig(**{**CONFIG.model_dump(), "lr": 5e-3})
    module = network()
    with unit_checkpoints(tmp_path):
        result = fit_module(
            module,
            batches(),  # type: ignore[arg-type]
            torch.nn.functional.mse_loss,
            config=other,
            seed=3,
        )
    assert result.resumed_at_epoch is None
    assert len(result.train_losses) == other.max_epochs


def test_short_fits_and_fits_outside_a_unit_write_nothing(tmp_path: Path) -> None:
    with unit_checkpoints(tmp_path):
        fit()  # well under a minute: no save is due
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    fit()  # outside a unit there is no folder to write to


def test_a_unit_removes_its_checkpoints_when_it_ends(
    installed_catalog: Catalog, save_every_epoch: None
) -> None:
    entry = GridEntry(
        "testplugin/tiny@1", [ModelEntry(name="torch_mlp", params={"max_epochs": 3})], [0]
    )
    task = plan_grid(installed_catalog, [entry], "quick")[0]
    folder = checkpoint_folder(task)
    folder.mkdir(parents=True)
    (folder / "stale.txt").write_text("left by an attempt that was killed")
    result = execute_unit(task, installed_catalog)
    assert result.ok, result.error
    assert not folder.exists()
