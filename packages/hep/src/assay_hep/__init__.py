"""Assay high-energy-physics plugin: jet tagging on jets generated with Pythia8 and FastJet."""

from importlib.metadata import version

__version__ = version("assay-hep")
"""From the distribution's metadata: part of every run key, so it has one source."""
