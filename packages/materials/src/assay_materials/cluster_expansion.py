"""A cluster expansion on the fcc lattice: the classical physics baseline for the EMT alloys.

The energy per atom of a decoration of a fixed lattice is expanded in
cluster functions of the site occupations (Sanchez, Ducastelle & Gratias,
Physica A 128, 334, 1984). In the indicator (occupation) basis the cluster
functions of a structure are counts: the fraction of each species (point
clusters), the number of neighbour pairs of each species pair in each of
the first four fcc neighbour shells per atom, and the number of
nearest-neighbour triangles of each species triple per atom. The effective
cluster interactions are fitted per training fold by ridge (or LASSO)
regression, the regularisation chosen by cross-validation inside the
training fold.

A cluster expansion lives on the ideal lattice, so a relaxed cell is first
mapped back onto it, as cluster-expansion codes do. Relaxation here is not
small: in these 4-12 atom cells of metals up to 16 % apart in size, a cell
can relax by 10 % along one axis (L1_0 NiPt to c/a 0.82) and atoms by
0.5 A, enough to move neighbours across the midpoints between fcc shells.
So: (1) the metric tensor that puts every neighbour pair at its fcc shell
distance (radii a/sqrt2, a, a sqrt(3/2), a sqrt2 with a = (4 V / N)^(1/3),
shells cut at the midpoints) is fitted by linear least squares until the
shell assignment stops changing, a first guess; (2) the nearest-neighbour
bonds, robust to relaxation, are sorted into the 12 fcc directions, which
three bonds at 60 degrees turn into integer labels whatever the strain;
(3) the sites and the cell that realise those ideal bonds are solved by
least squares. Counting then runs on exact fcc geometry. A structure whose
bonds are not the 12 of fcc, that cannot be placed on fcc sites, that is
more than `MAX_STRAIN` from its ideal cell, or whose ideal sites do not have
the fcc coordination (12, 6, 24, 12), is not an fcc decoration (bcc, a
vacancy, overlapping atoms) and is refused with one line.

icet and clease (both on PyPI) were considered: icet ships as a source
distribution that needs a C++ toolchain, and clease keeps its structures in
its own ASE database mapped onto supercell templates; neither fits a fold of
pymatgen structures as directly as the code here.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from assay.kit import DataError, Dataset, Predictions, SpecError, require_targets, requires

from assay_materials.structures import STRUCTURES, detached, require_structures

if TYPE_CHECKING:
    from pymatgen.core.structure import Structure

MAX_SHELLS = 4
SHELL_COORDINATION = (12, 6, 24, 12)
"""Neighbours of an fcc site in shells 1-4 (at a/sqrt2, a, a sqrt(3/2), a sqrt2)."""
TRIANGLES_PER_ATOM = 8
"""Nearest-neighbour triangles per fcc site: each atom has 24, each triangle three atoms."""
MAX_STRAIN = 0.2
"""Largest principal strain between a cell and its ideal fcc metric that is still 'relaxed
fcc'; the Bain path to bcc needs about 0.26."""
METRIC_ITERATIONS = 20
REGULARISERS = ("ridge", "lasso")
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-6, 3, 28))


def shell_radii(a: float) -> npt.NDArray[np.float64]:
    """fcc neighbour distances for shells 1..5: a sqrt(k / 2)."""
    return a * np.sqrt(np.arange(1, MAX_SHELLS + 2) / 2.0)


def shell_edges(a: float) -> npt.NDArray[np.float64]:
    """Band edges: below shell 1 by half the 1-2 gap, then the midpoints between shells."""
    r = shell_radii(a)
    lower = r[0] - (r[1] - r[0]) / 2.0
    return np.concatenate([[lower], (r[:-1] + r[1:]) / 2.0])


def _refuse_overlaps(
    where: str,
    centres: npt.NDArray[Any],
    neighbours: npt.NDArray[Any],
    distances: npt.NDArray[Any],
    edges: npt.NDArray[np.float64],
    a: float,
) -> None:
    """One line naming two atoms closer than the first fcc shell."""
    if len(distances) and float(distances.min()) <= edges[0]:
        k = int(np.argmin(distances))
        raise DataError(
            f"{where}: atoms {int(centres[k])} and {int(neighbours[k])} are "
            f"{float(distances.min()):.2f} A apart, inside no fcc neighbour shell "
            f"(shell 1 starts at {edges[0]:.2f} A for a = {a:.3f} A); "
            "the cluster expansion needs fcc decorations"
        )


