"""Where the Build page keeps its editor between reruns (one per browser session)."""

from __future__ import annotations

import time

import streamlit as st

from builder.editor.session import EditorSession
from ui.notices import show_message, show_toast

EDITOR_KEY = "build_editor"
RUN_TIMES_KEY = "run_times_ms"
RUN_COUNT_KEY = "run_count"
KEPT_RUN_TIMES = 50


def editor() -> EditorSession:
    return st.session_state.setdefault(EDITOR_KEY, EditorSession())


def show_editor_notice(ed: EditorSession) -> None:
    """The editor's last notice: good news once as a toast, a problem as a box until the next edit."""
    if ed.notice is None:
        return
    if ed.notice.kind == "success":
        show_toast(ed.notice.text)
        ed.notice = None
        return
    show_message(ed.notice.kind, ed.notice.text)


def record_run_time(started: float, show: bool = True) -> None:
    """Keep this rerun's server time (the last 50) and count the reruns; `?debug=1` in the URL shows them under
    the page (bench/bench_canvas.py reads them) when `show`."""
    run_times = st.session_state.setdefault(RUN_TIMES_KEY, [])
    run_times.append(round((time.perf_counter() - started) * 1000, 1))
    del run_times[:-KEPT_RUN_TIMES]
    count = st.session_state[RUN_COUNT_KEY] = st.session_state.get(RUN_COUNT_KEY, 0) + 1
    if show and st.query_params.get("debug"):
        st.caption(f"reruns: {count} · server ms: {', '.join(str(ms) for ms in run_times[-20:])}")
