"""Binary fcc alloys relaxed with ASE's EMT: seeded candidates, chunked parallel relaxation.

A candidate is a decoration of an fcc supercell (4-16 atoms) by two of Cu,
Ag, Au, Ni, Pd and Pt. EMT (Jacobsen, Stoltze & Norskov, Surf. Sci. 366, 394,
1996) is an effective-medium potential fitted to these metals, not DFT; it
is cheap enough to relax thousands of cells here. Al is left out: EMT puts
Ni3Al at +257 meV/atom, qualitatively wrong.

Candidates are drawn from one seed, symmetry-equivalent duplicates removed
by their unrelaxed energy, then relaxed in chunks on local processes (one
BLAS thread each). A finished chunk is kept under
`ASSAY_HOME/materials/emt/` (written to a temporary name, then renamed), so
an interrupted generation resumes where it stopped, and the quick size is
reused by larger ones drawn from the same seed.
"""

from __future__ import annotations

import functools
import itertools
import json
import multiprocessing
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import assay_home, available_cores, progress_bar, stable_hash

ELEMENTS = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt")
EXPERIMENTAL_LATTICE = {
    "Cu": 3.615,
    "Ag": 4.086,
    "Au": 4.078,
    "Ni": 3.524,
    "Pd": 3.891,
    "Pt": 3.924,
}
"""fcc lattice constants at room temperature, Angstrom (Kittel, Introduction to Solid State
Physics, 8th ed., table 1.3); the physics test holds EMT within 3 % of them."""
FMAX = 0.01
"""eV/A on atoms and (through the cell filter) on the cell."""
MAX_STEPS = 1000
CHUNK_FORMAT = "1"
DEFAULT_CHUNK = 12
SYSTEM_SEPARATOR = "-"


@dataclass(frozen=True)
class Candidate:
    """An unrelaxed decoration: supercell matrix of the primitive fcc cell and the symbols."""

    supercell: tuple[tuple[int, int, int], ...]
    symbols: tuple[str, ...]
    lattice_a: float

    def as_dict(self) -> dict[str, Any]:
        return {"supercell": self.supercell, "symbols": self.symbols, "a": self.lattice_a}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(
            tuple(tuple(int(v) for v in row) for row in data["supercell"]),  # type: ignore[misc]
            tuple(data["symbols"]),
            float(data["a"]),
        )


def binary_systems(elements: Sequence[str] = ELEMENTS) -> list[tuple[str, str]]:
    return list(itertools.combinations(elements, 2))


def system_name(elements: Sequence[str]) -> str:
    return SYSTEM_SEPARATOR.join(sorted(elements))


@functools.cache
def supercell_shapes(
    min_atoms: int, max_atoms: int
) -> tuple[tuple[tuple[int, int, int], ...], ...]:
    """Supercells of the primitive fcc cell: diagonal ones (a<=b<=c) and the conventional cubic
    cell and its doublings, with min_atoms..max_atoms sites."""
    shapes: list[tuple[tuple[int, int, int], ...]] = []
    for a in range(1, max_atoms + 1):
        for b in range(a, max_atoms + 1):
            for c in range(b, max_atoms + 1):
                if min_atoms <= a * b * c <= max_atoms:
                    shapes.append(((a, 0, 0), (0, b, 0), (0, 0, c)))
    conventional = np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])  # 4 atoms, cubic
    for scale in ((1, 1, 1), (2, 1, 1), (2, 2, 1)):
        matrix = np.diag(scale) @ conventional
        if min_atoms <= round(abs(np.linalg.det(matrix))) <= max_atoms:
            shapes.append(tuple(tuple(int(v) for v in row) for row in matrix))  # type: ignore[misc]
    return tuple(shapes)


def vegard_lattice(symbols: Sequence[str]) -> float:
    return float(np.mean([EXPERIMENTAL_LATTICE[s] for s in symbols]))


def draw_candidate(
    rng: np.random.Generator, systems: Sequence[tuple[str, str]], min_atoms: int, max_atoms: int
) -> Candidate:
    shapes = supercell_shapes(min_atoms, max_atoms)
    shape = shapes[int(rng.integers(len(shapes)))]
    n = round(abs(np.linalg.det(np.array(shape))))
    first, second = systems[int(rng.integers(len(systems)))]
    n_first = int(rng.integers(1, n))
    symbols = [first] * n_first + [second] * (n - n_first)
    order = rng.permutation(n)
    decorated = tuple(symbols[i] for i in order)
    return Candidate(shape, decorated, round(vegard_lattice(decorated), 6))


def build_atoms(candidate: Candidate) -> Any:
    from ase.build import bulk, make_supercell

    primitive = bulk("Cu", "fcc", a=candidate.lattice_a)
    atoms = make_supercell(primitive, np.array(candidate.supercell))
    atoms.set_chemical_symbols(list(candidate.symbols))
    return atoms


def unrelaxed_energy(candidate: Candidate) -> float:
    from ase.calculators.emt import EMT

    atoms = build_atoms(candidate)
    atoms.calc = EMT()
    return float(atoms.get_potential_energy()) / len(atoms)


def draw_candidates(
    n: int,
    *,
    seed: int,
    min_atoms: int = 4,
    max_atoms: int = 16,
    elements: Sequence[str] = ELEMENTS,
) -> list[Candidate]:
    """`n` distinct candidates from one seed; candidate k depends only on (seed, draw k), so a
    larger n extends a smaller one. Symmetry-equivalent decorations have identical
    unrelaxed EMT energies; only the first of them is kept."""
    systems = binary_systems(elements)
    seen: set[tuple[str, float]] = set()
    out: list[Candidate] = []
    draw = 0
    while len(out) < n:
        if draw > 50 * n + 1000:
            raise ValueError(
                f"could not draw {n} distinct decorations of {min_atoms}-{max_atoms} atoms"
            )
        candidate = draw_candidate(
            np.random.default_rng([seed, draw]), systems, min_atoms, max_atoms
        )
        draw += 1
        formula = "".join(
            f"{s}{candidate.symbols.count(s)}" for s in sorted(set(candidate.symbols))
        )
        key = (formula, round(unrelaxed_energy(candidate), 7))
        if key not in seen:
            seen.add(key)
            out.append(candidate)
    return out