@dataclass(frozen=True)
class ClusterCounts:
    """The cluster functions of one structure in the indicator basis, keyed by species."""

    n_atoms: int
    points: Counter[str]
    """Atoms of each species."""
    pairs: tuple[Counter[tuple[str, str]], ...]
    """Per shell: ordered neighbour pairs (i, j) by sorted species pair; twice the bonds."""
    triangles: Counter[tuple[str, str, str]]
    """Nearest-neighbour triangles by sorted species triple."""

    def coordination(self, shell: int) -> float:
        """Neighbours per atom in `shell` (1-based), all species pairs together."""
        return sum(self.pairs[shell - 1].values()) / self.n_atoms


def ideal_metric(structure: Structure) -> tuple[npt.NDArray[np.float64], float]:
    """The metric tensor (lattice @ lattice.T) of the strain-free fcc cell nearest to this one,
    and the largest principal strain between the two."""
    n = len(structure)
    a = float((4.0 * structure.volume / n) ** (1.0 / 3.0))
    edges, radii = shell_edges(a), shell_radii(a)[:MAX_SHELLS]
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)
    metric = lattice @ lattice.T
    # Generous cutoff: a stretched cell may push fourth-shell neighbours past the midpoint.
    centres, neighbours, images, _ = structure.get_neighbor_list(
        float(edges[-1]) * (1 + MAX_STRAIN)
    )
    frac = np.asarray(structure.frac_coords, dtype=np.float64)
    delta = frac[neighbours] + images - frac[centres]
    design = np.column_stack(
        [
            delta[:, 0] ** 2,
            delta[:, 1] ** 2,
            delta[:, 2] ** 2,
            2 * delta[:, 0] * delta[:, 1],
            2 * delta[:, 0] * delta[:, 2],
            2 * delta[:, 1] * delta[:, 2],
        ]
    )
    assigned = None
    for _ in range(METRIC_ITERATIONS):
        distances = np.sqrt(np.maximum(design @ _metric_vector(metric), 0.0))
        shells = np.searchsorted(edges, distances, side="left")
        inside = (shells >= 1) & (shells <= MAX_SHELLS) & (distances > edges[0])
        if assigned is not None and np.array_equal(assigned, np.where(inside, shells, 0)):
            break
        assigned = np.where(inside, shells, 0)
        if inside.sum() < 6:
            break
        solution, *_ = np.linalg.lstsq(design[inside], radii[shells[inside] - 1] ** 2, rcond=None)
        fitted = _metric_matrix(solution)
        if np.linalg.eigvalsh(fitted).min() <= 0:
            break  # not a metric: leave the cell as it is and let the counts refuse it
        metric = fitted
    return metric, principal_strain(lattice, np.linalg.cholesky(metric))


def principal_strain(lattice: Any, reference: Any) -> float:
    """Largest principal strain between two cells given in the same basis (rows)."""
    relaxed, ideal = np.asarray(lattice, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    inverse_root = _inverse_sqrt(relaxed @ relaxed.T)
    stretch = np.linalg.eigvalsh(inverse_root @ (ideal @ ideal.T) @ inverse_root)
    return float(np.max(np.abs(np.sqrt(np.maximum(stretch, 0.0)) - 1.0)))


def _metric_vector(metric: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.array(
        [metric[0, 0], metric[1, 1], metric[2, 2], metric[0, 1], metric[0, 2], metric[1, 2]]
    )


def _metric_matrix(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.array([[v[0], v[3], v[4]], [v[3], v[1], v[5]], [v[4], v[5], v[2]]])


def _inverse_sqrt(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    values, vectors = np.linalg.eigh(matrix)
    return np.asarray(vectors @ np.diag(values**-0.5) @ vectors.T)


def unstrained(given: Structure) -> Structure:
    """The structure on the fitted fcc metric (same fractional coordinates and species): a
    first guess that brings the nearest neighbours of strongly strained cells into shell 1."""
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    structure = detached(given)
    metric, _ = ideal_metric(structure)
    lattice = np.linalg.cholesky(metric)  # rows: a lattice with that metric
    return Structure(
        Lattice(lattice), [str(site.specie) for site in structure], structure.frac_coords
    )


PRIMITIVE_FCC = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]) / 2.0
"""Primitive fcc vectors in units of a; the 12 nearest-neighbour vectors are +-e_i and
+-(e_i - e_j) in this basis."""
FCC_BOND_COEFFICIENTS = {
    tuple(int(v) for v in sign * vector)
    for vector in (*np.eye(3), *(np.eye(3)[i] - np.eye(3)[j] for i in range(3) for j in range(i)))
    for sign in (1, -1)
}


def fcc_bonds(mean_bonds: npt.NDArray[np.float64], a: float, where: str) -> npt.NDArray[np.float64]:
    """The ideal fcc vectors (lattice constant a) that 12 relaxed bond directions stand for.

    Three bonds at 60 degrees to each other are taken as the primitive vectors; in that basis
    every bond is an integer vector (rounded), which fixes its ideal vector whatever strain
    the cell carries."""

    def cosine(u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]) -> float:
        return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))

    first = mean_bonds[0]
    second = min(mean_bonds[1:], key=lambda v: abs(cosine(first, v) - 0.5))
    third = min(
        mean_bonds[1:], key=lambda v: abs(cosine(first, v) - 0.5) + abs(cosine(second, v) - 0.5)
    )
    basis = np.array([first, second, third])
    if abs(np.linalg.det(basis)) < 1e-6 * a**3:
        raise DataError(f"{where}: the nearest-neighbour bonds span no fcc cell (a = {a:.3f} A)")
    coefficients = mean_bonds @ np.linalg.inv(basis)
    rounded = np.rint(coefficients)
    labels = {tuple(int(v) for v in row) for row in rounded}
    if np.abs(coefficients - rounded).max() > 0.3 or labels != FCC_BOND_COEFFICIENTS:
        raise DataError(
            f"{where}: the nearest-neighbour bonds are not the 12 fcc bonds (a = {a:.3f} A); "
            "the cluster expansion needs fcc decorations"
        )
    return np.asarray(rounded @ PRIMITIVE_FCC * a)


