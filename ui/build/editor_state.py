"""Where the Build page keeps its editor between reruns (one per browser session)."""

from __future__ import annotations

import time

import streamlit as st

from builder.session import EditorSession
from ui.notices import show_message, show_toast

EDITOR_KEY = "build_editor"
RUN_TIMES_KEY = "run_times_ms"
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


def record_run_time(started: float, kind: str) -> None:
    """Keep this rerun's server time (the last 50): kind "page" (the whole page) or "canvas" (the canvas
    fragment alone). `?debug=1` in the URL shows them under the page."""
    run_times = st.session_state.setdefault(RUN_TIMES_KEY, [])
    run_times.append((kind, round((time.perf_counter() - started) * 1000, 1)))
    del run_times[:-KEPT_RUN_TIMES]
    counts = st.session_state.setdefault("run_counts", {"page": 0, "canvas": 0})
    counts[kind] += 1
    if kind == "page" and st.query_params.get("debug"):
        shown = ", ".join(f"{k[0]}{ms}" for k, ms in run_times[-20:])
        st.caption(f"reruns: {counts['page']} page, {counts['canvas']} canvas only · server ms: {shown}")
