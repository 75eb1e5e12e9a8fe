"""Runs: the store, the worker process per run, checkpoints and the bundles a run leaves."""
