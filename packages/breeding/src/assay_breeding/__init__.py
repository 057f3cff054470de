"""Assay breeding plugin: genomic prediction on simulated breeding populations and your VCF/PLINK.

Importing this package is cheap: msprime, tskit and scikit-allel load only when a
population is simulated or a file is read, torch only when the MLP runs.
"""

__version__ = "0.1.0"
