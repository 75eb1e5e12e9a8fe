"""Templates, built-in blocks and datasets, and the gallery's tags."""