def on_ideal_sites(structure: Structure, *, where: str = "structure") -> Structure:
    """The atoms moved onto the ideal fcc sites they relaxed from.

    Nearest neighbours are robust to relaxation (the first shell is 40 % closer than the
    second), so the first-shell bond vectors are sorted into the 12 fcc directions, each
    replaced by its direction's mean, and the sites rebuilt by walking the bond graph from
    atom 0. A structure whose bonds do not form 12 directions, or whose walk reaches an atom
    at two different places, is not an fcc decoration."""
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    n = len(structure)
    a = float((4.0 * structure.volume / n) ** (1.0 / 3.0))
    edges = shell_edges(a)
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)
    cart = np.asarray(structure.cart_coords, dtype=np.float64)
    centres, neighbours, images, distances = structure.get_neighbor_list(float(edges[1]))
    _refuse_overlaps(where, centres, neighbours, distances, edges, a)
    bonds = cart[neighbours] + images @ lattice - cart[centres]
    directions: list[npt.NDArray[np.float64]] = []
    labels = np.empty(len(bonds), dtype=np.int64)
    for k, bond in enumerate(bonds):
        # Distinct fcc bond directions are at least a / sqrt2 apart.
        near = [d for d, ref in enumerate(directions) if np.linalg.norm(bond - ref) < 0.35 * a]
        if near:
            labels[k] = near[0]
        else:
            labels[k] = len(directions)
            directions.append(bond)
    # Every atom has one bond in each of the 12 fcc directions; a strongly relaxed atom may
    # add a stray one (a second neighbour pulled into the first band), which is dropped.
    counts = np.bincount(labels, minlength=len(directions))
    order = np.argsort(-counts, kind="stable")
    kept = order[: SHELL_COORDINATION[0]]
    if (
        len(directions) < SHELL_COORDINATION[0]
        or counts[kept[-1]] < n / 2
        or (
            len(directions) > SHELL_COORDINATION[0]
            and counts[order[SHELL_COORDINATION[0]]] >= n / 2
        )
    ):
        raise DataError(
            f"{where}: the nearest-neighbour bonds do not point in the 12 directions of fcc "
            f"({len(directions)} directions, a = {a:.3f} A); the cluster expansion needs fcc "
            "decorations"
        )
    means = {int(d): bonds[labels == d].mean(axis=0) for d in kept}
    ideal_bonds = dict(zip(means, fcc_bonds(np.array(list(means.values())), a, where), strict=True))
    # Sites and cell that fit the kept bonds best: s_j - s_i + image @ cell = ideal bond, with
    # atom 0 fixed (linear least squares in 3 (n - 1) + 9 unknowns, per Cartesian axis).
    chosen = np.isin(labels, kept)
    design = np.zeros((int(chosen.sum()), n - 1 + 3))
    for row, bond in enumerate(np.flatnonzero(chosen)):
        k = int(bond)
        i, j = int(centres[k]), int(neighbours[k])
        if j:
            design[row, j - 1] += 1.0
        if i:
            design[row, i - 1] -= 1.0
        design[row, n - 1 :] = images[k]
    targets = np.array([ideal_bonds[int(labels[k])] for k in np.flatnonzero(chosen)])
    solution, *_ = np.linalg.lstsq(design, targets, rcond=None)
    residual = float(np.max(np.linalg.norm(design @ solution - targets, axis=1)))
    if residual > 0.25 * a or np.linalg.matrix_rank(design) < design.shape[1]:
        raise DataError(
            f"{where}: the atoms cannot be placed on fcc sites (a bond misses its site by "
            f"{residual:.2f} A); the cluster expansion needs fcc decorations"
        )
    sites = np.vstack([cart[:1], cart[:1] + solution[: n - 1]])
    return Structure(
        Lattice(solution[n - 1 :]),
        [str(site.specie) for site in structure],
        sites,
        coords_are_cartesian=True,
    )


