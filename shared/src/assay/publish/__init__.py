"""Publishing: leaderboards built from MLflow runs, the static site, run records and bundles,
scenario summaries, the results text of the READMEs and its checks, and Croissant exports."""
