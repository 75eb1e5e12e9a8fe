"""The Build page's canvas: the editor's graph drawn by our canvas component (`ui/canvas/`), its events applied.

Python is the one source of truth. Each gesture that changes the graph or the selection reaches the
component's callback as one event, which `builder.editor.canvas_events` applies to the editor before the canvas is
drawn again (pan, zoom and a drag in progress send nothing and rerun nothing). The picture sent back carries a
revision number: it goes up whenever the picture differs from what the component shows, which is what makes
the component replace its nodes. A move or a selection made in the browser is already shown there, so the
picture that follows it is adopted without a new revision (no echo, no jump).

Canvas first, the rest of the page next: the page draws the canvas in a fragment (`draw_canvas_fragment`), so a
gesture reruns only the canvas, which shows the new picture without waiting for Streamlit to redraw the
inspector, the problems and the summary. Each applied event raises the payload's `refresh` counter; once the
component has drawn a picture with a new counter, it sends a `refresh` event, and the fragment answers it with a
rerun of the whole page. (AppTest and a reload run the whole page anyway.) The inspector is drawn inside the
fragment, beside the canvas: a click on a card (a `select` event) reruns the fragment alone and asks for no page
run, since nothing else on the page depends on the selection; an edit made in the inspector raises `refresh` too.

Optimistic canvas: each payload carries the answers to the newest events (`acked`, `refused` with the notice,
`id_map` from the component's temporary ids to Python's; `builder.editor.canvas_events.EventLog.answers`), and
`drop_offset`, how far a palette drop's point lies from the card's top-left corner (the component draws the new
card there before Python answers).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from builder.analysis.validate import Analysis
from builder.editor.canvas_blocks import uses_of
from builder.editor.canvas_edit import CARD_HALF_HEIGHT
from builder.editor.canvas_events import EventLog, apply_event, shown_as_sent
from builder.editor.canvas_picture import palette, picture_edges, picture_nodes
from builder.editor.layout import NODE_WIDTH, layout_request
from builder.editor.session import EditorSession
from ui.build.editor_state import editor, record_run_time
from ui.canvas.component import flow_canvas

CANVAS_KEY = "build_canvas"
SYNC_KEY = "build_canvas_sync"
CANVAS_HEIGHT = 580
REFRESH = "refresh"  # the component's request for a rerun of the whole page, after it drew a new picture


@dataclass
class CanvasSync:
    """What this session's canvas has been sent, and the events applied from it."""

    rev: int = 0
    shown: str = ""  # digest of the picture the component shows now
    fit: int = 0
    adopt: bool = False  # the last event's result is on screen already: take the next picture without a new rev
    refresh: int = 0  # new events taken (refusals too): a new value asks the component for a rerun of the page
    page_wanted: bool = False  # the component asked for it: the fragment reruns the page
    version: int | None = None  # the editor's version the canvas was last drawn at
    log: EventLog = field(default_factory=EventLog)


def canvas_sync() -> CanvasSync:
    return st.session_state.setdefault(SYNC_KEY, CanvasSync())


def _pending_event(key: str):
    state = st.session_state.get(key)
    if state is None:
        return None
    return state.get("event") if hasattr(state, "get") else getattr(state, "event", None)


def take_event(ed: EditorSession, event) -> bool:
    """Apply one event from the component; whether it was new."""
    sync = canvas_sync()
    if isinstance(event, dict) and event.get("kind") == REFRESH:
        sync.page_wanted = True  # not an edit: the page outside the canvas is to be drawn again
        if sync.log.is_new(event):
            sync.log.answer(event, None)  # answered, so the component sends its next gesture
        return False
    applied = apply_event(ed, sync.log, event)
    if applied:
        sync.adopt = shown_as_sent(ed, event)  # a clamped or refused move is drawn again, where Python keeps it
        if event.get("kind") != "select" or ed.notice is not None:  # a selection shows in the fragment alone
            sync.refresh += 1
    return applied


def _on_event() -> None:
    take_event(editor(), _pending_event(CANVAS_KEY))


def theme() -> str:
    try:
        kind = st.context.theme.type
    except AttributeError:  # an older runtime, or no browser (AppTest)
        kind = None
    return "dark" if kind == "dark" else "light"


