"""The main job's wall time, cold and warm (`nox -s bench`; skipped under CI).

Cold: `nox -s quick` with a fresh nox folder and an empty uv cache (so the whole
install counts, as on a new machine), a fresh ASSAY_HOME (so every dataset is
built) and a fresh MLflow store. Warm: the
same command again, where the install, the data and every unit are reused.
Targets from the user-paths issue: cold <= 10 min on 2 cores, warm <= 1 min.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _quick(workdir: Path) -> float:
    env = {
        **os.environ,
        "ASSAY_HOME": str(workdir / "home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "UV_CACHE_DIR": str(workdir / "uv-cache"),
    }
    env.pop("VIRTUAL_ENV", None)
    command = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "quick"]
    command += ["--envdir", str(workdir / "nox")]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:])
        raise SystemExit(f"nox -s quick failed with exit code {done.returncode}")
    return wall


def main() -> None:
    if os.environ.get("CI"):
        print("== quick suite bench: skipped under CI (it reinstalls and reruns the main job) ==")
        return
    with tempfile.TemporaryDirectory() as tmp:
        cold = _quick(Path(tmp))
        warm = _quick(Path(tmp))
    print("== quick suite bench (nox -s quick) ==")
    print(
        f"  cold (install + data + every unit): {cold / 60:.1f} min (target <= 10) "
        f"-> {'PASS' if cold <= 600 else 'FAIL'}"
    )
    print(
        f"  warm (everything reused): {warm:.0f} s (target <= 60) -> {'PASS' if warm <= 60 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
