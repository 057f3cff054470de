"""Nothing in Assay reaches the network at run time: MLflow's usage telemetry is off."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import assay
from assay.engine.tracking import Tracker
import mlflow.telemetry.utils as telemetry
print(telemetry.is_telemetry_disabled())
"""


def test_mlflow_telemetry_is_off_for_assay_runs() -> None:
    # Without the variables that mark a CI job or a test run, which MLflow also honours.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CI", "PYTEST_CURRENT_TEST", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "True"
