"""Assay quantum plugin: error mitigation, surface-code decoding and QML scenarios on simulators."""

__version__ = "0.1.0"
