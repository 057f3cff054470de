"""`assay plugin new NAME`: a working skeleton plugin that uses the author's kit.

The skeleton is a real, small scenario: the period of a pendulum released at
a large amplitude, generated exactly (the complete elliptic integral) with
measurement noise, against the small-angle formula as the physics baseline.
It has a source with a parameter model, lazy entries, a torch model on the
core's `TorchModel` base, a scenario file, a physics test, and a README; the
conformance kit checks it through Assay's pytest plugin, with no test file of
its own. As written, `nox -s "tests(package='NAME')"` passes.
"""

from __future__ import annotations

import keyword
import re
import tempfile
from pathlib import Path

from assay.errors import AssayError

_NAME = re.compile(r"[a-z][a-z0-9_]{1,30}")

_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "assay-{name}"
version = "0.1.0"
description = "Assay {name} plugin: pendulum periods, a skeleton to grow into your domain"
readme = "README.md"
requires-python = ">=3.11"
license = "MIT"
dependencies = ["assay[torch]"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points."assay.plugins"]
{name} = "assay_{name}.plugin:plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/assay_{name}"]
"""

_INIT = '''\
"""Assay {name} plugin."""

from importlib.metadata import version

__version__ = version("assay-{name}")
"""From the distribution's metadata: part of every run key, so it has one source."""
'''

_PLUGIN = '''\
"""The {name} plugin object, found by the core through the `assay.plugins` entry point."""

from __future__ import annotations

from importlib.resources import files

from assay.kit import Plugin

from assay_{name} import __version__

plugin = Plugin(
    name="{name}",
    version=__version__,
    description="Pendulum periods at large amplitude (a skeleton plugin)",
    scenario_dir=files("assay_{name}") / "scenarios",
    # "module:attr" entries are imported only when used, so heavy imports (torch here)
    # stay out of `assay list` and of runs that don't need them.
    sources={{"{name}.pendulum": "assay_{name}.sources:PendulumSource"}},
    models={{
        "{name}.small_angle": "assay_{name}.models:SmallAngle",
        "{name}.mlp": "assay_{name}.deep:pendulum_mlp",
    }},
    check_params={{"{name}.mlp": {{"max_epochs": 3}}}},
    key_libraries=("scipy",),
)
'''

_SOURCES = '''\
"""Pendulum periods generated from first principles.

T = 4 sqrt(L/g) K(sin(theta0/2)), with K the complete elliptic integral of the
first kind, is exact for a rigid pendulum released at amplitude theta0; the
measured period carries Gaussian timing noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy
from assay.kit import (
    Dataset,
    DatasetMetadata,
    Source,
    SourceParams,
    read_array,
    write_array,
)
from pydantic import Field
from scipy.special import ellipk

GRAVITY = 9.80665
"""Standard gravity, m/s^2."""


def exact_period(
    length: npt.NDArray[np.float64], amplitude: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The period in s of a pendulum of `length` m released at `amplitude` rad."""
    k = np.asarray(ellipk(np.sin(amplitude / 2) ** 2), dtype=np.float64)
    return 4 * np.sqrt(length / GRAVITY) * k


class PendulumParams(SourceParams):
    n: int = Field(default=400, ge=20)
    """Pendulums measured."""
    max_amplitude: float = Field(default=2.5, gt=0, lt=np.pi)
    """Largest release angle, rad."""
    noise: float = Field(default=0.01, ge=0)
    """Timing noise, s."""
    seed: int = 0


class PendulumSource(Source[PendulumParams]):
    """Inputs (length m, amplitude rad); target: the measured period in s."""

    name = "{name}.pendulum"
    version = "1"
    params_model = PendulumParams

    def generator_versions(self) -> dict[str, str]:
        return {{"scipy": scipy.__version__}}

    def prepare(self, p: PendulumParams, out_dir: Path) -> None:
        rng = np.random.default_rng(p.seed)
        length = rng.uniform(0.1, 2.0, p.n)
        amplitude = rng.uniform(0.05, p.max_amplitude, p.n)
        period = exact_period(length, amplitude) + rng.normal(0, p.noise, p.n)
        write_array(out_dir / "x.npy", np.column_stack([length, amplitude]))
        write_array(out_dir / "y.npy", period)

    def load(self, params: PendulumParams, files_dir: Path) -> Dataset:
        return Dataset(
            inputs=read_array(files_dir / "x.npy"),
            targets=read_array(files_dir / "y.npy"),
            metadata=DatasetMetadata(
                name="pendulum",
                version=self.version,
                provenance="generated: exact rigid-pendulum periods plus Gaussian timing noise",
                licence="CC0-1.0 (generated)",
            ),
            task="regression",
        )
'''

_MODELS = '''\
"""Models that need no torch: the small-angle formula, the physics baseline."""

from __future__ import annotations

import numpy as np
from assay.kit import Dataset, Predictions

from assay_{name}.sources import GRAVITY


class SmallAngle:
    """T = 2 pi sqrt(L/g): exact as the amplitude goes to zero, too short beyond."""

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del train, valid, seed  # nothing to learn

    def predict(self, dataset: Dataset) -> Predictions:
        length = np.asarray(dataset.inputs, dtype=float)[:, 0]
        return Predictions(values=2 * np.pi * np.sqrt(length / GRAVITY))
'''

_DEEP = '''\
"""Torch models: an MLP on the core's torch base (torch is imported only when it runs)."""

from __future__ import annotations

from typing import Any

from assay.kit import MLPModel, TrainConfig, torch_factory


def _mlp(config: TrainConfig, hidden: Any = (64, 64)) -> MLPModel:
    """An MLP on (length, amplitude)."""
    return MLPModel(hidden=tuple(hidden), config=config)


