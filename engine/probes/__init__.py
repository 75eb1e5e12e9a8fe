"""Probes: what a network does while it trains, keyed by node id (step and epoch snapshots)."""
