"""Features from jets in the JetClass layout.

- per-constituent inputs (the ParticleNet/ParT set): deta, dphi to the jet
  axis, log pT, log E, log(pT / pT_jet), log(E / E_jet), dR; padded with
  zeros to a fixed length with a mask, constituents in pT order;
- jet substructure for the boosted trees and the cut baseline: mass,
  soft-drop mass, tau1..tau4 and their ratios, constituent count, pT.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import awkward as ak  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from assay.kit import Dataset, Requirement

from assay_hep.substructure import substructure_table

FloatArray = npt.NDArray[np.float64]
PARTICLE_FEATURES = (
    "part_deta",
    "part_dphi",
    "log_pt",
    "log_energy",
    "log_pt_rel",
    "log_energy_rel",
    "part_dr",
)
SUBSTRUCTURE_FEATURES = (
    "mass",
    "sdmass",
    "tau1",
    "tau2",
    "tau3",
    "tau4",
    "tau21",
    "tau32",
    "tau43",
    "nparticles",
    "pt",
)
_EPS = 1e-8
CONSTITUENT_FIELDS = ("part_px", "part_py", "part_pz", "part_energy")
"""Each jet's constituents: per-particle four-momenta, the inputs of `particle_features`."""


def _lacking_constituents(dataset: Dataset) -> str | None:
    fields = getattr(dataset.inputs, "fields", None)
    if fields is None:
        return f"its inputs are a {type(dataset.inputs).__name__}, not jets"
    absent = [f for f in CONSTITUENT_FIELDS if f not in fields]
    return f"the jets have no {', '.join(absent)}" if absent else None


CONSTITUENTS = Requirement(
    "constituents",
    _lacking_constituents,
    hint="give jets with their constituents' four-momenta (part_px, part_py, part_pz, part_energy)",
)
"""The need of every model that reads the jets' constituents (`@requires(CONSTITUENTS)`)."""


def wrap_phi(dphi: Any) -> Any:
    return (dphi + np.pi) % (2 * np.pi) - np.pi


def jet_kinematics(
    px: FloatArray, py: FloatArray, pz: FloatArray, e: FloatArray
) -> dict[str, FloatArray]:
    """pT, eta, phi, energy and mass of four-vectors given as columns."""
    pt = np.hypot(px, py)
    return {
        "jet_pt": pt,
        "jet_eta": np.arcsinh(pz / np.maximum(pt, _EPS)),
        "jet_phi": np.arctan2(py, px),
        "jet_energy": e,
        "jet_mass": np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0)),
    }


def _substructure_of(particles: Mapping[str, ak.Array]) -> dict[str, FloatArray]:
    """`substructure_table` of jagged constituents (float64, in their stored order)."""
    fields = [particles[f"part_{f}"] for f in ("px", "py", "pz", "energy")]
    counts = ak.to_numpy(ak.num(fields[0]))
    flat = np.stack([ak.to_numpy(ak.flatten(v)).astype(np.float64) for v in fields], 1)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return substructure_table([flat[a:b] for a, b in itertools.pairwise(bounds)])


def missing_substructure(
    particles: Mapping[str, ak.Array], names: Sequence[str]
) -> dict[str, FloatArray]:
    """The columns `names` (of `jet_nparticles`, `jet_sdmass`, `jet_tau1..4`) from the
    constituents a file stores (all of them in JetClass files)."""
    columns: dict[str, FloatArray] = {}
    if "jet_nparticles" in names:
        columns["jet_nparticles"] = ak.to_numpy(ak.num(particles["part_px"])).astype(np.float32)
    if any(name != "jet_nparticles" for name in names):
        table = _substructure_of(particles)
        # float32 like the branches they stand in for
        columns.update({k: table[k].astype(np.float32) for k in names if k in table})
    return columns


