"""The Build page: canvas (with its palette), inspector, problems and summary. Glue only: state in, builder, draw.

A gesture on the canvas reaches `ui.build.canvas` as one event, applied to the editor by the component's
callback; the canvas (a fragment) is drawn again first, then the whole page (`ui.build.canvas` says how).
"""

from __future__ import annotations

import time

import streamlit as st

from ui.build.canvas import draw_canvas_fragment
from ui.build.editor_state import editor, record_run_time, show_editor_notice
from ui.build.inspector import draw_inspector
from ui.build.panels import draw_problems, draw_summary
from ui.build.toolbar import draw_toolbar

HOW_TO = (
    "Drag a layer from the palette onto the canvas (or onto an edge to insert it) · drag from a node's right "
    "handle to another's input port to connect · Delete removes the selection · Ctrl+Z / Ctrl+Shift+Z undo and "
    "redo · Ctrl+C / Ctrl+V copy and paste · shift-click or shift-drag to select several."
)

started = time.perf_counter()
ed = editor()
analysis = ed.analysis()
view_analysis = ed.view_analysis()

st.header("Build a network", divider="gray")
draw_toolbar()
show_editor_notice(ed)
canvas_column, inspector_column = st.columns([3.3, 1])
with canvas_column:
    draw_canvas_fragment()
    ok = "valid" if analysis.ok else f"{len(analysis.issues)} problem(s)"
    st.caption(
        f"{len(ed.spec.nodes)} nodes · {len(ed.spec.edges)} edges · {analysis.total_params:,} parameters · "
        f"{ok}. {HOW_TO}"
    )
with inspector_column:
    draw_inspector(view_analysis)
problems_column, summary_column = st.columns(2)
with problems_column:
    draw_problems(analysis)
with summary_column:
    draw_summary(analysis)

record_run_time(started)
