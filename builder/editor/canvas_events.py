"""The canvas component's events, applied to the editor (the one source of truth, with its undo history).

One event per gesture: `{"client": id, "seq": n, "kind": ..., ...}` (the protocol is in docs/ARCHITECTURE.md,
"The canvas component"). An event already applied (same client, seq not newer) is ignored, so a repeated
delivery changes nothing. Every event is data from the browser, and applying one is total: whatever its fields
hold (wrong types, NaN or 1e300, huge lists, unknown ids, long strings, nested junk), it either applies or is
told as a one-line notice and changes nothing; it never raises. Fields are read by `builder.editor.canvas_payload`
(positions are finite and clamped to ±CANVAS_LIMIT = 1,000,000; strings at most 200 characters).

An event that changes the graph is kept only if the result loads back: the new spec goes through the loader
that restores a session (`builder.analysis.upload.loader_refusal`, the same `read_spec_upload` on the same compact
JSON that `ui/session_keep.py` saves); a spec the loader would refuse is a notice and the editor (graph,
history, selection, level) is put back as it was. The check is the parser alone, no shape analysis: linear in
the graph (about 4 ms at 200 nodes, 40 ms at 2,000 on the 2-core test machine).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.analysis.upload import loader_refusal
from builder.editor import canvas_blocks, canvas_edit
from builder.editor import canvas_payload as payload
from builder.editor.canvas_layout import take_moves
from builder.editor.canvas_payload import PayloadError
from builder.editor.session import EditorSession

PASTE_OFFSET = 40.0
KINDS = ("add", "connect", "delete", "move_end", "select", "paste", "group", "open", "expand", "undo", "redo")
NOT_DONE = {
    "add": "Not added",
    "connect": "Not connected",
    "delete": "Not deleted",
    "move_end": "Not moved",
    "select": "Not selected",
    "paste": "Not pasted",
    "group": "No block made",
    "open": "Not opened",
    "expand": "Not expanded",
    "undo": "Not undone",
    "redo": "Not redone",
}


OUTCOMES_KEPT = 32  # the newest answers the payload carries (the component waits for one gesture at a time)


@dataclass
class EventLog:
    """The newest sequence number applied per client (a client is one mount of the component), and the answers
    to the newest events taken: `acked` (applied), `refused` (with the notice), `id_map` (the component's
    temporary ids of new cards -> the ids Python chose), which the payload carries back to the component."""

    seen: dict[str, int] = field(default_factory=dict)
    applied: int = 0  # how many events were applied (tests and the debug line count them)
    outcomes: list[dict] = field(default_factory=list)  # {"client", "seq", "notice" (None: applied), "ids"}

    def answer(self, event: dict, notice: str | None, ids: dict[str, str] | None = None) -> None:
        """Record what became of a taken event (the newest OUTCOMES_KEPT are kept)."""
        self.outcomes.append({"client": event["client"], "seq": event["seq"], "notice": notice, "ids": ids or {}})
        del self.outcomes[:-OUTCOMES_KEPT]

    def answers(self) -> dict:
        """The payload's `acked` ([client, seq] pairs applied), `refused` ({client, seq, notice}) and `id_map`."""
        acked = [[o["client"], o["seq"]] for o in self.outcomes if o["notice"] is None]
        refused = [
            {"client": o["client"], "seq": o["seq"], "notice": o["notice"]} for o in self.outcomes if o["notice"]
        ]
        id_map = {temp: real for o in self.outcomes for temp, real in o["ids"].items()}
        return {"acked": acked, "refused": refused, "id_map": id_map}

    def is_new(self, event: dict) -> bool:
        """Whether the event is new; False for a repeat and for an event without a string client or an int seq."""
        client, seq = event.get("client", ""), event.get("seq")
        if not isinstance(client, str) or len(client) > payload.MAX_TEXT:
            return False
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= self.seen.get(client, 0):
            return False
        self.seen[client] = seq
        if len(self.seen) > 32:  # old mounts of the component
            del self.seen[next(iter(self.seen))]
        return True


@dataclass
class _Before:
    """The editor as it was before an event, cheaply (specs are replaced, never changed in place)."""

    fields: dict
    past: list
    future: list

    @classmethod
    def of(cls, ed: EditorSession) -> _Before:
        kept = {name: list(value) if isinstance(value, list) else value for name, value in vars(ed).items()}
        return cls(kept, list(ed.history.past), list(ed.history.future))

    def put_back(self, ed: EditorSession) -> None:
        vars(ed).update({name: list(v) if isinstance(v, list) else v for name, v in self.fields.items()})
        ed.history.past[:], ed.history.future[:] = self.past, self.future


def _known(view) -> set[str]:
    return {n.id for n in view.nodes}


def _add(ed: EditorSession, event: dict) -> None:
    op, edge = payload.text(event.get("op"), "op"), payload.optional_text(event.get("on_edge"), "on_edge")
    x, y = payload.optional_coordinate(event.get("x"), "x", 0.0), payload.optional_coordinate(event.get("y"), "y", 0.0)
    temp = payload.optional_text(event.get("temp"), "temp")
    spec, new_id, why_not = canvas_edit.add_from_palette(ed.view, op, x, y, edge)
    why_not = why_not or ed.node_cap_refusal(spec)  # a palette block adds its whole body
    if why_not:
        ed.tell("error", f"Not added: {why_not}")
        return None
    ed.commit_view(spec)
    ed.select(new_id)
    return {temp: new_id} if temp else None


