"""A plugin whose import fails, as a plugin with a missing dependency would."""

import assay_missing_dependency  # type: ignore[import-not-found]  # noqa: F401

plugin = None
