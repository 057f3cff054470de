"""Jet substructure: mass, soft-drop mass and N-subjettiness tau1..tau4.

The FastJet Python wheel ships no fjcontrib (no Nsubjettiness, no
RecursiveTools), so both are computed here on top of FastJet's own
clustering, with the standard definitions:

- soft drop (Larkoski, Marzani, Soyez, Thaler 2014): recluster the
  constituents with Cambridge/Aachen, undo the clustering from the top and
  drop the softer branch until min(pT1, pT2) / (pT1 + pT2) > z_cut
  (dR12 / R0)^beta; z_cut = 0.1, beta = 0 (the modified mass-drop tagger
  setting used by CMS and in the top-tagging comparison), R0 = 0.8.
- N-subjettiness (Thaler, Van Tilburg 2011), unnormalised-distance form:
  tau_N = sum_i pT_i min_k dR(i, axis_k) / (sum_i pT_i R0), beta = 1,
  R0 = 0.8, axes = the N exclusive-kT subjets of the constituents (no
  one-pass minimisation). Jets with fewer than N constituents get tau_N = 0.
"""

from __future__ import annotations

from typing import Any

import fastjet  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

R0 = 0.8
SOFT_DROP_ZCUT = 0.1
SOFT_DROP_BETA = 0.0
N_TAUS = 4
_RECLUSTER_R = 10.0
"""Large enough that every constituent ends up in one C/A or kT jet."""

FloatArray = npt.NDArray[np.float64]
_cluster_sequence = fastjet._swig.ClusterSequence
_CA = fastjet.JetDefinition(fastjet.cambridge_algorithm, _RECLUSTER_R)
_KT = fastjet.JetDefinition(fastjet.kt_algorithm, _RECLUSTER_R)
_banner = {"silenced": False}


def silence_banner() -> None:
    """Keep FastJet's banner off the terminal: 13 lines that FastJet prints on C++ stdout
    at each process's first clustering (twice during `assay data`, once per worker).

    On stdout it would break `assay run --json` output; on stderr it still repeats
    in every process. Its request to cite FastJet (Cacciari, Salam, Soyez, Eur. Phys.
    J. C 72, 1896, 2012) is in the plugin's README. Called before clustering, not at
    import: the stream is FastJet's process-wide setting.
    """
    if _banner["silenced"]:
        return
    _banner["silenced"] = True
    _cluster_sequence.set_fastjet_banner_stream(None)  # a null stream: FastJet prints nothing


new_pseudojet = fastjet._swig._fastjet_swig.new_PseudoJet
"""A bare SWIG PseudoJet (fastjet pinned at 3.5.2.0): the same C++ object as
`fastjet.PseudoJet(px, py, pz, E)`, without the proxy class that costs 2 us each."""
# The PseudoJet methods used here, called on bare SWIG objects the same way.
_eta = fastjet._swig._fastjet_swig.PseudoJet_eta
_pt = fastjet._swig._fastjet_swig.PseudoJet_pt
_mass = fastjet._swig._fastjet_swig.PseudoJet_m
_delta_r = fastjet._swig._fastjet_swig.PseudoJet_delta_R
_has_parents = fastjet._swig._fastjet_swig.PseudoJet_has_parents
_phi_std = fastjet._swig._fastjet_swig.PseudoJet_phi_std


def _pseudojets(p4: FloatArray) -> list[Any]:
    return list(map(new_pseudojet, *p4.T.tolist()))


def _soft_drop(jet: Any) -> float:
    # Bare SWIG calls on bare PseudoJets: the same C++ methods without the proxy class.
    current = jet
    while True:
        hard, soft = new_pseudojet(), new_pseudojet()
        if not _has_parents(current, hard, soft):
            return float(_mass(current))
        pt1, pt2 = _pt(hard), _pt(soft)
        if pt2 > pt1:
            hard, soft, pt1, pt2 = soft, hard, pt2, pt1
        z = pt2 / (pt1 + pt2)
        threshold = SOFT_DROP_ZCUT * (_delta_r(hard, soft) / R0) ** SOFT_DROP_BETA
        if z > threshold:
            return float(_mass(current))
        current = hard


_AXIS_SETS = np.array([0, 1, 3, 6])
"""Where the N exclusive-kT axes of N = 1..4 start in a jet's ten axes (1 + 2 + 3 + 4)."""
_N_AXES = 10


