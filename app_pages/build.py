"""The Build page: canvas (with its palette), inspector, problems and summary. Glue only: state in, builder, draw.

A gesture on the canvas reaches `ui.build.canvas` as one event, applied to the editor by the component's
callback; the canvas and the inspector beside it (one fragment) are drawn again first, then the whole page
(`ui.build.canvas` says how); a click on a card reruns the fragment alone.
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


def canvas_caption(ed) -> str:
    """The line under the canvas: the network's size, whether it is valid, how to draw."""
    analysis = ed.analysis()
    ok = "valid" if analysis.ok else f"{len(analysis.issues)} problem(s)"
    return (
        f"{len(ed.spec.nodes)} nodes · {len(ed.spec.edges)} edges · {analysis.total_params:,} parameters · "
        f"{ok}. {HOW_TO}"
    )


started = time.perf_counter()
ed = editor()
analysis = ed.analysis()

st.header("Build a network", divider="gray")
draw_toolbar()
show_editor_notice(ed)
draw_canvas_fragment(draw_inspector, canvas_caption)  # the inspector beside the canvas, in its fragment
problems_column, summary_column = st.columns(2)
with problems_column:
    draw_problems(analysis)
with summary_column:
    draw_summary(analysis)

record_run_time(started)
