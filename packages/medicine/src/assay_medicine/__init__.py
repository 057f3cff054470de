"""Assay medicine plugin: molecular property benchmarks on RDKit molecules.

Importing this package is cheap: RDKit and datamol load with the plugin's
modules, torch only when the D-MPNN runs.
"""

from importlib.metadata import version

__version__ = version("assay-medicine")
"""From the distribution's metadata: part of every run key, so it has one source."""