pendulum_mlp = torch_factory(_mlp, TrainConfig(max_epochs=200, lr=3e-3, patience=20, batch_size=32))
"""Every training knob (max_epochs, lr, batch_size, threads, lr_schedule, precision,
device) is a parameter: `-p {name}.mlp:max_epochs=50`."""
'''

_SCENARIO = '''\
schema_version = 1
id = "{name}/pendulum"
version = "1"
title = "Pendulum period at large amplitude"
description = """
The period of a rigid pendulum from its length and release angle. The
small-angle formula is exact only near zero amplitude; a learned model should
find the elliptic-integral correction.
"""
task = "regression"
models = ["mean", "{name}.small_angle", "ridge", "random_forest", "{name}.mlp"]

[source]
name = "{name}.pendulum"
params = {{ n = 400 }}
sizes.quick = {{ n = 200 }}

[protocol]
split = "kfold"
folds = 5
repeats = 1
seeds = [0]

[[metrics]]
name = "rmse"
direction = "minimize"

[[metrics]]
name = "mae"
direction = "minimize"

[controls]
negative = "mean"
baselines = ["{name}.small_angle"]

[budget]
time_limit_s = 300
'''

_TEST_PHYSICS = '''\
"""Physics checks of the generated data."""

import numpy as np
import pytest
from assay.kit import DataError
from assay_{name}.sources import GRAVITY, PendulumSource, exact_period


def test_small_amplitude_period_is_the_textbook_one() -> None:
    period = exact_period(np.array([1.0]), np.array([1e-4]))
    assert period[0] == pytest.approx(2 * np.pi * np.sqrt(1.0 / GRAVITY), rel=1e-8)


def test_large_amplitudes_lengthen_the_period() -> None:
    periods = exact_period(np.ones(3), np.array([0.5, 1.5, 2.5]))
    assert np.all(np.diff(periods) > 0)


def test_bad_parameters_are_one_line() -> None:
    with pytest.raises(DataError, match="'max_amplitude'"):
        PendulumSource().validate_params({{"max_amplitude": 4.0}})
'''

_README = """\
# assay-{name}

An Assay plugin, started from `assay plugin new {name}`. It ships one scenario,
`{name}/pendulum`: the period of a rigid pendulum from its length and release
angle, generated exactly with timing noise. Replace it with your domain's.

```bash
assay list
assay run {name}/pendulum -m {name}.small_angle -m {name}.mlp --size quick
nox -s "tests(package='{name}')"
```

What the kit (`assay.kit`, the one module a plugin imports from the core) gives you:
- `SourceParams` (a `Params`): a pydantic model of a
  source's parameters, parsed once by the core and handed to `prepare` and
  `load`, so a bad value is one line naming the key and defaults live in one
  place. Model factories declare theirs in their signature (ranges as
  `Annotated[int, Field(ge=1)]`), checked the same way.
- `"module:attr"` entries (sources, models, metrics, splits, ...), imported
  only when used, so `assay list` imports nothing of the plugin but `plugin.py`.
- `TorchModel` and `torch_factory`: one set of training
  knobs for every torch model.
- `MetricFamily`: a metric with a parameter in its name.
- The conformance kit: determinism, leakage and contract checks of every
  scenario, source and model. Assay's pytest plugin adds them to this
  package's tests (`pytest tests`; `pytest pyproject.toml` runs them alone).
"""


ROLE_FILES = {
    "plugin": "the manifest: every contribution named as `module:attr`, nothing heavy imported",
    "sources": "sources that generate their data or load data a package ships",
    "user_files": "sources of a user's files (`UserFileSource`: a corrupt copy is refused)",
    "readers": "readers (and writers) of the field's own file formats",
    "models": "models that need no torch",
    "deep": "torch models, on the kit's `TorchModel`",
    "metrics": "metrics and metric families",
    "splits": "splitters",
    "protocol": "an evaluation protocol of the plugin's own, where `supervised` does not fit",
    "export": "how a dataset's domain objects are written out by `assay data export`",
}
"""The module each role of a plugin lives in: the skeleton writes the first ones, and the
plugins in this repository keep to the same names. A plugin spanning several sub-fields
may add a module per sub-field beside them."""

_README += "\nWhere things go (`src/assay_{name}/`), as in every Assay plugin:\n" + "".join(
    f"- `{module}.py`: {role}\n" for module, role in ROLE_FILES.items()
)


def _files(name: str) -> dict[str, str]:
    package = f"src/assay_{name}"
    return {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{package}/__init__.py": _INIT,
        f"{package}/py.typed": "",
        f"{package}/plugin.py": _PLUGIN,
        f"{package}/sources.py": _SOURCES,
        f"{package}/models.py": _MODELS,
        f"{package}/deep.py": _DEEP,
        f"{package}/scenarios/pendulum.toml": _SCENARIO,
        f"tests/test_{name}_physics.py": _TEST_PHYSICS,
    }


def new_plugin(name: str, packages_dir: Path) -> Path:
    """Write the skeleton of plugin `name` under `packages_dir/name`; return that folder."""
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        raise AssayError(
            f"plugin name '{name}' must be 2-31 lower-case letters, digits or underscores, "
            "starting with a letter"
        )
    target = packages_dir / name
    if target.exists():
        raise AssayError(f"{target} already exists; choose another name or remove it")
    packages_dir.mkdir(parents=True, exist_ok=True)
    # written beside the target and renamed into place: an interrupted run leaves nothing
    with tempfile.TemporaryDirectory(dir=packages_dir, prefix=f".{name}-") as scratch:
        for relative, text in _files(name).items():
            path = Path(scratch) / "plugin" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.format(name=name), encoding="utf-8")
        (Path(scratch) / "plugin").rename(target)
    return target
