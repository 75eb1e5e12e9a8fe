"""Problems found in a user's graph, as data: the UI marks the node, the CLI prints the message."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fix:
    """A suggested, mechanical repair that `builder.analysis.fixes.apply_fix` can carry out.

    kind: "insert" (put a new node of `op` with `params` on the edge source -> target),
          "replace_op" (change node `target`'s op to `op`, keeping its edges),
          "remove_duplicate_edges" (keep the first edge source -> target, drop its copies).
    """

    kind: str
    description: str
    op: str
    target: str
    source: str | None = None
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Issue:
    node: str | None
    code: str
    message: str
    field: str | None = None
    fixes: tuple[Fix, ...] = ()
    severity: str = "error"

    def __str__(self) -> str:
        where = f"node '{self.node}': " if self.node else ""
        return f"{where}{self.message}"