def relax(atoms: Any, *, fmax: float = FMAX, max_steps: int = MAX_STEPS) -> tuple[float, int, bool]:
    """BFGS on atoms and cell (FrechetCellFilter) with EMT, in place: (energy eV, steps, converged)."""
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms.calc = EMT()
    cell_filter: Any = FrechetCellFilter(atoms)
    optimizer = BFGS(cell_filter, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=max_steps))
    return float(atoms.get_potential_energy()), int(optimizer.nsteps), converged


@functools.cache
def elemental_reference(symbol: str) -> tuple[float, float]:
    """(energy per atom eV, lattice constant A) of the pure fcc metal relaxed the same way."""
    from ase.build import bulk

    atoms = bulk(symbol, "fcc", a=EXPERIMENTAL_LATTICE[symbol], cubic=True)
    energy, _, converged = relax(atoms)
    if not converged:
        raise RuntimeError(f"EMT relaxation of fcc {symbol} did not converge")
    return energy / len(atoms), float(np.cbrt(atoms.get_volume()))


def relax_candidate(candidate: Candidate) -> dict[str, Any]:
    atoms = build_atoms(candidate)
    energy, steps, converged = relax(atoms)
    return {
        "candidate": candidate.as_dict(),
        "energy": energy,
        "steps": steps,
        "converged": converged,
        "lattice": np.asarray(atoms.cell).tolist(),
        "frac_coords": atoms.get_scaled_positions(wrap=True).tolist(),
        "symbols": list(atoms.get_chemical_symbols()),
    }


def ase_version() -> str:
    import ase

    return str(ase.__version__)


def chunk_dir() -> Path:
    """One folder per ASE version: another EMT or BFGS may relax to other minima."""
    return assay_home() / "materials" / "emt" / f"v{CHUNK_FORMAT}" / f"ase-{ase_version()}"


def chunk_path(candidates: Sequence[Candidate]) -> Path:
    spec = {"candidates": [c.as_dict() for c in candidates], "fmax": FMAX, "steps": MAX_STEPS}
    return chunk_dir() / f"chunk-{stable_hash(spec)[:24]}.json"


def _relax_chunk(candidates: Sequence[Candidate]) -> list[dict[str, Any]]:
    """Runs in a worker: one BLAS thread, whatever the machine (the pool is the parallelism)."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1):
        records = [relax_candidate(c) for c in candidates]
    write_json_atomically(chunk_path(candidates), records)
    return records


def write_json_atomically(path: Path, records: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(records, handle)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_json_list(path: Path) -> list[Any] | None:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable leftovers are relaxed again
    return records if isinstance(records, list) else None


def default_workers() -> int:
    return max(1, int(os.environ.get("ASSAY_MATERIALS_WORKERS", available_cores())))


def relax_all(
    candidates: Sequence[Candidate], *, chunk_size: int = DEFAULT_CHUNK, workers: int | None = None
) -> list[dict[str, Any]]:
    """Relaxed records for every candidate, in order; chunks already on disk are reused."""
    chunks = [list(candidates[i : i + chunk_size]) for i in range(0, len(candidates), chunk_size)]
    found: dict[int, list[dict[str, Any]]] = {}
    for i, chunk in enumerate(chunks):
        path = chunk_path(chunk)
        cached = read_json_list(path) if path.is_file() else None
        if cached is not None and len(cached) == len(chunk):
            found[i] = cached
    missing = [i for i in range(len(chunks)) if i not in found]
    if missing:
        workers = min(workers or default_workers(), len(missing))
        n_cells = sum(len(chunks[i]) for i in missing)
        with progress_bar() as progress:
            task = progress.add_task(f"EMT: relaxing {n_cells} cells", total=n_cells)
            if workers == 1:
                for i in missing:
                    found[i] = _relax_chunk(chunks[i])
                    progress.advance(task, len(chunks[i]))
            else:
                methods = multiprocessing.get_all_start_methods()
                context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
                with ProcessPoolExecutor(workers, mp_context=context) as pool:
                    futures = {pool.submit(_relax_chunk, chunks[i]): i for i in missing}
                    for future in as_completed(futures):
                        i = futures[future]
                        found[i] = future.result()
                        progress.advance(task, len(chunks[i]))
    return [record for i in range(len(chunks)) for record in found[i]]


def formation_energy(energy: float, symbols: Sequence[str]) -> float:
    """eV/atom against the pure fcc metals relaxed the same way."""
    reference = sum(elemental_reference(s)[0] for s in symbols)
    return (energy - reference) / len(symbols)


def hull_distances(
    formulas: Sequence[dict[str, int]], energies_per_atom: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Energy above the convex hull (eV/atom) of every entry among all of them and the
    elemental references (pymatgen PhaseDiagram; formation energies in, so references are 0)."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core.composition import Composition

    entries = [
        PDEntry(Composition(f), float(e) * sum(f.values()))
        for f, e in zip(formulas, energies_per_atom, strict=True)
    ]
    elements = sorted({el for f in formulas for el in f})
    references = [PDEntry(Composition({el: 1}), 0.0) for el in elements]
    diagram = PhaseDiagram(entries + references)
    return np.array([max(0.0, float(diagram.get_e_above_hull(e) or 0.0)) for e in entries])
