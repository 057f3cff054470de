"""Assay materials plugin: formation energies of compounds and alloys.

Importing this package is cheap: pymatgen and ASE load inside the sources
and featurizers that use them, torch and CHGNet only when those models run.
"""

from importlib.metadata import version

__version__ = version("assay-materials")
"""From the distribution's metadata: part of every run key, so it has one source."""
