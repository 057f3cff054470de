"""Coding regions: genome windows labelled coding or intergenic, split by genome blocks.

A genome (FASTA, read with Biopython) is cut into fixed windows; a window is
coding when at least half its bases lie inside an annotated CDS on either
strand. Rows carry their contig and start (extras) and a block id (groups),
so a split keeps contiguous stretches of genome whole on one side.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import (
    DataError,
    Dataset,
    DatasetMetadata,
    ExportView,
    Predictions,
    Requirement,
    SourceParams,
    UserFileSource,
    default_columns,
    read_array,
    read_json,
    require_targets,
    requires,
    user_path,
    write_array,
    write_json,
)
from pydantic import Field, model_validator

BUNDLED = {
    "MIIJ01000039": ("MIIJ01000039.fna.gz", "MIIJ01000039.single.fna.gz"),
}
"""Bundled genomes with the reference gene calls pyrodigal's tests ship beside them
(Prodigal's single-genome mode output; headers carry `# begin # end # strand`)."""
NCTC11397 = "GCF_001457455.1_NCTC11397_genomic.fna.gz"
DNA = frozenset("ACGTN")
MIN_TRAINING_BASES = 100_000
"""Prodigal warns that training on less sequence is unreliable."""
_REFERENCE_HEADER = re.compile(r"^>(\S+)_\d+ # (\d+) # (\d+) # (-?1) #")


def pyrodigal_data(name: str) -> Path:
    """A file of pyrodigal's bundled test data, located without importing pyrodigal."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(str(distribution("pyrodigal").locate_file(f"pyrodigal/tests/data/{name}")))
    except PackageNotFoundError:
        raise DataError("pyrodigal is not installed; install assay-lifesci") from None
    if not path.is_file():
        raise DataError(f"pyrodigal's bundled {name} is missing ({path})")
    return path


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt") if path.suffix == ".gz" else path.open(encoding="utf-8")


def read_fasta(path: Path) -> dict[str, str]:
    """Contigs of a FASTA file (optionally gzipped) by id, upper-cased; a character
    other than A, C, G, T or N is refused in one line naming the contig and position."""
    from Bio import SeqIO

    contigs: dict[str, str] = {}
    try:
        with _open_text(path) as handle:
            for record in SeqIO.parse(handle, "fasta"):
                sequence = str(record.seq).upper()
                bad = next((i for i, c in enumerate(sequence) if c not in DNA), None)
                if bad is not None:
                    raise DataError(
                        f"{path.name}: contig '{record.id}' has '{sequence[bad]}' at position "
                        f"{bad + 1}; expected A, C, G, T or N"
                    )
                contigs[record.id] = sequence
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path.name}: not a readable FASTA file ({exc})") from None
    if not contigs:
        raise DataError(f"{path.name}: no FASTA records found")
    return contigs


def read_gff_cds(path: Path, contigs: Mapping[str, str]) -> dict[str, list[tuple[int, int]]]:
    """CDS intervals (0-based, end exclusive) per contig from a GFF3 file; a contig the
    FASTA lacks, or a CDS beyond its contig's end, is refused in one line."""
    intervals: dict[str, list[tuple[int, int]]] = {name: [] for name in contigs}
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith("##FASTA"):
                break
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 9:
                raise DataError(f"{path.name} line {number}: expected 9 tab-separated GFF columns")
            if fields[2] != "CDS":
                continue
            contig = fields[0]
            if contig not in contigs:
                raise DataError(
                    f"{path.name} line {number}: contig '{contig}' is not in the FASTA "
                    f"(its contigs: {', '.join(list(contigs)[:5])})"
                )
            try:
                start, end = int(fields[3]), int(fields[4])
            except ValueError:
                raise DataError(f"{path.name} line {number}: start/end are not integers") from None
            if not 1 <= start <= end <= len(contigs[contig]):
                raise DataError(
                    f"{path.name} line {number}: CDS {start}-{end} lies outside contig "
                    f"'{contig}' (length {len(contigs[contig])})"
                )
            intervals[contig].append((start - 1, end))
    if not any(intervals.values()):
        raise DataError(f"{path.name}: no CDS features found")
    return intervals


def read_reference_calls(path: Path, contig: str) -> list[tuple[int, int]]:
    """Gene intervals from Prodigal's nucleotide output headers (`# begin # end # strand`)."""
    calls = []
    with _open_text(path) as handle:
        for line in handle:
            match = _REFERENCE_HEADER.match(line)
            if match:
                calls.append((int(match.group(2)) - 1, int(match.group(3))))
    if not calls:
        raise DataError(f"{path.name}: no Prodigal gene headers found for {contig}")
    return calls


def coding_mask(length: int, intervals: list[tuple[int, int]]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(length, dtype=np.bool_)
    for start, end in intervals:
        mask[start:end] = True
    return mask


def windows(
    contigs: Mapping[str, str],
    intervals: Mapping[str, list[tuple[int, int]]],
    window: int,
    block: int,
) -> Iterator[tuple[str, int, str, int, int]]:
    """(contig, start, sequence, label, block id) for every full window, in genome order."""
    first_block = 0
    for name, sequence in contigs.items():
        mask = coding_mask(len(sequence), intervals.get(name, []))
        for start in range(0, len(sequence) - window + 1, window):
            coding = int(mask[start : start + window].mean() >= 0.5)
            yield (
                name,
                start,
                sequence[start : start + window],
                coding,
                first_block + start // block,
            )
        first_block += len(sequence) // block + 1


class GenomeWindowsParams(SourceParams):
    genome: str
    """A bundled genome's name or a FASTA path."""
    gff: str | None = None
    window: int = Field(default=240, ge=30)
    block: int = Field(default=50_000, ge=1000)
    max_windows: int | None = Field(default=None, ge=10)

    @model_validator(mode="after")
    def _a_fasta_needs_its_genes(self) -> GenomeWindowsParams:
        if self.genome not in BUNDLED and not self.gff:
            raise ValueError("a FASTA genome needs --set gff=PATH (GFF3 with CDS)")
        return self


class GenomeWindowsSource(UserFileSource[GenomeWindowsParams]):
    """Windows of a genome labelled coding / intergenic.

    `genome`: a bundled genome (`MIIJ01000039`, labels from the Prodigal reference
    calls shipped in pyrodigal's wheel) or a FASTA path, with `gff` a GFF3 path whose
    CDS features give the labels. `window` (bases, default 240), `block` (bases per
    genome block that a split keeps whole, default 50,000), `max_windows` (the first
    N windows, for quick runs). A user's FASTA and GFF are user files: the cache key
    holds their sha256, and a cached copy that fails its checksum is refused."""

    name = "lifesci.genome_windows"
    version = "1"
    params_model = GenomeWindowsParams

    def generator_versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"biopython": version("biopython"), "pyrodigal": version("pyrodigal")}

    def check_inputs(self, params: GenomeWindowsParams) -> None:
        if params.genome not in BUNDLED and not user_path(params.genome).is_file():
            raise DataError(
                f"{self.name}: genome '{params.genome}' is neither bundled "
                f"({', '.join(BUNDLED)}) nor a FASTA file"
            )
        super().check_inputs(params)

    def input_files(self, params: GenomeWindowsParams) -> list[Path]:
        """The FASTA and the GFF; none for a bundled genome (pyrodigal's version keys it)."""
        if params.genome in BUNDLED:
            return []
        return [user_path(params.genome), *([user_path(params.gff)] if params.gff else [])]

    def prepare(self, params: GenomeWindowsParams, out_dir: Path) -> None:
        genome = params.genome
        if genome in BUNDLED:
            fasta, reference = BUNDLED[genome]
            contigs = read_fasta(pyrodigal_data(fasta))
            (contig,) = contigs
            intervals = {contig: read_reference_calls(pyrodigal_data(reference), contig)}
        else:
            contigs = read_fasta(user_path(genome))
            intervals = read_gff_cds(user_path(str(params.gff)), contigs)
        window = params.window
        rows = list(windows(contigs, intervals, window, params.block))
        if params.max_windows:
            rows = rows[: params.max_windows]
        if len(rows) < 10:
            raise DataError(
                f"{self.name}: the genome gives only {len(rows)} windows of {window} bases"
            )
        names, starts, sequences, labels, blocks = zip(*rows, strict=True)
        write_array(out_dir / "sequences.npy", np.array(sequences, dtype=f"<U{window}"))
        write_array(out_dir / "labels.npy", np.array(labels, dtype=np.int64))
        write_array(out_dir / "blocks.npy", np.array(blocks, dtype=np.int64))
        write_array(out_dir / "starts.npy", np.array(starts, dtype=np.int64))
        contig_ids = sorted(set(names), key=list(contigs).index)
        write_array(
            out_dir / "contigs.npy", np.array([contig_ids.index(n) for n in names], dtype=np.int64)
        )
        write_json(out_dir / "contig_names.json", contig_ids)

    def export_view(self, dataset: Dataset, params: GenomeWindowsParams) -> ExportView:
        return ExportView(
            inputs=default_columns(
                dataset.inputs,
                name="sequence",
                description=f"the window's DNA ({params.window} bases, A/C/G/T/N)",
            ),
            target_description="1 when at least half the window lies in an annotated CDS",
        )

    def load(self, params: GenomeWindowsParams, files_dir: Path) -> Dataset:
        genome = params.genome
        bundled = genome in BUNDLED
        metadata = (
            DatasetMetadata(
                name=genome,
                version="1",
                provenance=(
                    f"pyrodigal's bundled {BUNDLED[genome][0]} (E. coli contig, 869,782 bp); labels "
                    f"from the Prodigal reference gene calls beside it ({BUNDLED[genome][1]})"
                ),
                licence="pyrodigal test data (GPL-3.0, from public INSDC records)",
                notes=(
                    "labels are Prodigal's own gene calls: pyrodigal is the labeller's upper bound",
                ),
            )
            if bundled
            else self.user_metadata(
                params,
                files_dir,
                name=Path(genome).name,
                what="user FASTA and GFF",
                details="labels: the GFF's CDS features",
            )
        )
        return Dataset(
            inputs=read_array(files_dir / "sequences.npy"),
            targets=read_array(files_dir / "labels.npy"),
            groups=read_array(files_dir / "blocks.npy"),
            extras={
                "contig": read_array(files_dir / "contigs.npy"),
                "start": read_array(files_dir / "starts.npy"),
            },
            metadata=metadata,
        )


# ---- models ----

_CODE = np.full(256, 4, dtype=np.int64)
for _i, _base in enumerate("ACGT"):
    _CODE[ord(_base)] = _i


def encode(sequences: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Windows as integer codes (A, C, G, T -> 0-3; N -> 4), one row per window."""
    width = int(np.asarray(sequences).dtype.itemsize // 4)
    raw = np.frombuffer(np.ascontiguousarray(sequences).tobytes(), dtype=np.uint32)
    return _CODE[raw.reshape(len(sequences), width).astype(np.uint8)]


def kmer_counts(sequences: npt.NDArray[Any], k: int) -> npt.NDArray[np.float64]:
    """Frequencies of the 4^k k-mers in every window (k-mers with N are skipped)."""
    codes = encode(sequences)
    n, width = codes.shape
    index = np.zeros((n, width - k + 1), dtype=np.int64)
    valid = np.ones_like(index, dtype=np.bool_)
    for offset in range(k):
        part = codes[:, offset : offset + width - k + 1]
        valid &= part < 4
        index = index * 4 + np.minimum(part, 3)
    counts = np.zeros((n, 4**k))
    rows = np.repeat(np.arange(n), index.shape[1]).reshape(index.shape)
    np.add.at(counts, (rows[valid], index[valid]), 1.0)
    return np.asarray(counts / np.maximum(counts.sum(1, keepdims=True), 1.0))


def _lacking_sequences(dataset: Dataset) -> str | None:
    inputs = dataset.inputs
    if not isinstance(inputs, np.ndarray):
        return f"its inputs are a {type(inputs).__name__}, not DNA sequences"
    if inputs.dtype.kind != "U":
        return f"its inputs are an array of {inputs.dtype}, not DNA sequences"
    return None


SEQUENCES = Requirement(
    "sequences",
    _lacking_sequences,
    hint="these models read DNA windows, as lifesci/coding-regions makes from a FASTA",
)
"""The need of every model that reads DNA sequences (`@requires(SEQUENCES)`)."""


@requires(SEQUENCES)
class KmerLogistic:
    """Logistic regression on k-mer frequencies (k=4 by default: 256 features; k=6
    reaches codon pairs)."""

    def __init__(self, k: int = 4, c: float = 1.0) -> None:
        self.k, self.c = k, c

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model_ = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.c, max_iter=2000, random_state=seed)
        ).fit(kmer_counts(train.inputs, self.k), require_targets(train))

    def predict(self, dataset: Dataset) -> Predictions:
        x = kmer_counts(dataset.inputs, self.k)
        return Predictions(
            values=self.model_.predict(x),
            probabilities=np.asarray(self.model_.predict_proba(x), dtype=np.float64),
        )


def _segments(dataset: Dataset) -> list[tuple[npt.NDArray[np.int64], str]]:
    """Runs of rows that are adjacent windows of one contig, with their joined sequence."""
    contig = np.asarray(dataset.extras["contig"])
    start = np.asarray(dataset.extras["start"])
    order = np.lexsort((start, contig))
    sequences = np.asarray(dataset.inputs)
    width = int(sequences.dtype.itemsize // 4)
    runs: list[list[int]] = []
    for row in order:
        if runs:
            last = runs[-1][-1]
            if contig[last] == contig[row] and start[row] == start[last] + width:
                runs[-1].append(int(row))
                continue
        runs.append([int(row)])
    return [(np.asarray(run), "".join(sequences[run])) for run in runs]


@requires(SEQUENCES)
class PyrodigalModel:
    """Prodigal (through pyrodigal), the field's gene finder: trained on the training
    windows' sequence (joined per contiguous run), then run on each contiguous run of
    test windows; a window is coding when half its bases lie in a predicted gene.
    Below the 100 kb Prodigal asks for training it runs in metagenomic mode."""

    def __init__(self, closed: bool = False) -> None:
        self.closed = closed

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        import pyrodigal

        training = "TTAATTAATTAA".join(seq for _, seq in _segments(train))
        if len(training) >= MIN_TRAINING_BASES:
            self.finder_ = pyrodigal.GeneFinder(closed=self.closed)
            self.finder_.train(training.encode())
        else:
            self.finder_ = pyrodigal.GeneFinder(meta=True, closed=self.closed)

    def predict(self, dataset: Dataset) -> Predictions:
        labels = np.zeros(len(dataset), dtype=np.int64)
        width = int(np.asarray(dataset.inputs).dtype.itemsize // 4)
        for rows, sequence in _segments(dataset):
            genes = self.finder_.find_genes(sequence.encode())
            mask = coding_mask(len(sequence), [(g.begin - 1, g.end) for g in genes])
            labels[rows] = mask.reshape(len(rows), width).mean(1) >= 0.5
        return Predictions(values=labels)


def count_genes(path: Path) -> int:
    """Genes pyrodigal finds on the first contig of a FASTA in single-genome mode."""
    import pyrodigal

    sequence = next(iter(read_fasta(path).values())).encode()
    finder = pyrodigal.GeneFinder()
    finder.train(sequence)
    return len(finder.find_genes(sequence))


def read_contig_names(files_dir: Path) -> list[str]:
    names: list[str] = read_json(files_dir / "contig_names.json")
    return names
