"""One way to show a page's message: an error, warning or info box, or a toast for good news."""

from __future__ import annotations

import streamlit as st

BOXES = {"error": st.error, "warning": st.warning, "success": st.success, "info": st.info}


def show_message(kind: str, text: str) -> None:
    """A box coloured by `kind` ("error", "warning", "success"; anything else is shown as info)."""
    BOXES.get(kind, st.info)(text)


def show_toast(text: str) -> None:
    """Good news, once, in a corner out of the way."""
    st.toast(text, icon=":material/check_circle:")
