"""Assay life-science plugin: cell annotation, denoising and gene finding.

Importing this package is cheap: scanpy, anndata, Biopython, pyrodigal and
torch load only inside the sources and models that use them.
"""

__version__ = "0.1.0"
