"""Merging what the user did on the canvas into the GraphSpec, which stays the single source of truth.

The canvas reports its whole state (node positions, wired pairs), not the user's actions. Comparing that
report with the view the canvas was last given (`base`) tells what the user did there: moved nodes,
deleted nodes or edges (context menu), new edges (dragged from handle to handle). Those actions are then
replayed on the current spec, so an edit made in Python meanwhile (a button, an undo) is kept rather than
overwritten by a stale canvas report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from builder import edit
from builder.spec import GraphSpec

MOVE_TOLERANCE = 1.0  # pixels; smaller differences are rounding, not a drag


@dataclass(frozen=True)
class CanvasView:
    """What a canvas shows, in the canvas component's terms stripped to the graph: ids, places, wires."""

    positions: dict[str, tuple[float, float]]
    edges: tuple[tuple[str, str], ...]


@dataclass
class CanvasChanges:
    removed_nodes: list[str] = field(default_factory=list)
    removed_edges: list[tuple[str, str]] = field(default_factory=list)
    added_edges: list[tuple[str, str]] = field(default_factory=list)
    moved: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.removed_nodes or self.removed_edges or self.added_edges or self.moved)


def view_of(spec: GraphSpec) -> CanvasView:
    positions = {n.id: (float(n.ui.get("x", 0)), float(n.ui.get("y", 0))) for n in spec.nodes}
    return CanvasView(positions, tuple((e.source, e.target) for e in spec.edges))


def _moved(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) >= MOVE_TOLERANCE or abs(a[1] - b[1]) >= MOVE_TOLERANCE


def canvas_changes(base: CanvasView, seen: CanvasView) -> CanvasChanges:
    """What the user did, given the view the canvas was given (`base`) and the one it reports (`seen`)."""
    removed_nodes = [n for n in base.positions if n not in seen.positions]
    gone = set(removed_nodes)
    base_edges = Counter(e for e in base.edges if not gone & set(e))
    seen_edges = Counter(seen.edges)
    moved = {n: pos for n, pos in seen.positions.items() if n in base.positions and _moved(pos, base.positions[n])}
    return CanvasChanges(
        removed_nodes=removed_nodes,
        removed_edges=list((base_edges - seen_edges).elements()),
        added_edges=list((seen_edges - base_edges).elements()),
        moved=moved,
    )


def apply_canvas_changes(spec: GraphSpec, changes: CanvasChanges) -> tuple[GraphSpec, list[str]]:
    """Replay the user's canvas actions on `spec`. Returns (new spec, notes on actions refused)."""
    out, notes = spec, []
    for node_id in changes.removed_nodes:
        if out.node(node_id) is not None:
            out = edit.delete_node(out, node_id)
    for source, target in changes.removed_edges:
        out = edit.delete_edge(out, source, target)
    for source, target in changes.added_edges:
        out, why_not = edit.add_edge(out, source, target)
        if why_not:
            notes.append(f"connection {source} -> {target} not made: {why_not}")
    current = view_of(out).positions
    moved = {n: pos for n, pos in changes.moved.items() if n in current and _moved(pos, current[n])}
    if moved:
        out = edit.move_nodes(out, moved)
    return out, notes
