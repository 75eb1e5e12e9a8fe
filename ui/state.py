"""Where the Build page keeps its editor between reruns (one per browser session)."""

from __future__ import annotations

import time

import streamlit as st

from builder.session import EditorSession

EDITOR_KEY = "build_editor"
RUN_TIMES_KEY = "run_times_ms"
KEPT_RUN_TIMES = 50


def editor() -> EditorSession:
    return st.session_state.setdefault(EDITOR_KEY, EditorSession())


def show_notice(ed: EditorSession) -> None:
    if ed.notice is None:
        return
    if ed.notice.kind == "success":  # good news is shown once, in a corner, out of the way
        st.toast(ed.notice.text, icon=":material/check_circle:")
        ed.notice = None
        return
    show = {"error": st.error, "warning": st.warning, "success": st.success}.get(ed.notice.kind, st.info)
    show(ed.notice.text)


def record_run_time(started: float) -> None:
    """Keep this rerun's server time (the last 50); `?debug=1` in the URL shows them under the page."""
    run_times = st.session_state.setdefault(RUN_TIMES_KEY, [])
    run_times.append(round((time.perf_counter() - started) * 1000, 1))
    del run_times[:-KEPT_RUN_TIMES]
    st.session_state["run_count"] = st.session_state.get("run_count", 0) + 1
    if st.query_params.get("debug"):
        st.caption(f"reruns: {st.session_state['run_count']} · server ms: {', '.join(map(str, run_times[-20:]))}")
