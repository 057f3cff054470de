"""Evaluation: metrics, models and their predictions, protocols (how a scenario turns a model
into scores), what a model needs of the data, the statistics behind every number, and the
shared torch training loop."""