def _breadcrumb(ed: EditorSession) -> list[dict]:
    if not ed.path:
        return []
    crumbs = [{"label": ed.spec.name or "network", "path": []}]
    for i, use_id in enumerate(ed.path):
        crumbs.append({"label": use_id, "path": ed.path[: i + 1]})
    block = ed.view_block
    crumbs[-1]["label"] += f" · {block}"
    return crumbs


def _note(ed: EditorSession) -> str | None:
    block = ed.view_block
    if block is None:
        return None
    n = uses_of(ed.spec, block)
    return f"Editing block '{block}': a change here applies to all {n} use(s) of it."


def picture(ed: EditorSession, analysis: Analysis) -> dict:
    """The component's payload for the level shown (without rev and fit, which `draw_canvas` adds)."""
    view = ed.view
    return {
        "height": CANVAS_HEIGHT,
        "read_only": False,
        "theme": theme(),
        "breadcrumb": _breadcrumb(ed),
        "note": _note(ed),
        "nodes": picture_nodes(view, analysis),
        "edges": picture_edges(view, analysis),
        "selected": list(ed.selection),
        "palette": palette(),
        "can_group": True,
        "drop_offset": (NODE_WIDTH / 2, CARD_HALF_HEIGHT),
        "layout": layout_request(view),  # nodes the component lays out with ELK ("all", ids or None)
    }


def _digest(data: dict) -> str:
    return hashlib.blake2b(json.dumps(data, sort_keys=True).encode(), digest_size=16).hexdigest()


def draw_canvas(ed: EditorSession, analysis: Analysis) -> None:
    """Draw the editor's graph at the level shown; a new revision only when the picture changed."""
    sync, data = canvas_sync(), picture(ed, analysis)
    digest = _digest(data)
    if digest != sync.shown:
        sync.rev += 0 if sync.adopt else 1
        sync.shown = digest
    sync.adopt = False
    if ed.take_fit():
        sync.fit += 1
    if sync.version is not None and ed.version != sync.version and _fragment_only_run():
        sync.refresh += 1  # an edit made inside the fragment (the inspector): the page follows the canvas
    sync.version = ed.version
    answers = sync.log.answers()
    payload = {**_as_tuples({**data, **answers}), "rev": sync.rev, "fit": sync.fit, "refresh": sync.refresh}
    flow_canvas(payload, key=CANVAS_KEY, on_event=_on_event)


def _as_tuples(data: dict) -> dict:
    """The payload with its top-level lists as tuples (the same JSON arrays) and an empty dict (`id_map`) as None
    (the component reads a missing map as empty). Streamlit looks at every top-level value of a component's data
    for a dataframe, and for a list or a dict that means importing pandas, numpy and pyarrow (~0.7 s on the first
    picture of a fresh server) and scanning it on every rerun; a tuple or None it passes as it is."""
    return {key: _plain(value) for key, value in data.items()}


def _plain(value):
    if isinstance(value, list):
        return tuple(value)
    return None if isinstance(value, dict) and not value else value


@st.fragment
def draw_canvas_fragment(
    inspector: Callable[[Analysis], None] | None = None, caption: Callable[[EditorSession], str] | None = None
) -> None:
    """The canvas as a fragment: a gesture reruns only this, then (asked by the component once the new picture is
    drawn) the whole page. With `inspector`, the canvas (and its `caption`) take a wide column and the inspector
    the narrow one beside it, both inside the fragment."""
    started, sync = time.perf_counter(), canvas_sync()
    if sync.page_wanted:
        sync.page_wanted = False
        st.rerun(scope="app")
    ed = editor()
    if inspector is None:
        draw_canvas(ed, ed.view_analysis())
    else:
        canvas_column, inspector_column = st.columns([3.3, 1])
        with canvas_column:
            draw_canvas(ed, ed.view_analysis())
            if caption is not None:
                st.caption(caption(ed))
        with inspector_column:
            inspector(ed.view_analysis())
    if _fragment_only_run():
        record_run_time(started, show=False)  # the page's debug line shows it after the next page run


def _fragment_only_run() -> bool:
    """Whether this run is a fragment's alone (Streamlit says so only through its run context, not public)."""
    ctx = get_script_run_ctx()
    return bool(getattr(ctx, "fragment_ids_this_run", None))
