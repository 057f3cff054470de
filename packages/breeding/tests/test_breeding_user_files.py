"""User data: a tskit-written VCF + phenotype CSV end to end, PLINK, and the bad-input corpus."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from assay.builtin import plugin as core_plugin
from assay.data.cache import DataCache
from assay.data.dataset import Dataset, sha256_file
from assay.engine.executors import SerialExecutor
from assay.engine.runner import GridEntry, plan_grid
from assay.errors import DataError
from assay.plugin import Catalog
from assay.spec import ModelEntry
from assay_breeding.plugin import plugin
from assay_breeding.tskit_example import write_example
from assay_breeding.user_files import UserFilesSource


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_example(tmp_path_factory.mktemp("tskit"), n_individuals=60, seed=5)


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    return Catalog.from_plugins([core_plugin, plugin])


def load(params: dict[str, Any], tmp_path: Path) -> Dataset:
    dataset, _ = DataCache(tmp_path / "cache").load(UserFilesSource(), params)
    return dataset


def test_tskit_vcf_and_phenotype_csv_run_end_to_end(
    catalog: Catalog, example: tuple[Path, Path]
) -> None:
    vcf, csv = example
    params = {"path": str(vcf), "phenotypes": str(csv), "target": "yield"}
    models = [ModelEntry(name="mean"), ModelEntry(name="breeding.gblup")]
    tasks = plan_grid(
        catalog, [GridEntry("breeding/user-files", models, source_params=params)], "quick"
    )
    assert len(tasks) == 10  # five folds x two models
    results = list(SerialExecutor(catalog).run(tasks))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert {"r_phenotype", "rmse"} <= set(results[0].metrics)


def test_cli_runs_the_readme_command(tmp_path: Path, example: tuple[Path, Path]) -> None:
    vcf, csv = example
    env = {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    command = [sys.executable, "-m", "assay.cli.main", "run", "breeding/user-files"]
    command += ["--data", str(vcf), "--set", f"phenotypes={csv}", "--target", "yield"]
    command += ["-m", "mean", "-m", "breeding.gblup"]
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "10 units planned" in done.stdout


VCF_HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT"
)


def write_vcf(path: Path, samples: list[str], rows: list[tuple[str, list[str]]]) -> Path:
    lines = [VCF_HEADER + "".join(f"\t{s}" for s in samples)]
    for k, (alt, calls) in enumerate(rows):
        lines.append(f"1\t{100 * (k + 1)}\t.\tA\t{alt}\t.\tPASS\t.\tGT\t" + "\t".join(calls))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def small_set(tmp_path: Path, *, rows: list[tuple[str, list[str]]] | None = None) -> dict[str, Any]:
    """12 samples, 3 sites, and a phenotype CSV for them."""
    samples = [f"s{i}" for i in range(12)]
    calls = ["0/0", "0/1", "1/1", "0/1"] * 3
    rows = rows or [("C", calls), ("G", calls[::-1]), ("T", calls[1:] + calls[:1])]
    vcf = write_vcf(tmp_path / "geno.vcf", samples, rows)
    csv = tmp_path / "pheno.csv"
    csv.write_text("id,yield\n" + "".join(f"s{i},{i * 0.5}\n" for i in range(12)), encoding="utf-8")
    return {"path": str(vcf), "phenotypes": str(csv), "target": "yield"}


def test_missing_calls_are_imputed_with_the_mean_dosage_and_recorded(tmp_path: Path) -> None:
    calls = ["0/0", "0/1", "1/1", "0/1"] * 3
    missing = ["./.", *calls[1:]]
    params = small_set(tmp_path, rows=[("C", missing), ("G", calls)])
    dataset = load(params, tmp_path)
    expected = np.mean([1, 2, 1] + [0, 1, 2, 1] * 2)  # the called dosages of site 1
    assert np.isclose(dataset.inputs[0, 0], expected)
    assert any("imputed 1 missing calls" in note for note in dataset.metadata.notes)
    assert "imputed 1 missing calls" in dataset.metadata.provenance


def test_the_card_of_a_users_files_is_the_kits(tmp_path: Path) -> None:
    params = small_set(tmp_path)
    card = load(params, tmp_path).metadata
    vcf, csv = Path(params["path"]), Path(params["phenotypes"])
    assert card.provenance.startswith(
        f"user files {vcf} (sha256 {sha256_file(vcf)[:16]}, {vcf.stat().st_size:,} bytes), "
        f"{csv} (sha256 {sha256_file(csv)[:16]}, "
    )
    assert card.licence == "user-supplied data (licence as given by its owner)"


def test_multiallelic_sites_are_dropped_and_recorded(tmp_path: Path) -> None:
    calls = ["0/0", "0/1", "1/1", "0/1"] * 3
    params = small_set(tmp_path, rows=[("C", calls), ("G,T", ["0/2", *calls[1:]]), ("T", calls)])
    dataset = load(params, tmp_path)
    assert dataset.inputs.shape == (12, 2)
    assert "dropped 1 sites that are not biallelic" in dataset.metadata.notes


def test_samples_not_in_the_phenotype_csv(tmp_path: Path) -> None:
    params = small_set(tmp_path)
    csv = Path(params["phenotypes"])
    csv.write_text("id,yield\n" + "".join(f"x{i},{i}\n" for i in range(12)), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load(params, tmp_path)
    assert str(info.value).startswith("pheno.csv: none of its ids match the 12 genotyped samples")
    assert "\n" not in str(info.value)
    # a partial overlap keeps the matched individuals and says so
    csv.write_text(
        "id,yield\n" + "".join(f"s{i},{i}\n" for i in range(11)) + "zz,1\n", encoding="utf-8"
    )
    dataset = load(params, tmp_path / "again")
    assert len(dataset) == 11
    assert "dropped 1 genotyped samples absent from pheno.csv" in dataset.metadata.notes
    assert "ignored 1 phenotype rows without genotypes" in dataset.metadata.notes


def test_nan_phenotypes_are_dropped_and_recorded(tmp_path: Path) -> None:
    params = small_set(tmp_path)
    csv = Path(params["phenotypes"])
    values = ["", "nan", *[str(i) for i in range(10)]]
    csv.write_text(
        "id,yield\n" + "".join(f"s{i},{v}\n" for i, v in enumerate(values)), encoding="utf-8"
    )
    dataset = load(params, tmp_path)
    assert len(dataset) == 10
    assert "dropped 2 individuals with a missing (NaN) phenotype" in dataset.metadata.notes


def test_not_a_vcf_is_one_line(tmp_path: Path) -> None:
    params = small_set(tmp_path)
    Path(params["path"]).write_text("this is not a VCF\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load(params, tmp_path)
    assert str(info.value).startswith("geno.vcf:")
    assert "\n" not in str(info.value)


def write_plink(tmp_path: Path, dosage: np.ndarray[Any, Any]) -> Path:
    from bed_reader import to_bed

    bed = tmp_path / "geno.bed"
    n = dosage.shape[0]
    to_bed(
        bed,
        dosage.astype(np.float32),
        properties={"iid": [f"s{i}" for i in range(n)], "pheno": [float(i) for i in range(n)]},
    )
    return bed


def test_plink_set_reads_back_and_uses_the_fam_phenotype(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dosage = rng.integers(0, 3, size=(13, 7)).astype(np.float32)
    bed = write_plink(tmp_path, dosage)
    dataset = load({"path": str(bed)}, tmp_path)
    assert np.array_equal(dataset.inputs, dosage)  # allele 1 counted, as PLINK does
    assert np.array_equal(dataset.targets, np.arange(13, dtype=float))


def test_truncated_bed_is_one_line(tmp_path: Path) -> None:
    dosage = np.random.default_rng(0).integers(0, 3, size=(13, 7)).astype(np.float32)
    bed = write_plink(tmp_path, dosage)
    bed.write_bytes(bed.read_bytes()[:-5])
    with pytest.raises(DataError) as info:
        load({"path": str(bed)}, tmp_path)
    assert str(info.value) == (
        "geno.bed: 26 bytes, but 7 SNPs x 13 individuals need 31 "
        "(truncated, or .bim/.fam from another set)"
    )


def test_a_given_fold_column_makes_the_folds(catalog: Catalog, tmp_path: Path) -> None:
    params = small_set(tmp_path)
    csv = Path(params["phenotypes"])
    csv.write_text(
        "id,yield,fold\n" + "".join(f"s{i},{i * 0.5},{'ab'[i % 2]}\n" for i in range(12)),
        encoding="utf-8",
    )
    params["fold_column"] = "fold"
    tasks = plan_grid(
        catalog,
        [GridEntry("breeding/user-files", [ModelEntry(name="mean")], source_params=params)],
        "quick",
    )
    assert len(tasks) == 2


@pytest.mark.parametrize(
    ("pheno", "says"),
    [
        (0.0, "geno.fam: column 6 (phenotype) is 0 in all 13 rows given, nothing to learn"),
        (-9.0, "geno.fam: column 6 (phenotype) is missing in every row, nothing to learn"),
        (2.5, "geno.fam: column 6 (phenotype) is 2.5 in all 13 rows given, nothing to learn"),
    ],
    ids=["plink-default-0", "plink-missing--9", "constant"],
)
def test_a_fam_without_a_phenotype_is_refused(tmp_path: Path, pheno: float, says: str) -> None:
    """plink and bed-reader write 0 (or -9) when given no phenotype; a run on it would
    "succeed" with r 0 and divide-by-zero warnings."""
    from bed_reader import to_bed

    dosage = np.random.default_rng(0).integers(0, 3, size=(13, 7)).astype(np.float32)
    bed = tmp_path / "geno.bed"
    properties: dict[str, Any] = {"iid": [f"s{i}" for i in range(13)], "pheno": [pheno] * 13}
    to_bed(bed, dosage, properties=properties)
    with pytest.raises(DataError) as info:
        load({"path": str(bed)}, tmp_path)
    message = str(info.value)
    assert message.startswith(says)
    assert "--set phenotypes=PATH" in message
    assert "\n" not in message


def test_bed_readers_default_fam_is_refused(tmp_path: Path) -> None:
    from bed_reader import to_bed

    dosage = np.random.default_rng(0).integers(0, 3, size=(13, 7)).astype(np.float32)
    to_bed(tmp_path / "geno.bed", dosage)  # no properties: bed-reader's default .fam
    with pytest.raises(DataError, match=r"^geno\.fam: column 6 \(phenotype\) is "):
        load({"path": str(tmp_path / "geno.bed")}, tmp_path)


def test_a_constant_trait_column_is_refused(tmp_path: Path) -> None:
    params = small_set(tmp_path)
    csv = Path(params["phenotypes"])
    csv.write_text("id,yield\n" + "".join(f"s{i},4\n" for i in range(12)), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load(params, tmp_path)
    assert str(info.value) == (
        "pheno.csv: column 'yield' is 4 in all 12 rows given, nothing to learn; "
        "give a numeric trait that varies between individuals"
    )
