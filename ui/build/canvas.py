"""The one adapter around the canvas component (streamlit-flow-component, React Flow).

Nothing else imports `streamlit_flow`. Python owns the truth (the GraphSpec in the editor session); the
component only shows it and reports what the user did:

- `take_canvas_event` reads the component's last report from `st.session_state` at the top of a rerun
  (before anything is drawn), turns it into a `CanvasView` and says which view the canvas had been given
  (`base`, identified by the `rev` each node carries in its data), so the editor can replay the user's
  actions on the current spec.
- `draw_canvas` renders the spec. The component keeps its own copy of the graph and takes new nodes
  from Python only when the state's timestamp is newer than its own last update, so a new timestamp is
  sent exactly when the picture differs from what the component already shows (its signature).

The component's clock is the browser's: the timestamp sent is at least one more than the newest one it
reported, so a server clock behind the browser's cannot make it ignore a new picture. After a load (a
template, a file) the canvas is asked to fit the graph into view for a moment, while its echoes return.

Keyboard deletion is off: nodes and edges are not selectable inside React Flow, so Backspace/Delete have
nothing to delete (the component would delete without telling Python). Deleting works through the
right-click menu (reported to Python) and the inspector.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field

import streamlit as st
from streamlit_flow import streamlit_flow
from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.state import StreamlitFlowState

from builder.catalog import CATALOG
from builder.layout import NODE_WIDTH
from builder.opdef import fmt
from builder.spec import GraphSpec
from builder.sync import CanvasView, view_of
from builder.validate import Analysis

CANVAS_KEY = "build_canvas"
SYNC_KEY = "build_canvas_sync"
CANVAS_HEIGHT = 560
FIT_SECONDS = 2.0  # after a load, keep asking the canvas to fit while its echoes come back
KEPT_BASES = 12

GROUP_COLOURS = {
    "io": "#2e7d32",
    "dense": "#1565c0",
    "normalisation": "#00838f",
    "convolution": "#6a1b9a",
    "activation": "#ef6c00",
    "recurrent": "#ad1457",
    "merge": "#4e342e",
    "attention": "#283593",
    "unsupervised": "#558b2f",
}
ERROR_RED = "#d32f2f"
SELECTED_BLUE = "#1976d2"


@dataclass
class CanvasSync:
    """What this session's canvas component has been sent and has reported."""

    rev: int = 0
    timestamp: int = 0
    seen_timestamp: int = 0
    shown: tuple | None = None  # signature of the picture the component shows now
    bases: dict[int, CanvasView] = field(default_factory=dict)
    fit_until: float = 0.0


@dataclass(frozen=True)
class CanvasEvent:
    base: CanvasView | None  # the view the canvas had been given (None: not known any more)
    seen: CanvasView  # the view it reports now
    clicked: str | None  # id of the node the user clicked, if this report is a click


def _sync() -> CanvasSync:
    return st.session_state.setdefault(SYNC_KEY, CanvasSync())


# -- what the component reports ------------------------------------------------------------------


def _view_from_report(report: dict) -> CanvasView:
    positions = {
        n["id"]: (float(n.get("position", {}).get("x", 0)), float(n.get("position", {}).get("y", 0)))
        for n in report.get("nodes", [])
    }
    return CanvasView(positions, tuple((e["source"], e["target"]) for e in report.get("edges", [])))


def _signature(nodes: list[dict], edges: list[dict]) -> tuple:
    """The parts of a picture the user can see, positions rounded to whole pixels."""
    node_part = tuple(
        (
            n["id"],
            n.get("type"),
            n.get("data", {}).get("content"),
            tuple(sorted(n.get("style", {}).items())),
            round(n.get("position", {}).get("x", 0)),
            round(n.get("position", {}).get("y", 0)),
        )
        for n in nodes
    )
    edge_part = tuple((e["id"], e["source"], e["target"], e.get("label", "")) for e in edges)
    return node_part, edge_part


def take_canvas_event() -> CanvasEvent | None:
    """The component's newest report, once; None when there is nothing new."""
    report, sync = st.session_state.get(CANVAS_KEY), _sync()
    if not isinstance(report, dict) or report.get("timestamp", 0) <= sync.seen_timestamp:
        return None
    sync.seen_timestamp = report["timestamp"]
    seen = _view_from_report(report)
    revs = {n.get("data", {}).get("rev") for n in report.get("nodes", [])}
    rev = revs.pop() if len(revs) == 1 else None
    base = sync.bases.get(rev)
    if rev in sync.bases:
        sync.bases[rev] = seen  # the canvas now shows this, until Python sends a new picture
    sync.shown = _signature(report.get("nodes", []), report.get("edges", []))
    return CanvasEvent(base, seen, report.get("selectedId") if report.get("selectedId") in seen.positions else None)


# -- what Python draws -----------------------------------------------------------------------------


def _key_params(op_name: str, params: dict) -> str:
    """The op's key parameters, leaving out optional ones still at their default."""
    op = CATALOG.get(op_name)
    if op is None:
        return ""
    parts = []
    for name in op.key_params:
        value, param = params.get(name), op.param(name)
        if value is None or (param is not None and not param.required and value == param.default):
            continue
        shown = fmt(value) if isinstance(value, list | tuple) else str(value).lower()
        parts.append(f"{name}={shown}")
    return " · ".join(parts)


