"""Assay life-science plugin: cell annotation, denoising and gene finding.

Importing this package is cheap: scanpy, anndata, Biopython, pyrodigal and
torch load only inside the sources and models that use them.
"""

from importlib.metadata import version

__version__ = version("assay-lifesci")
"""From the distribution's metadata: part of every run key, so it has one source."""
