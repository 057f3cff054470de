"""Assay breeding plugin: genomic prediction on simulated breeding populations and your VCF/PLINK.

Importing this package is cheap: msprime, tskit and scikit-allel load only when a
population is simulated or a file is read, torch only when the MLP runs.
"""

from importlib.metadata import version

__version__ = version("assay-breeding")
"""From the distribution's metadata: part of every run key, so it has one source."""
