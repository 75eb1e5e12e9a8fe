"""Datasets as in-memory tensors: the built-in ones, CSV files and the generated text corpus."""
