"""`python -m assay.cli`: the `assay` command, as before the command line became a package."""

from assay.cli.main import main

main()
