"""Errors the engine raises for things a user got wrong.

Each message is one line that names the dataset, file, column, row, field or node it is about and says
what was expected; the CLI prints it and exits 2, the UI shows it. Our own bugs raise or assert instead.
"""

from __future__ import annotations


class NetCanvasError(Exception):
    """Base of every user-facing engine error (catch this to report any of them)."""


class DataError(NetCanvasError):
    """A dataset cannot be loaded or does not fit the network (unknown name, bad CSV, shape mismatch)."""


class ConfigError(NetCanvasError):
    """A training configuration or device request cannot be carried out."""


class BundleError(NetCanvasError):
    """A run bundle directory is missing a file or holds a corrupt one."""


class SpecInvalid(NetCanvasError):
    """A GraphSpec that cannot be compiled; `issues` holds the builder Issues (each names its node).

    str() is the first error, e.g. "node 'fc2': Linear expects [features] ...", ready for a one-line message.
    """

    def __init__(self, issues: list):
        self.issues = list(issues)
        errors = [i for i in self.issues if getattr(i, "severity", "error") == "error"] or self.issues
        super().__init__(str(errors[0]) if errors else "invalid spec")
