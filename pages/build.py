"""The Build page: palette, canvas, inspector, problems and summary. Glue only: state in, builder, draw."""

from __future__ import annotations

import time

import streamlit as st

from builder.validate import analyze
from ui.canvas import draw_canvas, take_canvas_event
from ui.inspector import draw_inspector
from ui.palette import draw_palette
from ui.panels import draw_problems, draw_summary
from ui.state import editor, record_run_time, show_notice
from ui.toolbar import draw_toolbar

started = time.perf_counter()
ed = editor()
event = take_canvas_event()
if event is not None:
    ed.apply_canvas(event.base, event.seen, event.clicked)
analysis = analyze(ed.spec)

with st.sidebar:
    draw_palette()

st.header("Build a network", divider="gray")
draw_toolbar()
show_notice(ed)
canvas_column, inspector_column = st.columns([3.3, 1])
with canvas_column:
    draw_canvas(ed.spec, analysis, ed.selected, fit=ed.take_fit())
    ok = "valid" if analysis.ok else f"{len(analysis.issues)} problem(s)"
    st.caption(
        f"{len(ed.spec.nodes)} nodes · {len(ed.spec.edges)} edges · {analysis.total_params:,} parameters · "
        f"{ok}. Drag from a node's right handle to another's left handle to connect; right-click a node "
        "or an edge to delete it."
    )
with inspector_column:
    draw_inspector(analysis)
problems_column, summary_column = st.columns(2)
with problems_column:
    draw_problems(analysis)
with summary_column:
    draw_summary(analysis)

record_run_time(started)
