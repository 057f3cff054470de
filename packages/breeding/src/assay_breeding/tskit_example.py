"""A VCF written by tskit plus a phenotype CSV: the bundled example and the tests' user files.

`python -m assay_breeding.tskit_example OUT_DIR` writes `example.vcf.gz` and
`example_phenotypes.csv` (the bundled example was made this way, seed 0).
Individuals come from one msprime population of constant size 50 (small, so
that unrelated individuals still share long haplotypes); the phenotype is a
sum of 40 additive QTL (dropped from the VCF) plus noise at h2 0.6.
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import numpy as np


def write_example(
    out_dir: Path, *, n_individuals: int = 150, seed: int = 0, h2: float = 0.6
) -> tuple[Path, Path]:
    import msprime

    ancestry = msprime.sim_ancestry(
        samples=n_individuals,
        population_size=50,
        sequence_length=1e8,
        recombination_rate=1e-8,
        random_seed=seed + 1,
    )
    ts = msprime.sim_mutations(
        ancestry, rate=5e-8, random_seed=seed + 2, model=msprime.BinaryMutationModel()
    )
    rng = np.random.default_rng(seed)
    genotypes = ts.genotype_matrix()  # sites x haplotypes
    dosage = genotypes[:, 0::2] + genotypes[:, 1::2]
    qtl = np.sort(rng.choice(ts.num_sites, size=40, replace=False))
    tbv = dosage[qtl].T.astype(float) @ rng.normal(size=len(qtl))
    noise = rng.normal(scale=np.sqrt(np.var(tbv) * (1 - h2) / h2), size=n_individuals)
    names = [f"ind{i:03d}" for i in range(n_individuals)]
    chip = ts.delete_sites(qtl)
    out_dir.mkdir(parents=True, exist_ok=True)
    vcf, csv = out_dir / "example.vcf.gz", out_dir / "example_phenotypes.csv"
    text = io.StringIO()
    chip.write_vcf(text, individual_names=names, contig_id="1")
    # mtime=0: the same example gives the same bytes
    with gzip.GzipFile(vcf, "wb", mtime=0) as handle:
        handle.write(text.getvalue().encode())
    rows = [f"{n},{y:.6f}" for n, y in zip(names, tbv + noise, strict=True)]
    csv.write_text("id,yield\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return vcf, csv


if __name__ == "__main__":
    write_example(Path(sys.argv[1]))
