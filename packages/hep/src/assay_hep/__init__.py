"""Assay high-energy-physics plugin: jet tagging on jets generated with Pythia8 and FastJet."""

__version__ = "0.1.0"
