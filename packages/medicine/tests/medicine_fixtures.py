"""Writes the tiny input files the loader tests read: good ones and deliberately broken ones.

Run as a script to look at them (`python medicine_fixtures.py OUT_DIR`); the
tests call `write_fixtures(tmp_dir)` so nothing is stored in the repository.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rdkit import Chem

GOOD = [
    ("D1", "CCO", -0.77),
    ("D2", "c1ccccc1", -0.87),
    ("D3", "Cc1ccccc1", -0.89),
    ("D4", "CC(=O)Oc1ccccc1C(=O)O", -9.94),
    ("D5", "CCCCCC", 2.48),
    ("D6", "OC1CCCCC1", -5.46),
    ("D7", "c1ccc2ccccc2c1", -2.4),
    ("D8", "CN1CCC(CC1)c1ccccc1", -4.1),
    ("D9", "Clc1ccc(Cl)cc1", -1.01),
    ("D10", "CC(C)CO", -4.5),
]


def _csv(path: Path, header: str, rows: list[str]) -> None:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def write_fixtures(out: Path) -> dict[str, Path]:
    """Write every fixture into `out`; returns name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def add(name: str) -> Path:
        files[name] = out / name
        return files[name]

    _csv(add("tdc.csv"), "Drug_ID,Drug,Y", [f"{i},{s},{y}" for i, s, y in GOOD])
    _csv(
        add("moleculenet.csv"),
        "iupac,smiles,expt,calc",
        [f"mol {i},{s},{y},{y + 0.5}" for i, s, y in GOOD],
    )
    _csv(add("one_numeric.csv"), "Compound ID,smiles,logS", [f"{i},{s},{y}" for i, s, y in GOOD])
    _csv(
        add("custom_columns.csv"), "name;structure_smi;pIC50", [f"{i};{s};{y}" for i, s, y in GOOD]
    )
    bad = [f"{i},{s},{y}" for i, s, y in GOOD]
    bad[3] = "D4,C1CC(,1.0"
    _csv(add("bad_smiles.csv"), "Drug_ID,Drug,Y", bad)
    nan = [f"{i},{s},{y}" for i, s, y in GOOD]
    nan[5] = "D6,OC1CCCCC1,NaN"
    nan[6] = "D7,c1ccc2ccccc2c1,"
    _csv(add("nan_target.csv"), "Drug_ID,Drug,Y", nan)
    _csv(add("missing_column.csv"), "Drug_ID,Drug", [f"{i},{s}" for i, s, _ in GOOD])
    add("empty.csv").write_text("", encoding="utf-8")
    _csv(add("header_only.csv"), "Drug_ID,Drug,Y", [])
    dup = [f"{i},{s},{y}" for i, s, y in GOOD]
    dup += ["D11,OCC,-0.70", "D12,C1=CC=CC=C1,3.0"]  # ethanol agrees; benzene conflicts
    _csv(add("duplicates.csv"), "Drug_ID,Drug,Y", dup)
    _csv(add("salts.csv"), "Drug_ID,Drug,Y", ["S1,CC(=O)O.[Na+].[Cl-],1.0", "S2,CCN,2.0"])

    with Chem.SDWriter(str(add("molecules.sdf"))) as writer:
        for ident, smiles, y in GOOD:
            mol = Chem.MolFromSmiles(smiles)
            mol.SetProp("_Name", ident)
            mol.SetProp("pIC50", str(y))
            writer.write(mol)
    with Chem.SDWriter(str(add("missing_property.sdf"))) as writer:
        for k, (ident, smiles, y) in enumerate(GOOD[:4]):
            mol = Chem.MolFromSmiles(smiles)
            mol.SetProp("_Name", ident)
            if k != 2:
                mol.SetProp("pIC50", str(y))
            writer.write(mol)
    add("empty.sdf").write_text("", encoding="utf-8")
    return files


if __name__ == "__main__":
    for name, path in write_fixtures(
        Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures")
    ).items():
        print(f"{name}: {path}")
