"""Our deep baselines against their published counterparts on a real Matbench task file.

Runs one model through `materials/matbench-file` on Matbench's five folds (the
units the product runs, without MLflow) and prints per-fold MAE and fit time,
mean +- standard deviation over folds, the max/min spread, the published MAE of
the model's counterpart on that task (Matbench v0.1) and the ratio ours /
published. Nothing is downloaded: you give the file.

    python packages/materials/bench/matbench_baselines.py matbench_steels.json.bz2 \
        --model materials.composition_attention --out bench/results/steels.txt

The task is named by the file (`matbench_steels.json.bz2` -> steels). Takes
minutes to hours on a CPU; run it niced on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Published:
    model: str
    mae: float
    folds: tuple[float, ...]
    unit: str
    source: str


_LEADERBOARD = (
    "Matbench v0.1 leaderboard (matbench.materialsproject.org); per-fold scores from "
    "benchmarks/{name}/results.json.gz in github.com/materialsproject/matbench, commit 936176d"
)

PUBLISHED: dict[tuple[str, str], Published] = {
    ("steels", "mean"): Published(
        "Dummy (Dunn et al., npj Comput. Mater. 6, 138, 2020): the training mean",
        229.7445,
        (241.4591, 219.3770, 225.7932, 241.2035, 220.8898),
        "MPa",
        _LEADERBOARD.format(name="matbench_v0.1_dummy"),
    ),
    ("steels", "materials.composition_attention"): Published(
        "CrabNet (Wang et al., npj Comput. Mater. 7, 77, 2021)",
        107.3160,
        (116.22, 88.09, 108.12, 137.49, 86.65),
        "MPa",
        _LEADERBOARD.format(name="matbench_v0.1_CrabNet"),
    ),
    ("jdft2d", "materials.composition_attention"): Published(
        "CrabNet (Wang et al., npj Comput. Mater. 7, 77, 2021)",
        45.6104,
        (36.08, 45.88, 67.11, 31.68, 47.31),
        "meV/atom",
        _LEADERBOARD.format(name="matbench_v0.1_CrabNet"),
    ),
    ("jdft2d", "materials.crystal_graph"): Published(
        "CGCNN v2019 (Xie & Grossman, PRL 120, 145301, 2018)",
        49.2440,
        (34.49, 51.12, 69.42, 42.75, 48.44),
        "meV/atom",
        _LEADERBOARD.format(name="matbench_v0.1_cgcnnv2019"),
    ),
    ("phonons", "materials.crystal_graph"): Published(
        "CGCNN v2019 (Xie & Grossman, PRL 120, 145301, 2018)",
        57.7635,
        (81.16, 45.09, 54.26, 56.58, 51.73),
        "cm^-1",
        _LEADERBOARD.format(name="matbench_v0.1_cgcnnv2019"),
    ),
}


def task_name(path: Path) -> str:
    """`matbench_steels.json.bz2` -> `steels`."""
    return path.name.split(".")[0].removeprefix("matbench_")


def parse_params(pairs: list[str]) -> dict[str, object]:
    import json

    params: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="a Matbench task file (JSON, .gz, .bz2, .xz)")
    parser.add_argument("--model", default="materials.composition_attention")
    parser.add_argument("-p", "--param", action="append", default=[], help="key=value")
    parser.add_argument("--folds", default="0,1,2,3,4", help="comma-separated, from 0")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fold")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args(argv)

    from assay.engine.runner import GridEntry, plan_grid
    from assay.engine.units import execute_unit
    from assay.plugin import process_catalog
    from assay.spec import ModelEntry

    catalog = process_catalog()
    params = parse_params(args.param)
    entry = GridEntry(
        "materials/matbench-file",
        [ModelEntry(name=args.model, params=params)],
        source_params={"path": str(args.file.resolve())},
    )
    tasks = plan_grid(catalog, [entry], "standard")
    folds = [int(f) for f in args.folds.split(",")]
    name = task_name(args.file)
    lines = [
        f"task: {args.file.name} ({name}), {len(tasks)} folds planned, running {folds}",
        f"model: {args.model} params {params or 'defaults'}",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads} torch thread(s) per fold, load average at start {load()}",
    ]
    print("\n".join(lines), flush=True)
    maes: list[float] = []
    seconds: list[float] = []
    for fold in folds:
        result = execute_unit(tasks[fold], catalog, threads=args.threads)
        if not result.ok:
            print(f"fold {fold}: failed: {result.error}", file=sys.stderr)
            return 1
        maes.append(result.metrics["mae"])
        seconds.append(result.fit_seconds)
        line = (
            f"fold {fold}: MAE {maes[-1]:.2f}  fit {seconds[-1]:.0f} s  "
            f"({time.strftime('%H:%M:%S')}, load {load()})"
        )
        lines.append(line)
        print(line, flush=True)
    mean = statistics.fmean(maes)
    std = statistics.stdev(maes) if len(maes) > 1 else 0.0
    lines.append(
        f"ours: MAE {mean:.2f} +- {std:.2f} over {len(maes)} folds, spread max/min "
        f"{max(maes) / min(maes):.2f} ({min(maes):.2f} to {max(maes):.2f}); "
        f"fit {statistics.fmean(seconds):.0f} s per fold on average"
    )
    published = PUBLISHED.get((name, args.model))
    if published is None:
        lines.append(f"published: no reference recorded here for {name} and {args.model}")
    else:
        chosen = [published.folds[f] for f in folds]
        same_folds = statistics.fmean(chosen)
        lines += [
            f"published: {published.model}: MAE {published.mae:.2f} {published.unit} "
            f"(folds {', '.join(f'{v:.2f}' for v in published.folds)}; spread max/min "
            f"{max(published.folds) / min(published.folds):.2f}); {published.source}",
            f"ratio ours / published: {mean / same_folds:.4f} on folds {folds} "
            f"(published mean over those folds {same_folds:.2f})",
        ]
    lines.append(f"load average at end {load()}")
    for line in lines[len(folds) + 3 :]:
        print(line)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
