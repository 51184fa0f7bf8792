"""Datasets: one example schema, real loaders, synthetic generators, answer normalisation."""
