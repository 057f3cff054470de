"""A test-only plugin: models that crash, hang or sleep, on a small slice of real data."""

from __future__ import annotations

import os
import time
from importlib import metadata
from importlib.resources import files

from assay.kit import Dataset, MeanModel, Plugin, Predictions, current_budget


class CrashingModel:
    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        raise RuntimeError("this model always crashes")

    def predict(self, dataset: Dataset) -> Predictions:
        raise AssertionError("unreachable")


class HangingModel(MeanModel):
    """Sleeps far past any time limit."""

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        time.sleep(3600)


class SlowMeanModel(MeanModel):
    """The mean, after `delay` seconds: makes a grid long enough to kill halfway."""

    def __init__(self, delay: float = 0.3) -> None:
        self.delay = delay

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        time.sleep(self.delay)
        super().fit(train, valid=valid, seed=seed)


class SpinModel(MeanModel):
    """The mean, after `seconds` of this process's CPU time: a CPU-bound unit for
    measuring speed-ups, with no library's threads in the way."""

    def __init__(self, seconds: float = 0.5) -> None:
        self.seconds = seconds

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        until = time.thread_time() + self.seconds
        while time.thread_time() < until:
            pass
        super().fit(train, valid=valid, seed=seed)


class WrongShapeModel(MeanModel):
    def predict(self, dataset: Dataset) -> Predictions:
        return super().predict(dataset.subset(list(range(max(len(dataset) - 1, 0)))))


class SegfaultModel(MeanModel):
    """Kills its own process, as a segfaulting extension would."""

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        os._exit(139)


class ThreadProbe(MeanModel):
    """Reports the thread budget and the BLAS pool size it ran under."""

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

        super().fit(train, valid=valid, seed=seed)
        pools = [p["num_threads"] for p in threadpool_info()]
        self.seen = {"budget": str(current_budget()), "widest_pool": max(pools, default=0)}

    def fitted_choices(self) -> dict[str, object]:
        return self.seen


plugin = Plugin(
    name="testplugin",
    version=metadata.version("assay-testplugin"),
    description="misbehaving models for the core's tests",
    scenario_dir=files("assay_testplugin") / "scenarios",
    models={
        "crash": CrashingModel,
        "hang": HangingModel,
        "slow_mean": SlowMeanModel,
        "spin": SpinModel,
        "wrong_shape": WrongShapeModel,
        "segfault": SegfaultModel,
        "thread_probe": ThreadProbe,
    },
    sources={"testplugin.table": "assay_testplugin.table:TableFileSource"},
    check_params={"slow_mean": {"delay": 0.0}, "spin": {"seconds": 0.0}},
)
