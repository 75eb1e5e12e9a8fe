"""Where the Build page keeps its editor between reruns (one per browser session)."""

from __future__ import annotations

import streamlit as st

from builder.session import EditorSession

EDITOR_KEY = "build_editor"


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
