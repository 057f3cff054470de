"""Materials for `assay data export`: formulas as text, structures as extxyz.

A row of formulas exports its formula. A row of structures exports its
formula, its number of sites and `frame`, the index of its frame in
`structures.extxyz` (ASE's extended XYZ, one frame per row in row order,
with the row in each frame's info), which ASE, OVITO and most atomistic
tools read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from assay.kit import Dataset, ExportColumn, ExportFile, ExportView


def materials_view(dataset: Dataset, target_meaning: str) -> ExportView:
    inputs = list(dataset.inputs)
    if all(isinstance(value, str) for value in inputs):
        return ExportView(
            inputs=(
                ExportColumn(
                    "composition",
                    np.asarray(inputs, dtype=object),
                    "the compound's chemical formula",
                ),
            ),
            target_description=target_meaning,
        )

    def write(path: Path) -> None:
        from ase.io import write as write_frames
        from pymatgen.io.ase import AseAtomsAdaptor

        frames = []
        for row, structure in enumerate(inputs):
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.info = {"row": row}
            frames.append(atoms)
        write_frames(path, frames, format="extxyz")

    return ExportView(
        inputs=(
            ExportColumn(
                "formula",
                np.asarray([s.composition.formula for s in inputs], dtype=object),
                "the structure's chemical formula (every site counted)",
            ),
            ExportColumn(
                "n_sites", np.asarray([len(s) for s in inputs], dtype=np.int64), "atoms in the cell"
            ),
            ExportColumn(
                "frame",
                np.arange(len(inputs), dtype=np.int64),
                "the structure's frame in structures.extxyz (0-based; its lattice, species "
                "and Cartesian positions in Angstrom)",
            ),
        ),
        files=(
            ExportFile(
                "structures.extxyz",
                "chemical/x-extxyz",
                "every structure, one extended-XYZ frame per row in row order (ASE)",
                write,
            ),
        ),
        target_description=target_meaning,
    )
