"""Assay materials plugin: formation energies of compounds and alloys.

Importing this package is cheap: pymatgen and ASE load inside the sources
and featurizers that use them, torch and CHGNet only when those models run.
"""

__version__ = "0.1.0"
