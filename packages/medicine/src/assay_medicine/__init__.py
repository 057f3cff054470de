"""Assay medicine plugin: molecular property benchmarks on RDKit molecules.

Importing this package is cheap: RDKit and datamol load with the plugin's
modules, torch only when the D-MPNN runs.
"""

__version__ = "0.1.0"
