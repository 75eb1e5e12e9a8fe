"""Validation and shape inference, reading an uploaded spec, the Fixes of problems, and the summary figures."""