def jet_columns_from_particles(particles: Mapping[str, ak.Array]) -> dict[str, Any]:
    """Jet columns (kinematics, substructure, deta/dphi) for jets that come as constituents only."""
    px, py, pz, e = (particles[f"part_{f}"] for f in ("px", "py", "pz", "energy"))
    sums = [ak.to_numpy(ak.sum(v, axis=1)).astype(np.float64) for v in (px, py, pz, e)]
    kinematics = jet_kinematics(*sums)
    counts = ak.to_numpy(ak.num(px))
    table = _substructure_of(particles)
    pt = np.hypot(px, py)
    columns: dict[str, Any] = {
        "part_deta": np.arcsinh(pz / np.maximum(pt, _EPS)) - kinematics["jet_eta"],
        "part_dphi": wrap_phi(np.arctan2(py, px) - kinematics["jet_phi"]),
    }
    columns.update({k: kinematics[k] for k in ("jet_pt", "jet_eta", "jet_phi", "jet_energy")})
    columns["jet_nparticles"] = counts.astype(np.float64)
    columns.update({k: v for k, v in table.items() if k != "jet_mass"})
    return columns


def jet_mass(jets: ak.Array) -> FloatArray:
    pt = ak.to_numpy(jets["jet_pt"]).astype(np.float64)
    p = pt * np.cosh(ak.to_numpy(jets["jet_eta"]).astype(np.float64))
    e = ak.to_numpy(jets["jet_energy"]).astype(np.float64)
    return np.asarray(np.sqrt(np.maximum(e**2 - p**2, 0.0)), dtype=np.float64)


def _column(jets: ak.Array, name: str) -> FloatArray:
    return np.asarray(ak.to_numpy(jets[name]), dtype=np.float64)


def substructure_features(jets: ak.Array) -> FloatArray:
    """(n_jets, len(SUBSTRUCTURE_FEATURES)) in that order."""
    taus = [_column(jets, f"jet_tau{k}") for k in range(1, 5)]

    def ratio(a: FloatArray, b: FloatArray) -> FloatArray:
        return np.where(b > 0, a / np.maximum(b, _EPS), 1.0)

    columns = [
        jet_mass(jets),
        _column(jets, "jet_sdmass"),
        *taus,
        ratio(taus[1], taus[0]),
        ratio(taus[2], taus[1]),
        ratio(taus[3], taus[2]),
        _column(jets, "jet_nparticles"),
        _column(jets, "jet_pt"),
    ]
    return np.stack(columns, axis=1)


def particle_features(
    jets: ak.Array, max_particles: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """(n, max_particles, 7) features and an (n, max_particles) mask, hardest first."""
    px, py, pz, e = (jets[f] for f in CONSTITUENT_FIELDS)
    pt = np.hypot(px, py)
    order = ak.argsort(pt, axis=1, ascending=False)
    px, py, pz, e, pt = px[order], py[order], pz[order], e[order], pt[order]
    jet_eta = _column(jets, "jet_eta")
    jet_phi = _column(jets, "jet_phi")
    deta = np.arcsinh(pz / np.maximum(pt, _EPS)) - jet_eta
    dphi = wrap_phi(np.arctan2(py, px) - jet_phi)
    jet_pt = _column(jets, "jet_pt")
    jet_e = _column(jets, "jet_energy")
    per_particle = [
        deta,
        dphi,
        np.log(np.maximum(pt, _EPS)),
        np.log(np.maximum(e, _EPS)),
        np.log(np.maximum(pt / jet_pt, _EPS)),
        np.log(np.maximum(e / jet_e, _EPS)),
        np.hypot(deta, dphi),
    ]
    padded = [
        ak.to_numpy(ak.fill_none(ak.pad_none(f, max_particles, clip=True), 0.0))
        for f in per_particle
    ]
    features = np.stack(padded, axis=-1).astype(np.float32)
    counts = np.minimum(ak.to_numpy(ak.num(px)), max_particles)
    mask = np.arange(max_particles)[None, :] < counts[:, None]
    return features, mask
