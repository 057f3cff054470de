"""Compositions from any input, and composition features computed from pymatgen's element data.

matminer cannot be a dependency (its releases need pandas<3), so the
Magpie-style statistics (Ward et al., npj Comput. Mater. 2, 16028, 2016) are
computed here: for each elemental property, the fraction-weighted mean, the
mean absolute deviation from it, the minimum, maximum and range over the
elements present, and the value of the most abundant element; plus
stoichiometric norms. Missing elemental values are filled with the median
over Z = 1..103 (a fixed table, not fitted on any data).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from assay.kit import DataError, Dataset

if TYPE_CHECKING:
    from pymatgen.core.composition import Composition

MAX_Z = 103
ELEMENT_PROPERTIES = (
    "Z",
    "atomic_mass",
    "row",
    "group",
    "mendeleev_no",
    "X",
    "atomic_radius",
    "melting_point",
    "molar_volume",
    "electron_affinity",
    "ionization_energy",
    "valence_s",
    "valence_p",
    "valence_d",
    "valence_f",
)
STATISTICS = ("mean", "mad", "min", "max", "range", "mode")
STOICHIOMETRY = ("n_elements", "p2_norm", "p3_norm", "p5_norm", "p7_norm", "p10_norm")


def parse_composition(value: Any, *, where: str = "") -> Composition:
    """A pymatgen Composition from a formula string, a Composition or a Structure/Atoms."""
    from pymatgen.core.composition import Composition
    from pymatgen.core.periodic_table import Element
    from pymatgen.core.structure import Structure

    prefix = f"{where}: " if where else ""
    if isinstance(value, Composition):
        comp = value
    elif isinstance(value, Structure):
        # From the species alone: a structure's own properties cache on it, and a model
        # must not change the inputs it was given.
        symbols = [str(site.specie) for site in value.sites]
        comp = Composition({s: symbols.count(s) for s in sorted(set(symbols))})
    elif isinstance(value, str):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                comp = Composition(value)
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{prefix}'{value}' is not a chemical formula ({exc})") from None
    else:
        raise DataError(f"{prefix}expected a formula or a structure, got {type(value).__name__}")
    if not comp.valid:
        unknown = ", ".join(str(e) for e in comp.elements if not isinstance(e, Element))
        raise DataError(f"{prefix}'{value}' holds unknown elements ({unknown})")
    if comp.num_atoms <= 0:
        raise DataError(f"{prefix}'{value}' has no atoms")
    for element in comp.elements:
        if element.Z > MAX_Z:
            raise DataError(f"{prefix}'{value}' holds {element}, beyond Z = {MAX_Z}")
    return comp


def _valence_counts(element: Any) -> tuple[float, float, float, float]:
    """Valence electrons by orbital as Magpie counts them (NsValence, ..., NfValence):
    s and p of the outermost shell, d one shell below, f two below."""
    shells = element.full_electronic_structure
    max_n = max(n for n, _, _ in shells)
    below = {"s": 0, "p": 0, "d": 1, "f": 2}
    counts = {"s": 0.0, "p": 0.0, "d": 0.0, "f": 0.0}
    for n, orbital, electrons in shells:
        if n == max_n - below[orbital]:
            counts[orbital] += float(electrons)
    return counts["s"], counts["p"], counts["d"], counts["f"]


def _raw_property(element: Any, name: str) -> float:
    if name.startswith("valence_"):
        return _valence_counts(element)["spdf".index(name[-1])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = getattr(element, name)
        except (ValueError, TypeError, KeyError, AttributeError):
            return math.nan
    if value is None:
        return math.nan
    if isinstance(value, tuple):  # electron_affinity can be a tuple in some versions
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@functools.cache
def element_table() -> npt.NDArray[np.float64]:
    """Property table, rows Z = 1..103, columns ELEMENT_PROPERTIES; gaps filled with medians."""
    from pymatgen.core.periodic_table import Element

    table = np.array(
        [
            [_raw_property(Element.from_Z(z), name) for name in ELEMENT_PROPERTIES]
            for z in range(1, MAX_Z + 1)
        ]
    )
    medians = np.nanmedian(table, axis=0)
    gaps = np.isnan(table)
    table[gaps] = np.take(medians, np.nonzero(gaps)[1])
    return table


def feature_names() -> list[str]:
    return [f"{s}_{p}" for p in ELEMENT_PROPERTIES for s in STATISTICS] + list(STOICHIOMETRY)


def _fractions(comp: Composition) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    amounts = comp.get_el_amt_dict()
    from pymatgen.core.periodic_table import Element

    z = np.array([Element(symbol).Z for symbol in amounts], dtype=np.int64)
    x = np.array(list(amounts.values()), dtype=np.float64)
    order = np.argsort(z)
    return z[order], x[order] / x.sum()


def composition_statistics(comp: Composition) -> npt.NDArray[np.float64]:
    """One row of Magpie-style features (len(feature_names()))."""
    z, x = _fractions(comp)
    values = element_table()[z - 1]  # (elements, properties)
    mean = x @ values
    mad = x @ np.abs(values - mean)
    low, high = values.min(axis=0), values.max(axis=0)
    mode = values[int(np.argmax(x))]  # ties go to the lighter element: deterministic
    stats = np.stack([mean, mad, low, high, high - low, mode], axis=1).reshape(-1)
    norms = [float(np.sum(x**p) ** (1.0 / p)) for p in (2, 3, 5, 7, 10)]
    return np.concatenate([stats, [float(len(z))], norms])


def fraction_vector(comp: Composition) -> npt.NDArray[np.float64]:
    """The atomic fractions as a vector over Z = 1..103 (the linear model's input)."""
    z, x = _fractions(comp)
    out = np.zeros(MAX_Z)
    out[z - 1] = x
    return out


def compositions_of(dataset: Dataset) -> list[Composition]:
    return [parse_composition(v, where=f"row {i}") for i, v in enumerate(dataset.inputs)]


def statistics_features(dataset: Dataset) -> npt.NDArray[np.float64]:
    rows = [composition_statistics(c) for c in compositions_of(dataset)]
    return np.array(rows).reshape(len(dataset), len(feature_names()))


def fraction_features(dataset: Dataset) -> npt.NDArray[np.float64]:
    rows = [fraction_vector(c) for c in compositions_of(dataset)]
    return np.array(rows).reshape(len(dataset), MAX_Z)


def chemical_system(comp: Composition) -> str:
    """The element set, as pymatgen writes it ("Cu-O"): the group of a leave-system-out split."""
    return "-".join(sorted(str(e) for e in comp.elements))
