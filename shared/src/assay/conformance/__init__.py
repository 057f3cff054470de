"""The conformance kit: the checks every plugin must pass (`checks`), and the pytest plugin
that runs them for any project declaring an `assay.plugins` entry point."""
