"""Each model's MAE ratio to the Dummy (`mean`) from the committed boards, beside Matbench's.

Matbench reports its tasks against a Dummy; on our data the eV scale differs
(EMT, experiment), so the ratio is what compares. Reads
`leaderboards/materials/*.json` (written by `assay leaderboard build`) and
prints a Markdown table: `python packages/materials/scripts/ratios_to_dummy.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MATBENCH = "Matbench mp_e_form (DFT): RF-SCM/Magpie 0.117 / Dummy 1.006 = 0.116; best 0.017 / 1.006 = 0.017; expt_gap RF/Dummy ~0.39"


def main(folder: Path) -> None:
    print("| scenario | model | MAE (eV/atom) | ratio to Dummy |")
    print("|---|---|---|---|")
    for path in sorted(folder.glob("*.json")):
        board = json.loads(path.read_text())
        maes = {
            e["model"]: e["metrics"]["mae"]["mean"]
            for e in board["entries"]
            if "mae" in e.get("metrics", {}) and e["metrics"]["mae"].get("mean") is not None
        }
        if "mean" not in maes:
            continue
        for model, mae in sorted(maes.items(), key=lambda kv: kv[1]):
            print(f"| {board['scenario']} | {model} | {mae:.4f} | {mae / maes['mean']:.3f} |")
    print(f"\nReference: {MATBENCH}.")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("leaderboards/materials"))