def cluster_counts(given: Structure, *, where: str = "structure") -> ClusterCounts:
    """Count point, pair (shells 1-4) and nearest-neighbour triangle clusters of an fcc cell,
    after mapping it onto its ideal fcc metric and sites."""
    structure = on_ideal_sites(unstrained(given), where=where)
    strain = principal_strain(detached(given).lattice.matrix, structure.lattice.matrix)
    if strain > MAX_STRAIN:
        raise DataError(
            f"{where}: the cell is {strain:.0%} strained from its ideal fcc cell (more than "
            f"{MAX_STRAIN:.0%}); the cluster expansion needs fcc decorations"
        )
    n = len(structure)
    species = [str(site.specie) for site in structure]
    a = float((4.0 * structure.volume / n) ** (1.0 / 3.0))
    edges = shell_edges(a)
    centres, neighbours, images, distances = structure.get_neighbor_list(float(edges[-1]))
    _refuse_overlaps(where, centres, neighbours, distances, edges, a)
    shells = np.searchsorted(edges, distances, side="left")  # 1..MAX_SHELLS
    for shell, expected in enumerate(SHELL_COORDINATION, start=1):
        per_atom = np.bincount(centres[shells == shell], minlength=n)
        wrong = np.flatnonzero(per_atom != expected)
        if wrong.size:
            i = int(wrong[0])
            raise DataError(
                f"{where}: atom {i} has {int(per_atom[i])} neighbours in fcc shell {shell}, "
                f"not {expected} (a = {a:.3f} A); the cluster expansion needs fcc decorations"
            )
    pairs: list[Counter[tuple[str, str]]] = []
    for shell in range(1, MAX_SHELLS + 1):
        chosen = shells == shell
        pairs.append(
            Counter(
                _sorted2(species[int(i)], species[int(j)])
                for i, j in zip(centres[chosen], neighbours[chosen], strict=True)
            )
        )
    lattice = np.asarray(structure.lattice.matrix)
    cart = np.asarray(structure.cart_coords)
    first = shells == 1
    triangles: Counter[tuple[str, str, str]] = Counter()
    for i in range(n):
        mine = first & (centres == i)
        idx = neighbours[mine]
        positions = cart[idx] + images[mine] @ lattice
        gaps = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
        upper = np.triu((gaps > edges[0]) & (gaps <= edges[1]), k=1)
        for p, q in zip(*np.nonzero(upper), strict=True):
            # Each triangle is met once from each of its three corners.
            triangles[_sorted3(species[i], species[int(idx[p])], species[int(idx[q])])] += 1
    triangles = Counter({key: count // 3 for key, count in triangles.items()})
    if sum(triangles.values()) != TRIANGLES_PER_ATOM * n:
        raise DataError(
            f"{where}: {sum(triangles.values())} nearest-neighbour triangles, not "
            f"{TRIANGLES_PER_ATOM * n} (a = {a:.3f} A); the cluster expansion needs fcc decorations"
        )
    return ClusterCounts(n, Counter(species), tuple(pairs), triangles)


def _sorted2(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _sorted3(a: str, b: str, c: str) -> tuple[str, str, str]:
    x, y, z = sorted((a, b, c))
    return x, y, z


def feature_names(species: Sequence[str], shells: int, triplets: bool) -> list[str]:
    names = [f"x_{s}" for s in species]
    for shell in range(1, shells + 1):
        names += [f"pair{shell}_{s}-{t}" for s, t in _pair_types(species)]
    if triplets:
        names += [f"triplet1_{s}-{t}-{u}" for s, t, u in _triplet_types(species)]
    return names


def _pair_types(species: Sequence[str]) -> list[tuple[str, str]]:
    return list(itertools.combinations_with_replacement(sorted(species), 2))


def _triplet_types(species: Sequence[str]) -> list[tuple[str, str, str]]:
    return list(itertools.combinations_with_replacement(sorted(species), 3))


def feature_vector(
    counts: ClusterCounts, species: Sequence[str], shells: int, triplets: bool
) -> npt.NDArray[np.float64]:
    """Cluster functions per atom over `species`: fractions, pair counts, triangle counts."""
    n = counts.n_atoms
    row = [counts.points[s] / n for s in sorted(species)]
    for shell in range(shells):
        row += [counts.pairs[shell][pair] / n for pair in _pair_types(species)]
    if triplets:
        row += [counts.triangles[triple] / n for triple in _triplet_types(species)]
    return np.array(row, dtype=np.float64)


def dataset_counts(dataset: Dataset) -> list[ClusterCounts]:
    structures = require_structures(
        dataset.inputs,
        model="the cluster expansion",
        hint="on an fcc lattice; formulas carry no lattice: use materials.linear",
    )
    return [cluster_counts(given, where=f"row {i}") for i, given in enumerate(structures)]


class ClusterExpansion:
    """Effective cluster interactions fitted by regularised least squares on a training fold.

    `shells` pair shells (1-4), nearest-neighbour triplets if `triplets`,
    `regulariser` "ridge" (alpha by leave-one-out over the training fold) or
    "lasso" (alpha by 5-fold CV inside the training fold). Features are
    standardised over the training fold before the fit."""

    def __init__(self, shells: int = 4, triplets: bool = True, regulariser: str = "ridge") -> None:
        if isinstance(shells, bool) or not isinstance(shells, int) or not 1 <= shells <= 4:
            raise SpecError(f"materials.cluster_expansion: shells must be 1-4, got {shells!r}")
        if regulariser not in REGULARISERS:
            raise SpecError(
                f"materials.cluster_expansion: regulariser must be one of {REGULARISERS}, "
                f"got {regulariser!r}"
            )
        self.shells, self.triplets, self.regulariser = shells, bool(triplets), regulariser
        self.species_: tuple[str, ...] = ()
        self.fitted_: Any = None

    def _features(self, counts: Sequence[ClusterCounts]) -> npt.NDArray[np.float64]:
        return np.array(
            [feature_vector(c, self.species_, self.shells, self.triplets) for c in counts]
        )

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        from sklearn.linear_model import LassoCV, RidgeCV
        from sklearn.model_selection import KFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        targets = require_targets(train).astype(np.float64)
        counts = dataset_counts(train)
        self.species_ = tuple(sorted({s for c in counts for s in c.points}))
        x = self._features(counts)
        regression: Any
        if self.regulariser == "ridge":
            regression = RidgeCV(alphas=RIDGE_ALPHAS)
        else:
            folds = KFold(min(5, len(targets)), shuffle=True, random_state=seed)
            regression = LassoCV(alphas=40, cv=folds, max_iter=20000, random_state=seed)
        self.fitted_ = make_pipeline(StandardScaler(), regression).fit(x, targets)

    def predict(self, dataset: Dataset) -> Predictions:
        if self.fitted_ is None:
            raise RuntimeError("predict called before fit")
        counts = dataset_counts(dataset)
        for i, c in enumerate(counts):
            unseen = sorted(set(c.points) - set(self.species_))
            if unseen:
                raise DataError(
                    f"row {i}: species {unseen} never occur in the training structures "
                    f"({', '.join(self.species_)}); a cluster expansion has no interactions for them"
                )
        return Predictions(values=np.asarray(self.fitted_.predict(self._features(counts))))

    def fitted_choices(self) -> dict[str, float | int | str]:
        if self.fitted_ is None:
            return {}
        regression = self.fitted_[-1]
        coefficients = np.asarray(regression.coef_)
        return {
            "alpha": float(regression.alpha_),
            "n_clusters": int(coefficients.size),
            "nonzero_ecis": int(np.count_nonzero(np.abs(coefficients) > 1e-12)),
            "species": "-".join(self.species_),
        }


@requires(STRUCTURES)
def cluster_expansion(
    shells: int = 4, triplets: bool = True, regulariser: str = "ridge"
) -> ClusterExpansion:
    """Cluster expansion on the fcc lattice (points, pairs in `shells` shells, NN triplets)."""
    return ClusterExpansion(shells=shells, triplets=triplets, regulariser=regulariser)
