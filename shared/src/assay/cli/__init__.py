"""The `assay` command line (Typer + Rich): `main` holds the app and its commands, the other
modules one command group each, `helpers` what they share."""
