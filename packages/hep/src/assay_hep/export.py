"""Jets for `assay data export`: the table's columns and a JetClass-layout ROOT file.

Each jet becomes one row: its `jet_*` values as columns and its particles'
`part_*` values as lists (one per particle). `jets.root` holds the same jets
in the JetClass layout this plugin reads (`hep.files`), in row order, with
one-hot `label_<class>` branches, so a ROOT or uproot user reads them as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak  # type: ignore[import-untyped]
import numpy as np
from assay.kit import Dataset, ExportColumn, ExportFile, ExportView, Ragged

from assay_hep.readers import write_jets_root

_MEANINGS = {
    "part_px": "particle momentum x (GeV)",
    "part_py": "particle momentum y (GeV)",
    "part_pz": "particle momentum z (GeV)",
    "part_energy": "particle energy (GeV)",
    "part_deta": "particle pseudorapidity minus the jet's",
    "part_dphi": "particle azimuth minus the jet's",
    "jet_pt": "jet transverse momentum (GeV)",
    "jet_eta": "jet pseudorapidity",
    "jet_phi": "jet azimuth",
    "jet_energy": "jet energy (GeV)",
    "jet_nparticles": "number of particles in the jet",
    "jet_sdmass": "soft-drop mass (GeV)",
    "jet_tau1": "N-subjettiness tau_1",
    "jet_tau2": "N-subjettiness tau_2",
    "jet_tau3": "N-subjettiness tau_3",
    "jet_tau4": "N-subjettiness tau_4",
}


def jet_view(dataset: Dataset, classes: Sequence[str]) -> ExportView:
    jets = dataset.inputs
    columns: list[ExportColumn] = []
    flat: dict[str, Any] = {}
    for name in jets.fields:
        values = jets[name]
        meaning = _MEANINGS.get(name, name)
        if name.startswith("part_"):
            counts = ak.to_numpy(ak.num(values)).astype(np.int64)
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            particles = ak.to_numpy(ak.flatten(values))
            columns.append(
                ExportColumn(name, Ragged(offsets, particles), f"{meaning}, per particle")
            )
            flat[name] = particles
            flat["counts"] = counts
        else:
            array = ak.to_numpy(values)
            columns.append(ExportColumn(name, array, meaning))
            flat[name] = array
    targets = np.asarray(dataset.targets, dtype=np.int64)
    for k, label in enumerate(classes):
        flat[f"label_{label}"] = (targets == k).astype(np.int32)

    def write(path: Path) -> None:
        write_jets_root(path, flat)

    names = ", ".join(f"{k} = {label}" for k, label in enumerate(classes))
    return ExportView(
        inputs=tuple(columns),
        files=(
            ExportFile(
                "jets.root",
                "application/x-root",
                "the same jets in the JetClass ROOT layout (tree 'tree', row order; one-hot "
                "label_<class> branches), as the hep.files source reads them",
                write,
            ),
        ),
        target_description=f"the jet's class index ({names})",
    )