def _taus(p4_per_jet: list[FloatArray], axes: FloatArray) -> FloatArray:
    """tau_1..tau_N of every jet given its ten axes' (eta, phi), `axes` shaped (jets, 10, 2).

    The distances of all constituents to their jet's axes are one numpy pass over the
    jets; the sums stay one per jet, over its own constituents (numpy's pairwise sum of
    the same values in the same order), so each tau is the same double as a jet alone
    gives.
    """
    counts = np.array([len(p4) for p4 in p4_per_jet], dtype=np.int64)
    out = np.zeros((len(p4_per_jet), N_TAUS))
    if counts.sum() == 0:
        return out
    flat = np.concatenate(p4_per_jet)
    pt = np.hypot(flat[:, 0], flat[:, 1])
    eta = np.arcsinh(flat[:, 2] / np.maximum(pt, 1e-12))
    phi = np.arctan2(flat[:, 1], flat[:, 0])
    jet_axes = np.repeat(axes, counts, axis=0)  # each constituent's jet's axes
    deta = eta[:, None] - jet_axes[:, :, 0]
    dphi = np.mod(phi[:, None] - jet_axes[:, :, 1] + np.pi, 2 * np.pi) - np.pi
    nearest = np.minimum.reduceat(np.sqrt(deta**2 + dphi**2), _AXIS_SETS, axis=1)
    weighted = np.ascontiguousarray(nearest.T) * pt  # (N, constituents): rows are contiguous
    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    for i, n in enumerate(counts.tolist()):
        a, b = bounds[i], bounds[i + 1]
        norm = pt[a:b].sum() * R0
        for k in range(min(n, N_TAUS)):  # fewer constituents than N: tau_N stays 0
            out[i, k] = float(weighted[k, a:b].sum() / norm)
    return out


def _jet_shape(p4: FloatArray) -> tuple[float, float, list[list[float]]]:
    """(mass, soft-drop mass, the (eta, phi) of its N = 1..4 exclusive-kT axes, ten in all,
    zeros for the N it has too few constituents for) of one jet from its (px, py, pz, E)."""
    total = p4.sum(axis=0)
    mass = float(np.sqrt(max(total[3] ** 2 - total[0] ** 2 - total[1] ** 2 - total[2] ** 2, 0.0)))
    axes = [[0.0, 0.0]] * _N_AXES
    if len(p4) == 0:
        return 0.0, 0.0, axes
    silence_banner()
    particles = _pseudojets(p4)
    ca = _cluster_sequence(particles, _CA)
    sd_mass = _soft_drop(ca.exclusive_jets(1)[0])
    kt = _cluster_sequence(particles, _KT)
    found: list[list[float]] = []
    for n in range(1, min(len(p4), N_TAUS) + 1):
        found += [[_eta(jet), _phi_std(jet)] for jet in kt.exclusive_jets(n)]
    return mass, sd_mass, found + axes[len(found) :]


def jet_substructure(p4: FloatArray) -> tuple[float, float, FloatArray]:
    """(mass, soft-drop mass, tau1..tau4) of one jet from its constituents' (px, py, pz, E)."""
    table = substructure_table([p4])
    taus = np.array([table[f"jet_tau{k + 1}"][0] for k in range(N_TAUS)])
    return float(table["jet_mass"][0]), float(table["jet_sdmass"][0]), taus


def substructure_table(p4_per_jet: list[FloatArray]) -> dict[str, FloatArray]:
    """Column arrays `jet_mass`, `jet_sdmass`, `jet_tau1..4` for many jets."""
    n = len(p4_per_jet)
    mass, sd_mass = np.zeros(n), np.zeros(n)
    axes: list[list[list[float]]] = []
    for i, p4 in enumerate(p4_per_jet):
        mass[i], sd_mass[i], jet_axes = _jet_shape(p4)
        axes.append(jet_axes)
    taus = _taus(p4_per_jet, np.array(axes, dtype=np.float64).reshape(n, _N_AXES, 2))
    table = {"jet_mass": mass, "jet_sdmass": sd_mass}
    for k in range(N_TAUS):
        table[f"jet_tau{k + 1}"] = taus[:, k]
    return table
