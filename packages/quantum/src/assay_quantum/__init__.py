"""Assay quantum plugin: error mitigation, surface-code decoding and QML scenarios on simulators."""

from importlib.metadata import version

__version__ = version("assay-quantum")
"""From the distribution's metadata: part of every run key, so it has one source."""
