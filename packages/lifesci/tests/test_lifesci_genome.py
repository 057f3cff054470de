"""Coding regions: windows and labels, a user's FASTA + GFF, bad inputs, pyrodigal's count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.builtin import plugin as core_plugin
from assay.data.cache import DataCache
from assay.engine.executors import SerialExecutor
from assay.engine.runner import GridEntry, plan_grid
from assay.errors import CacheError, DataError
from assay.plugin import Catalog
from assay.spec import ModelEntry
from assay_lifesci.genome import (
    NCTC11397,
    GenomeWindowsSource,
    count_genes,
    encode,
    kmer_counts,
    pyrodigal_data,
    read_fasta,
    read_gff_cds,
)
from assay_lifesci.plugin import plugin


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    return Catalog.from_plugins([core_plugin, plugin])


def test_pyrodigal_finds_a_plausible_number_of_genes_on_nctc11397() -> None:
    """C. diphtheriae NCTC11397 (2.46 Mb): about 2,300 genes, as Prodigal reports."""
    assert 2250 <= count_genes(pyrodigal_data(NCTC11397)) <= 2450


def test_bundled_windows_are_labelled_from_the_reference_calls(tmp_path: Path) -> None:
    dataset, _ = DataCache(tmp_path).load(GenomeWindowsSource(), {"genome": "MIIJ01000039"})
    assert len(dataset) == 869_782 // 240
    assert dataset.targets is not None
    assert 0.85 < dataset.targets.mean() < 0.99  # a bacterial genome is mostly coding
    assert len(np.unique(dataset.groups)) == 869_782 // 50_000 + 1
    assert np.all(np.diff(dataset.extras["start"]) == 240)


def test_kmer_features_count_what_is_there() -> None:
    windows = np.array(["ACGTACGT", "AAAAAAAN"])
    assert encode(windows).tolist() == [[0, 1, 2, 3, 0, 1, 2, 3], [0] * 7 + [4]]
    counts = kmer_counts(windows, 2)
    assert counts[1, 0] == pytest.approx(1.0)  # AA only; the k-mer with N is skipped
    assert counts[0].sum() == pytest.approx(1.0)


def write_genome(
    tmp_path: Path, *, bad_base: str = "", gff_contig: str = "chr1"
) -> tuple[Path, Path]:
    """The first 120 kb of NCTC11397 as a user's FASTA, with a GFF of pyrodigal's genes."""
    import pyrodigal

    sequence = next(iter(read_fasta(pyrodigal_data(NCTC11397)).values()))[:120_000]
    finder = pyrodigal.GeneFinder(meta=True)
    genes = finder.find_genes(sequence.encode())
    fasta = tmp_path / "genome.fna"
    body = sequence[:1000] + bad_base + sequence[1000 + len(bad_base) :]
    fasta.write_text(
        ">chr1 test genome\n" + "\n".join(body[i : i + 80] for i in range(0, len(body), 80)) + "\n"
    )
    gff = tmp_path / "genes.gff3"
    lines = ["##gff-version 3"]
    for i, gene in enumerate(genes):
        strand = "+" if gene.strand == 1 else "-"
        lines.append(
            f"{gff_contig}\tpyrodigal\tCDS\t{gene.begin}\t{gene.end}\t.\t{strand}\t0\tID=cds{i}"
        )
    gff.write_text("\n".join(lines) + "\n")
    return fasta, gff


def test_user_fasta_and_gff_run_end_to_end(catalog: Catalog, tmp_path: Path) -> None:
    fasta, gff = write_genome(tmp_path)
    params = {"genome": str(fasta), "gff": str(gff), "block": 20_000}
    models = [ModelEntry(name="majority"), ModelEntry(name="lifesci.kmer_logistic")]
    entry = GridEntry("lifesci/coding-regions", models, source_params=params)
    results = list(SerialExecutor(catalog).run(plan_grid(catalog, [entry], "quick")))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    kmer = [r.metrics["mcc"] for r in results if r.task.model.name == "lifesci.kmer_logistic"]
    assert np.mean(kmer) > 0.1


def test_invalid_fasta_characters_are_one_line(tmp_path: Path) -> None:
    fasta, _ = write_genome(tmp_path, bad_base="X")
    with pytest.raises(DataError) as info:
        read_fasta(fasta)
    assert "contig 'chr1' has 'X' at position 1001; expected A, C, G, T or N" in str(info.value)
    assert "\n" not in str(info.value)


def test_gff_contigs_must_match_the_fasta(catalog: Catalog, tmp_path: Path) -> None:
    fasta, gff = write_genome(tmp_path, gff_contig="NC_000913.3")
    with pytest.raises(DataError) as info:
        read_gff_cds(gff, read_fasta(fasta))
    assert "contig 'NC_000913.3' is not in the FASTA (its contigs: chr1)" in str(info.value)
    entry = GridEntry(
        "lifesci/coding-regions",
        [ModelEntry(name="majority")],
        source_params={"genome": str(fasta), "gff": str(gff)},
    )
    with pytest.raises(DataError, match="is not in the FASTA"):
        plan_grid(catalog, [entry], "quick")
    assert not list((tmp_path / "home").rglob("sequences.npy")), "half-written cache left behind"


def test_a_fasta_without_gff_is_one_line(catalog: Catalog, tmp_path: Path) -> None:
    fasta, _ = write_genome(tmp_path)
    entry = GridEntry(
        "lifesci/coding-regions",
        [ModelEntry(name="majority")],
        source_params={"genome": str(fasta)},
    )
    with pytest.raises(DataError, match=r"needs --set gff=PATH"):
        plan_grid(catalog, [entry], "quick")


def test_a_users_genome_is_a_user_file_read_again_when_edited_and_never_rebuilt(
    tmp_path: Path,
) -> None:
    fasta, gff = write_genome(tmp_path)
    cache, source = DataCache(tmp_path / "cache"), GenomeWindowsSource()
    params = {"genome": str(fasta), "gff": str(gff), "block": 20_000}
    dataset, entry = cache.load(source, params)
    card = dataset.metadata
    assert card.provenance.startswith(f"user FASTA and GFF {fasta.resolve()} (sha256 ")
    assert card.licence == "user-supplied data (licence as given by its owner)"
    # a truncated FASTA is another file: a new cache entry, the old one left as it was
    lines = fasta.read_text().splitlines()
    fasta.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    with pytest.raises(DataError, match=r"lies outside contig 'chr1'"):
        cache.load(source, params)  # the GFF's genes beyond the cut are refused in one line
    assert cache.entry_path(source, params) != entry.path
    assert (entry.path / "sequences.npy").is_file()
    # a cached copy that fails its checksum is refused, not silently rebuilt
    fasta.write_text("\n".join(lines) + "\n")
    assert cache.entry_path(source, params) == entry.path
    (entry.path / "labels.npy").write_bytes(b"tampered")
    with pytest.raises(CacheError) as info:
        cache.load(source, params)
    assert "failed its checksum (labels.npy checksum mismatch)" in str(info.value)
    assert "\n" not in str(info.value)
    assert (entry.path / "labels.npy").read_bytes() == b"tampered"


@pytest.mark.parametrize(
    "model", ["lifesci.kmer_logistic", "lifesci.pyrodigal", "lifesci.window_cnn"]
)
def test_a_sequence_model_is_refused_while_planning_on_data_without_sequences(model: str) -> None:
    """The k-mer, Prodigal and CNN models read DNA windows: on a table of numbers they are
    refused before anything runs, in one line naming the model and what the data hold."""
    catalog = Catalog.from_plugins([core_plugin, plugin])
    entry = GridEntry("core/diabetes", [ModelEntry(name="mean"), ModelEntry(name=model)])
    with pytest.raises(DataError) as raised:
        plan_grid(catalog, [entry], "quick")
    assert str(raised.value) == (
        f"model {model} needs sequences, which the data of core/diabetes lack (its inputs are "
        "an array of float64, not DNA sequences); these models read DNA windows, as "
        "lifesci/coding-regions makes from a FASTA"
    )
