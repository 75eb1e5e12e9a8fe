"""The canvas component's events, applied to the editor (the one source of truth, with its undo history).

One event per gesture: `{"client": id, "seq": n, "kind": ..., ...}` (the protocol is in docs/ARCHITECTURE.md,
"The canvas component"). An event already applied (same client, seq not newer) is ignored, so a repeated
delivery changes nothing. A malformed event is told as a notice and changes nothing: it is data from the
browser, not a reason to fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder import canvas_blocks, canvas_edit
from builder.edit import move_nodes
from builder.session import EditorSession

PASTE_OFFSET = 40.0
KINDS = ("add", "connect", "delete", "move_end", "select", "paste", "group", "open", "expand", "undo", "redo")


@dataclass
class EventLog:
    """The newest sequence number applied per client (a client is one mount of the component)."""

    seen: dict[str, int] = field(default_factory=dict)
    applied: int = 0  # how many events were applied (tests and the debug line count them)

    def is_new(self, event: dict) -> bool:
        client, seq = str(event.get("client", "")), event.get("seq")
        if not isinstance(seq, int) or seq <= self.seen.get(client, 0):
            return False
        self.seen[client] = seq
        if len(self.seen) > 32:  # old mounts of the component
            del self.seen[next(iter(self.seen))]
        return True


def _ids(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _number(value, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _add(ed: EditorSession, event: dict) -> None:
    op, edge = event.get("op"), event.get("on_edge")
    x, y = _number(event.get("x")), _number(event.get("y"))
    spec, new_id, why_not = canvas_edit.add_from_palette(
        ed.view, str(op), x, y, edge if isinstance(edge, str) else None
    )
    if why_not:
        ed.tell("error", f"Not added: {why_not}")
        return
    ed.commit_view(spec)
    ed.select(new_id)


def _connect(ed: EditorSession, event: dict) -> None:
    port = event.get("port")
    port = port if isinstance(port, int) and not isinstance(port, bool) else None
    spec, why_not = canvas_edit.connect(ed.view, str(event.get("source")), str(event.get("target")), port)
    if why_not:
        ed.tell("error", f"Not connected: {why_not}")
        return
    ed.commit_view(spec)


def _delete(ed: EditorSession, event: dict) -> None:
    ed.commit_view(canvas_edit.delete_selection(ed.view, _ids(event.get("nodes")), _ids(event.get("edges"))))


def _move_end(ed: EditorSession, event: dict) -> None:
    raw = event.get("positions")
    view = ed.view
    positions = {
        node_id: (_number(xy[0]), _number(xy[1]))
        for node_id, xy in (raw.items() if isinstance(raw, dict) else [])
        if view.node(node_id) is not None and isinstance(xy, list | tuple) and len(xy) == 2
    }
    if positions:
        ed.commit_view(move_nodes(view, positions))


def _paste(ed: EditorSession, event: dict) -> None:
    dx, dy = _number(event.get("dx"), PASTE_OFFSET), _number(event.get("dy"), PASTE_OFFSET)
    spec, new_ids = canvas_edit.paste(ed.view, _ids(event.get("nodes")), dx, dy)
    if new_ids:
        ed.commit_view(spec)
        ed.select_many(new_ids)


def _group(ed: EditorSession, event: dict) -> None:
    spec, use_id, why_not = canvas_blocks.make_block(ed.view, _ids(event.get("nodes")))
    if why_not:
        ed.tell("error", why_not)
        return
    ed.commit_view(spec)
    ed.select(use_id)
    ed.tell("success", f"made block '{spec.node(use_id).params['block']}' and its use '{use_id}'")


def _expand(ed: EditorSession, event: dict) -> None:
    spec, why_not = canvas_blocks.expand_use(ed.view, str(event.get("node")))
    if why_not:
        ed.tell("error", why_not)
        return
    ed.commit_view(spec)
    ed.select(None)


HANDLERS = {
    "add": _add,
    "connect": _connect,
    "delete": _delete,
    "move_end": _move_end,
    "select": lambda ed, e: ed.select_many(_ids(e.get("nodes"))),
    "paste": _paste,
    "group": _group,
    "open": lambda ed, e: ed.open(_ids(e.get("path"))),
    "expand": _expand,
    "undo": lambda ed, e: ed.undo() if ed.history.can_undo else None,
    "redo": lambda ed, e: ed.redo() if ed.history.can_redo else None,
}


def apply_event(ed: EditorSession, log: EventLog, event) -> bool:
    """Apply one event from the canvas. Returns whether it was applied (False: a repeat or not an event)."""
    if not isinstance(event, dict) or not log.is_new(event):
        return False
    handler = HANDLERS.get(event.get("kind"))
    if handler is None:
        ed.tell("error", f"The canvas sent an unknown action {str(event.get('kind'))[:40]!r}; nothing changed")
        return True
    handler(ed, event)
    log.applied += 1
    return True
