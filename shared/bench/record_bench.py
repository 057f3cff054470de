"""Run one bench script and keep what it printed in a committed file (`nox -s bench`).

The figures of a bench are only worth citing with where and when they were
measured: the file `<script folder>/results/<script>.txt` (`-ci.txt` under
`CI=true`, whose samples are smaller) starts with the date, the commit, the
machine and its cores, and every line the script printed carries the load
average of the moment beside it, since a loaded machine shifts absolute figures
(ratios measured side by side much less). The file is replaced whole at the end,
so a bench cut off leaves the previous one in place.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return head + (" (with uncommitted changes)" if git("status", "--porcelain", "-uno") else "")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(script: Path) -> int:
    ci = bool(os.environ.get("CI"))
    out = script.parent / "results" / f"{script.stem}{'-ci' if ci else ''}.txt"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# {script.relative_to(ROOT)}, run by `nox -s bench`{' with CI=true' if ci else ''}",
        f"# date: {now}; commit: {_commit()}",
        f"# machine: {_cpu()}, {_cores()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}",
        f"# load average (1, 5, 15 min) at the start: {_load()}",
    ]
    start = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            text = line.rstrip("\n")
            print(text, flush=True)
            lines.append(f"{text}  [load {os.getloadavg()[0]:.2f}]" if text.strip() else text)
    lines.append(
        f"# load average at the end: {_load()}; wall {time.perf_counter() - start:.0f} s; "
        f"exit status {process.returncode}"
    )
    if process.returncode == 0:
        out.parent.mkdir(exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(out)
        print(f"kept in {out.relative_to(ROOT)}")
    return process.returncode


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]).resolve()))
