"""Every `assay ...` command in the READMEs' code blocks runs as written.

The commands are read from the fenced code blocks of README.md and packages/*/README.md.
Each one is either run, in a folder where a fixture has made the small files it names
(`my_structures/`, `geno.vcf.gz`, ...), or listed below as an exception with the reason.
The default run checks that every command is one or the other, so a new README command
must be classified before it is merged, and runs the cheap commands (`CHEAP`: a few
seconds each); the others train models for tens of seconds to minutes each on 2 cores,
so they are the slow tier (`pytest -m slow tests/test_readme_commands.py`).
"""

from __future__ import annotations

import gzip
import re
import shlex
import shutil
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from harness import ROOT, run_assay

DOCS = [ROOT / "README.md", *sorted((ROOT / "packages").glob("*/README.md"))]
SYNOPSIS = "a synopsis (optional parts in brackets, alternatives with |), not one command"
LONG = "runs for many minutes on a laptop (standard size, a GNN or generated events)"


def readme_commands() -> list[str]:
    """`assay` command lines of the READMEs' code blocks: continuations joined, trailing
    comments cut, leading variable assignments (`PYTHONPATH=.`) kept."""
    found = []
    for doc in DOCS:
        inside, pending = False, ""
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("```"):
                inside, pending = not inside, ""
                continue
            if not inside:
                continue
            text = pending + line.strip()
            if text.endswith("\\"):
                pending = text[:-1] + " "
                continue
            pending = ""
            text = " ".join(re.split(r"\s+#\s", text, maxsplit=1)[0].split())
            words = text.split()
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words = words[1:]
            if words[:1] == ["assay"]:
                found.append(text)
    return list(dict.fromkeys(found))


def _package_file(package: str, *parts: str) -> Path:
    found = files(package).joinpath(*parts)
    assert isinstance(found, Path)
    return found


def structures_folder(cwd: Path) -> None:
    shutil.copytree(
        _package_file("assay_materials", "examples", "structures"), cwd / "my_structures"
    )


def matbench_file(cwd: Path) -> None:
    shutil.copy(
        _package_file("assay_materials", "examples", "matbench_emt_example.json.gz"),
        cwd / "matbench_mp_e_form.json.gz",
    )


def vcf_and_phenotypes(cwd: Path) -> None:
    examples = _package_file("assay_breeding", "examples")
    shutil.copy(examples / "example.vcf.gz", cwd / "geno.vcf.gz")
    shutil.copy(examples / "example_phenotypes.csv", cwd / "pheno.csv")


