"""Undo and redo for the editor: a bounded stack of spec snapshots (deep-copied plain dicts)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from builder.spec.spec import GraphSpec, parse_spec

DEFAULT_LIMIT = 50


def _restore(snapshot: dict) -> GraphSpec:
    return parse_spec(snapshot)[0]


@dataclass
class History:
    limit: int = DEFAULT_LIMIT
    past: list[dict] = field(default_factory=list)
    future: list[dict] = field(default_factory=list)

    def record(self, before: GraphSpec) -> None:
        """Call with the spec as it was before an edit; the edit then becomes undoable."""
        self.past.append(copy.deepcopy(before.to_dict()))
        del self.past[: -self.limit]
        self.future.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self.past)

    @property
    def can_redo(self) -> bool:
        return bool(self.future)

    def undo(self, current: GraphSpec) -> GraphSpec:
        if not self.past:
            return current
        self.future.append(copy.deepcopy(current.to_dict()))
        return _restore(self.past.pop())

    def redo(self, current: GraphSpec) -> GraphSpec:
        if not self.future:
            return current
        self.past.append(copy.deepcopy(current.to_dict()))
        return _restore(self.future.pop())
