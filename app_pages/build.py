"""The Build page: palette, canvas, inspector, problems and summary. Glue only: state in, builder, draw.

The canvas sits in a fragment: its reports that change nothing (the component echoes every picture it is
sent) rerun only the canvas; a report that changes the graph or the selection reruns the whole page.
"""

from __future__ import annotations

import time

import streamlit as st

from ui.build.canvas import draw_canvas, take_canvas_event
from ui.build.editor_state import editor, record_run_time, show_editor_notice
from ui.build.inspector import draw_inspector
from ui.build.palette import draw_palette
from ui.build.panels import draw_problems, draw_summary
from ui.build.toolbar import draw_toolbar

HOW_TO = (
    "Drag from a node's right handle to another's left handle to connect; right-click a node or an edge to "
    "delete it; scroll to zoom."
)


@st.fragment
def canvas_area() -> None:
    started, ed = time.perf_counter(), editor()
    event = take_canvas_event()  # in a full rerun the page has taken it already
    if event is not None and ed.apply_canvas(event.base, event.seen, event.clicked):
        st.rerun()  # the inspector, the problems and the summary follow the change
    analysis = ed.analysis()
    draw_canvas(ed.spec, analysis, ed.selected, fit=ed.take_fit())
    ok = "valid" if analysis.ok else f"{len(analysis.issues)} problem(s)"
    st.caption(
        f"{len(ed.spec.nodes)} nodes · {len(ed.spec.edges)} edges · {analysis.total_params:,} parameters · "
        f"{ok}. {HOW_TO}"
    )
    if event is not None:
        record_run_time(started, "canvas")


started = time.perf_counter()
ed = editor()
event = take_canvas_event()
if event is not None:
    ed.apply_canvas(event.base, event.seen, event.clicked)
analysis = ed.analysis()

with st.sidebar:
    draw_palette()

st.header("Build a network", divider="gray")
draw_toolbar()
show_editor_notice(ed)
canvas_column, inspector_column = st.columns([3.3, 1])
with canvas_column:
    canvas_area()
with inspector_column:
    draw_inspector(analysis)
problems_column, summary_column = st.columns(2)
with problems_column:
    draw_problems(analysis)
with summary_column:
    draw_summary(analysis)

record_run_time(started, "page")