def h5ad_cells(cwd: Path) -> None:
    """Counts of three cell types from three donors, written by scanpy."""
    import anndata
    import pandas as pd
    import scanpy as sc

    rng = np.random.default_rng(1)
    n_cells, n_genes = 180, 40
    kinds = np.array(["B cell", "NK cell", "monocyte"])
    types = kinds[rng.integers(0, 3, n_cells)]
    rate = np.ones((n_cells, n_genes))
    for k, kind in enumerate(kinds):
        rate[types == kind, 10 * k : 10 * k + 10] = 6.0
    obs = pd.DataFrame(
        {"cell_type": types, "donor": np.repeat(["d1", "d2", "d3"], n_cells // 3)},
        index=[f"c{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"g{j}" for j in range(n_genes)])
    sc.write(cwd / "my_cells.h5ad", anndata.AnnData(rng.poisson(rate).astype(np.float32), obs, var))


def genome_and_genes(cwd: Path) -> None:
    """80 kb of pyrodigal's bundled test genome and a GFF3 of the genes pyrodigal finds."""
    import pyrodigal
    from assay_lifesci.genome import NCTC11397, pyrodigal_data, read_fasta

    sequence = next(iter(read_fasta(pyrodigal_data(NCTC11397)).values()))[:80_000]
    lines = [">chr1"] + [sequence[i : i + 80] for i in range(0, len(sequence), 80)]
    (cwd / "genome.fna").write_text("\n".join(lines) + "\n")
    genes = pyrodigal.GeneFinder(meta=True).find_genes(sequence.encode())
    gff = ["##gff-version 3"] + [
        f"chr1\tpyrodigal\tCDS\t{g.begin}\t{g.end}\t.\t{'+' if g.strand == 1 else '-'}\t0\tID=g{i}"
        for i, g in enumerate(genes)
    ]
    (cwd / "genes.gff3").write_text("\n".join(gff) + "\n")


def a_tracked_run(cwd: Path) -> None:
    """A board needs runs: one quick entry, as the README's runs above it make."""
    env = _ENV[cwd]
    assert run_assay(["run", "core/diabetes", "-m", "mean"], env, cwd).returncode == 0


def nothing(cwd: Path) -> None:
    pass


def a_matbench_bz2(cwd: Path) -> None:
    """Matbench's repository ships its task files bz2-compressed."""
    import bz2

    example = _package_file("assay_materials", "examples", "matbench_emt_example.json.gz")
    (cwd / "matbench_expt_gap.json.bz2").write_bytes(
        bz2.compress(gzip.decompress(example.read_bytes()))
    )


def molecules_csv(name: str) -> Callable[[Path], None]:
    """40 small molecules (alkanes, alcohols, amines, chlorides, alkylbenzenes) and a target
    `Y` that grows with the chain and differs by group, as a user's CSV."""

    def write(cwd: Path) -> None:
        groups = {"": 0.0, "O": -1.0, "N": -0.8, "Cl": 0.6, "c1ccccc1": 1.9}
        rows = ["smiles,Y"]
        for head, shift in groups.items():
            for n in range(1, 9):
                rows.append(f"{'C' * n}{head},{0.5 * n + shift + 0.01 * (n % 3):.3f}")
        (cwd / name).write_text("\n".join(rows) + "\n")

    return write


def a_diabetes_export(cwd: Path) -> None:
    """The README's export, run before the command that reads it back."""
    env = _ENV[cwd]
    done = run_assay(["data", "export", "core/diabetes", "--out", "diabetes"], env, cwd)
    assert done.returncode == 0, done.stderr


RUN: dict[str, Callable[[Path], None]] = {
    "assay show core/diabetes": nothing,
    "assay data core/diabetes --size standard": nothing,
    "assay run core/diabetes -m ridge -p alpha=0.5": nothing,
    "assay run core/diabetes -m ridge -m random_forest -p ridge:alpha=0.5": nothing,
    "assay check-plugin core": nothing,
    "assay run core/diabetes -m ridge --folds 0,2": nothing,
    "assay show core/diabetes --runs": a_tracked_run,
    "assay leaderboard build --size quick --out my-boards --print": a_tracked_run,
    "assay plugin new mydomain": nothing,
    "assay list": nothing,
    "assay run breeding/genomic-prediction-h2-05 --model breeding.gblup": nothing,
    "assay run breeding/user-files --data geno.vcf.gz --set phenotypes=pheno.csv --target yield": (
        vcf_and_phenotypes
    ),
    "assay run lifesci/label-projection --data my_cells.h5ad --target cell_type --set "
    "batch=donor -m majority -m lifesci.logistic -m lifesci.knn_pca": h5ad_cells,
    "assay run lifesci/coding-regions --set genome=genome.fna --set gff=genes.gff3 -m majority "
    "-m lifesci.pyrodigal -m lifesci.kmer_logistic": genome_and_genes,
    "assay run lifesci/pbmc-annotation -m majority -m lifesci.logistic --size quick": nothing,
    "assay run materials/expt-formation-enthalpy --model materials.random_forest": nothing,
    "assay run materials/matbench-file --data matbench_mp_e_form.json.gz": matbench_file,
    "assay run materials/structure-folder --data my_structures/": structures_folder,
    "assay run materials/structure-folder --set path=my_structures/": structures_folder,
    "assay run materials/matbench-file --data matbench_expt_gap.json.bz2": a_matbench_bz2,
    "assay data export core/diabetes --out diabetes": nothing,
    "assay data export medicine/freesolv-scaffold --size quick --out freesolv": nothing,
    "assay run core/croissant -m ridge": nothing,
    "assay run medicine/csv --data my_molecules.csv --target Y": molecules_csv("my_molecules.csv"),
    "assay run medicine/csv --data my.csv --target Y": molecules_csv("my.csv"),
    "assay run core/croissant --data diabetes/croissant.json --target target -m ridge -m mean": (
        a_diabetes_export
    ),
}

CHEAP = frozenset(
    {
        "assay show core/diabetes",
        "assay list",
        "assay plugin new mydomain",
        "assay data core/diabetes --size standard",
        "assay data export core/diabetes --out diabetes",
        "assay data export medicine/freesolv-scaffold --size quick --out freesolv",
    }
)
"""The commands of RUN that train nothing: they run in the default tier (and so in CI)."""

EXCEPTIONS: dict[str, str] = {
    "assay data export core/diabetes --out DIR": SYNOPSIS,
    "assay run core/croissant-classification --data DIR/croissant.json --target LABEL "
    "-m logistic -m majority": SYNOPSIS,
    "assay suite run scenarios/standard.toml --only 'hep/*' --records leaderboards/records": LONG,
    "assay run medicine/csv --data my.csv --target Y -m medicine.dmpnn": LONG,
    'assay run materials/matbench-file --data my_task.json --target "band gap"': (
        "a user's own task with a 'band gap' column; choosing the target among several "
        "columns is tested in packages/materials/tests/test_materials_matbench_files.py"
    ),
    "assay list [--json]": SYNOPSIS,
    "assay run core/diabetes -m ridge -m mean --size quick --seeds 0,1 [--json]": SYNOPSIS,
    "assay suite run scenarios/quick.toml [--executor processes|dask] [--json] "
    "[--retry-failed] [--board DIR]": SYNOPSIS,
    "assay leaderboard build --suite scenarios/standard.toml --out leaderboards [--html]": SYNOPSIS,
    "assay export medicine/freesolv -m my-gnn --out BUNDLE": SYNOPSIS,
    "assay import BUNDLE --verify": SYNOPSIS,
    "assay campaign start|suggest|observe|status": SYNOPSIS,
    "assay evaluate core/diabetes --predictions preds.csv --name my-model": (
        "scores the reader's own predictions (preds.csv); tests/test_data_api.py runs it"
    ),
    "assay export medicine/freesolv -m my-gnn --size standard --out my-gnn-bundle": (
        "exports the reader's own tracked model; tests/test_publish.py runs export and import"
    ),
    "assay import my-gnn-bundle --verify": "the bundle the export above writes",
    "assay leaderboard build --suite scenarios/standard.toml --out leaderboards --html": (
        "imports every committed record (minutes); tests/test_records.py rebuilds boards"
    ),
    "PYTHONPATH=. assay run core/diabetes -m mymodels:Median -m ridge": (
        "the reader's own mymodels.py from the README"
    ),
    "assay run core/hartmann6-loop -m random -m ucb -m bo_qlognei --size standard": LONG,
    "assay campaign start core/diabetes-loop --policy ucb --name trial-1": (
        "a campaign: a lab's measurements come between suggest and observe; "
        "shared/tests/test_campaign.py runs the loop"
    ),
    "assay campaign suggest --campaign trial-1": "the campaign above",
    "assay campaign observe trial-1-round-0000.csv --campaign trial-1": "the campaign above",
    "assay campaign status --campaign trial-1": "the campaign above",
    "assay suite run scenarios/quick.toml --executor dask --scheduler tcp://127.0.0.1:8786": (
        "needs a running Dask scheduler; tests/deployment runs one"
    ),
    "assay suite run scenarios/standard.toml --executor dask --scheduler slurm.toml": (
        "needs a Slurm cluster"
    ),
    "assay run hep/top-tagging -m hep.bdt -m hep.particlenet": (
        "generates jets with Pythia8 and trains ParticleNet (minutes)"
    ),
    "assay suite run scenarios/standard.toml --executor processes --workers 2": LONG,
    "assay suite run scenarios/standard.toml": LONG,
    "assay run hep/jet-files -m hep.particlenet --set \"train='/data/JetClass/train_100M/*.root'\" "
    "--set \"test='/data/JetClass/test_20M/*.root'\" --set "
    '\'classes=["QCD","Tbqq","Wqq","Zqq","Hbb"]\' --set max_jets=200000': (
        "reads JetClass's 100 M jets from /data; packages/hep/tests run jet files"
    ),
    "assay run hep/jet-files -m hep.bdt --set train=train.root --set test=test.root "
    "--set fingerprint=size-mtime": (
        "the reader's own jet files; packages/hep/tests/test_hep_user_files.py runs the "
        "fingerprint option on files it writes"
    ),
    "assay run materials/emt-alloys --model materials.crystal_graph --size standard": LONG,
    "assay run materials/emt-alloys --size standard -m materials.chgnet_finetuned": LONG,
    "assay run materials/emt-alloys -m materials.chgnet_finetuned -p trainable_blocks=2 "
    "-p max_epochs=10": LONG,
    "assay run medicine/freesolv --model medicine.dmpnn": LONG,
    "assay run medicine/freesolv --model my_models:MyModel": "the reader's own my_models.py",
    "assay run quantum/error-mitigation --model random_forest --size standard": LONG,
    "assay run quantum/surface-code-decoding --model quantum.mwpm --model "
    "quantum.neural_decoder": "trains the neural decoder (minutes)",
}

_ENV: dict[Path, dict[str, str]] = {}


def test_every_readme_command_is_run_or_excepted_with_a_reason() -> None:
    commands = readme_commands()
    assert len(commands) > 30  # the READMEs were read
    unclassified = [c for c in commands if c not in RUN and c not in EXCEPTIONS]
    assert unclassified == [], "add each to RUN (with a fixture) or EXCEPTIONS (with a reason)"
    stale = [c for c in [*RUN, *EXCEPTIONS] if c not in commands]
    assert stale == [], "no longer in any README"
    assert all(reason.strip() for reason in EXCEPTIONS.values())
    assert CHEAP.issubset(RUN)


def _run_as_written(command: str, tmp_path: Path, env: dict[str, str]) -> None:
    _ENV[tmp_path] = env
    RUN[command](tmp_path)
    words = shlex.split(command)
    result = run_assay(words[1:], env, tmp_path, timeout=900)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


@pytest.mark.parametrize("command", sorted(CHEAP), ids=lambda c: c[6:70])
def test_a_cheap_readme_command_runs_as_written(
    command: str, tmp_path: Path, env: dict[str, str]
) -> None:
    _run_as_written(command, tmp_path, env)


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(set(RUN) - CHEAP), ids=lambda c: c[6:70])
def test_the_readme_command_runs_as_written(
    command: str, tmp_path: Path, env: dict[str, str]
) -> None:
    _run_as_written(command, tmp_path, env)


def test_the_fixtures_make_what_the_commands_name(tmp_path: Path) -> None:
    structures_folder(tmp_path)
    matbench_file(tmp_path)
    vcf_and_phenotypes(tmp_path)
    assert (tmp_path / "my_structures" / "targets.csv").is_file()
    with gzip.open(tmp_path / "matbench_mp_e_form.json.gz") as packed:
        assert packed.read(1)
    assert (tmp_path / "pheno.csv").read_text().startswith("id,yield")