def _connect(ed: EditorSession, event: dict) -> None:
    source, target = payload.text(event.get("source"), "source"), payload.text(event.get("target"), "target")
    spec, why_not = canvas_edit.connect(ed.view, source, target, payload.port(event.get("port")))
    if why_not:
        ed.tell("error", f"Not connected: {why_not}")
        return
    ed.commit_view(spec)


def _delete(ed: EditorSession, event: dict) -> None:
    view = ed.view
    nodes = payload.known_ids(event.get("nodes"), "nodes", _known(view))
    edges = payload.edge_id_list(event.get("edges"), "edges", len(view.edges))
    ed.commit_view(canvas_edit.delete_selection(view, nodes, edges))


def _move_end(ed: EditorSession, event: dict) -> None:
    view = ed.view
    positions, bad = payload.positions(event.get("positions"), _known(view))
    if positions:
        take_moves(ed, positions, layout=event.get("layout") is True)  # the component's ELK layout: no undo step
    if bad:
        ed.tell("error", "Not moved: " + "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else ""))


def _select(ed: EditorSession, event: dict) -> None:
    ed.select_many(payload.known_ids(event.get("nodes"), "nodes", _known(ed.view)))


def _paste(ed: EditorSession, event: dict) -> None:
    """Through EditorSession.paste, which refuses a paste over the node cap as a notice."""
    dx = payload.optional_coordinate(event.get("dx"), "dx", PASTE_OFFSET)
    dy = payload.optional_coordinate(event.get("dy"), "dy", PASTE_OFFSET)
    wanted = payload.known_ids(event.get("nodes"), "nodes", _known(ed.view))
    temps = payload.temp_ids(event.get("temps"), "temps", set(wanted))
    originals = [n.id for n in ed.view.nodes if n.id in set(wanted)]  # the order EditorSession.paste returns
    new_ids = ed.paste(wanted, dx, dy)
    return {temps[old]: new for old, new in zip(originals, new_ids) if old in temps}


def _group(ed: EditorSession, event: dict) -> None:
    view = ed.view
    temp = payload.optional_text(event.get("temp"), "temp")
    spec, use_id, why_not = canvas_blocks.make_block(view, payload.known_ids(event.get("nodes"), "nodes", _known(view)))
    why_not = why_not or ed.node_cap_refusal(spec)  # a block's body holds an Input per producer and an Output
    if why_not:
        ed.tell("error", why_not)
        return None
    ed.commit_view(spec)
    ed.select(use_id)
    ed.tell("success", f"made block '{spec.node(use_id).params['block']}' and its use '{use_id}'")
    return {temp: use_id} if temp else None


def _expand(ed: EditorSession, event: dict) -> None:
    spec, why_not = canvas_blocks.expand_use(ed.view, payload.text(event.get("node"), "node"))
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
    "select": _select,
    "paste": _paste,
    "group": _group,
    "open": lambda ed, e: ed.open(payload.path(e.get("path"))),
    "expand": _expand,
    "undo": lambda ed, e: ed.undo() if ed.history.can_undo else None,
    "redo": lambda ed, e: ed.redo() if ed.history.can_redo else None,
}


def shown_as_sent(ed: EditorSession, event: dict) -> bool:
    """Whether a move or a selection the browser already shows is what the editor now holds (no notice, every
    moved card within a pixel of where it was dropped): then the next picture needs no new revision. A move
    clamped or refused must be drawn again, so the card goes back to where Python keeps it."""
    if ed.notice is not None or event.get("kind") not in ("move_end", "select"):
        return False
    raw = event.get("positions") if event.get("kind") == "move_end" else {}
    if not isinstance(raw, dict):
        return False
    where = {n.id: n.ui for n in ed.view.nodes}
    for node_id, xy in raw.items():
        ui = where.get(node_id)
        if ui is not None and not _within_a_pixel(ui, xy):
            return False
    return True


def _within_a_pixel(ui: dict, xy) -> bool:
    try:
        return abs(ui.get("x", 0) - xy[0]) <= 1 and abs(ui.get("y", 0) - xy[1]) <= 1
    except (TypeError, IndexError, KeyError, OverflowError):
        return False


def apply_event(ed: EditorSession, log: EventLog, event) -> bool:
    """Apply one event from the canvas. Returns whether it was taken (False: a repeat or not an event); a
    refused one is taken, told as a notice, and changes nothing."""
    if not isinstance(event, dict) or not log.is_new(event):
        return False
    kind = event.get("kind")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        ed.tell("error", f"The canvas sent an unknown action {payload.shown(kind)}; nothing changed")
        log.answer(event, ed.notice.text)
        return True
    before = _Before.of(ed)
    try:
        ids = handler(ed, event)
    except PayloadError as err:
        before.put_back(ed)
        ed.tell("error", f"{NOT_DONE[kind]}: {err}; nothing changed")
        log.answer(event, ed.notice.text)
        return True
    refusal = loader_refusal(ed.spec) if ed.spec is not before.fields["spec"] else None
    if refusal is not None:
        before.put_back(ed)
        ed.tell("error", f"{NOT_DONE[kind]}: the result could not be saved and loaded again ({refusal})")
        log.answer(event, ed.notice.text)
        return True
    log.applied += 1
    log.answer(event, _refusal(ed, before), ids if isinstance(ids, dict) else None)
    return True


def _refusal(ed: EditorSession, before: _Before) -> str | None:
    """The notice of an event the handler refused (an error told by it, the graph unchanged), else None."""
    notice = ed.notice
    told = notice is not None and notice is not before.fields["notice"]
    if not told or notice.kind != "error" or ed.spec is not before.fields["spec"]:
        return None
    return notice.text