def _card(node, analysis: Analysis, issues: list) -> str:
    """The node's face: id, op, key parameters, output shape, parameter count, first problem."""
    shape = analysis.shapes.get(node.id)
    count = analysis.param_counts.get(node.id, 0)
    params = analysis.params.get(node.id, node.params)
    colour = GROUP_COLOURS.get(CATALOG[node.op].group, "#555") if node.op in CATALOG else ERROR_RED
    lines = [
        f'<div style="display:flex;justify-content:space-between;gap:6px"><b>{html.escape(node.id)}</b>'
        f'<span style="color:{colour};font-weight:600">{html.escape(node.op)}</span></div>',
    ]
    key = _key_params(node.op, params)
    if key:
        lines.append(f'<div style="color:#555;font-size:11px">{html.escape(key)}</div>')
    out = fmt(shape) if shape is not None else "?"
    shown_count = f'<span style="color:#777">{count:,} p</span>' if count else ""
    lines.append(
        f'<div style="display:flex;justify-content:space-between;font-family:monospace;font-size:12px">'
        f"<span>&#8594; {out}</span>{shown_count}</div>"
    )
    if issues:
        lines.append(
            f'<div style="color:{ERROR_RED};font-size:11px">&#9888; {html.escape(_short(issues[0].message))}'
            f"{f' (+{len(issues) - 1})' if len(issues) > 1 else ''}</div>"
        )
    tooltip = "\n".join(i.message for i in issues) or (CATALOG[node.op].doc if node.op in CATALOG else "")
    return (
        f'<div title="{html.escape(tooltip, quote=True)}" style="text-align:left;line-height:1.3;'
        f'font-size:13px">{"".join(lines)}</div>'
    )


def _short(message: str, limit: int = 70) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _node_style(node, has_issue: bool, selected: bool) -> dict:
    colour = GROUP_COLOURS.get(CATALOG[node.op].group, "#555") if node.op in CATALOG else ERROR_RED
    style = {
        "width": f"{NODE_WIDTH}px",
        "height": "auto",
        "padding": "6px 8px",
        "borderRadius": "6px",
        "border": f"1px solid {colour}",
        "borderLeft": f"6px solid {colour}",
        "background": "#ffffff",
    }
    if has_issue:
        style.update(border=f"2px solid {ERROR_RED}", borderLeft=f"6px solid {ERROR_RED}", background="#fdecea")
    if selected:
        style.update(boxShadow=f"0 0 0 4px {SELECTED_BLUE}66", outline=f"2px solid {SELECTED_BLUE}")
    return style


def _flow_nodes(spec: GraphSpec, analysis: Analysis, selected: str | None) -> list[StreamlitFlowNode]:
    issues_of: dict[str, list] = {}
    for issue in analysis.issues:
        issues_of.setdefault(issue.node, []).append(issue)
    return [
        StreamlitFlowNode(
            node.id,
            (float(node.ui.get("x", 0)), float(node.ui.get("y", 0))),
            {"content": _card(node, analysis, issues_of.get(node.id, []))},
            node_type="input" if node.op == "Input" else "default",
            source_position="right",
            target_position="left",
            draggable=True,
            selectable=False,
            connectable=True,
            deletable=True,
            style=_node_style(node, node.id in issues_of, node.id == selected),
        )
        for node in spec.nodes
    ]


def _flow_edges(spec: GraphSpec, analysis: Analysis) -> list[StreamlitFlowEdge]:
    edges, used = [], {}
    for e in spec.edges:
        base_id = f"{e.source}->{e.target}"
        used[base_id] = used.get(base_id, 0) + 1
        shape = analysis.shapes.get(e.source)
        edges.append(
            StreamlitFlowEdge(
                base_id if used[base_id] == 1 else f"{base_id}#{used[base_id]}",
                e.source,
                e.target,
                edge_type="smoothstep",
                marker_end={"type": "arrowclosed"},
                deletable=True,
                focusable=False,
                label=fmt(shape) if shape is not None else "?",
                label_show_bg=True,
                label_style={"fontSize": "11px", "fontFamily": "monospace"},
                label_bg_style={"fill": "#ffffff", "fillOpacity": 0.9},
                style={"strokeWidth": 1.5},
                selectable=False,
            )
        )
    return edges


def draw_canvas(spec: GraphSpec, analysis: Analysis, selected: str | None, fit: bool) -> None:
    """Show the spec; sends it to the component only when the picture changed."""
    sync = _sync()
    nodes, edges = _flow_nodes(spec, analysis, selected), _flow_edges(spec, analysis)
    picture = _signature([n.asdict() for n in nodes], [e.asdict() for e in edges])
    if picture != sync.shown:
        sync.rev += 1
        sync.timestamp = max(int(time.time() * 1000), sync.seen_timestamp + 1, sync.timestamp + 1)
        sync.shown = picture
        sync.bases[sync.rev] = view_of(spec)
        for old in sorted(sync.bases)[:-KEPT_BASES]:
            del sync.bases[old]
    for n in nodes:
        n.data["rev"] = sync.rev
    if fit:
        sync.fit_until = time.time() + FIT_SECONDS
    state = StreamlitFlowState(nodes, edges, timestamp=sync.timestamp)
    streamlit_flow(
        CANVAS_KEY,
        state,
        height=CANVAS_HEIGHT,
        fit_view=time.time() < sync.fit_until,
        show_controls=True,
        allow_new_edges=True,
        get_node_on_click=True,
        get_edge_on_click=False,
        enable_node_menu=True,
        enable_edge_menu=True,
        enable_pane_menu=False,
        hide_watermark=True,
        min_zoom=0.1,
    )
