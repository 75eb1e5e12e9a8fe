"""The Build page's toolbar: the network's name, undo/redo, auto-layout, clear, save, open a file, and the
templates gallery (drawn by ui/build/gallery.py; loading a template is here)."""

from __future__ import annotations

import re

import streamlit as st

from builder.analysis.upload import MAX_UPLOAD_BYTES, read_spec_upload
from builder.library.templates import TEMPLATES
from builder.spec.spec import GraphSpec
from ui.build.editor_state import editor
from ui.build.gallery import close_gallery, draw_gallery, gallery_is_open, open_gallery
from ui.build.panels import draw_name

UPLOAD_KEY = "open_file"
LAZY_SAVE_NODES = 50  # bigger graphs are turned into JSON when Save is clicked, not on every rerun


def _on_upload() -> None:
    ed = editor()
    uploaded = st.session_state.get(f"{UPLOAD_KEY}_{ed.version}")
    if uploaded is None:
        return
    spec, error = read_spec_upload(uploaded.name, uploaded.getvalue())
    if error:
        ed.tell("error", f"Not loaded: {error}. The graph on the canvas is unchanged.")
        return
    ed.load(spec, f"{uploaded.name} ({len(spec.nodes)} nodes)")


def _on_template(name: str) -> None:
    close_gallery()
    template = TEMPLATES[name]
    editor().load(template.spec(), f"template “{template.title}”")


def _on_clear() -> None:
    ed = editor()
    ed.load(GraphSpec(name="untitled"), "an empty graph")


def _file_name(spec: GraphSpec) -> str:
    return (re.sub(r"[^a-zA-Z0-9_-]+", "_", spec.name).strip("_") or "network") + ".json"


def draw_toolbar() -> None:
    ed = editor()
    with st.container(horizontal=True, vertical_alignment="bottom"):
        draw_name()
        st.button("Templates", icon=":material/collections_bookmark:", type="primary", on_click=open_gallery)
        st.button("Undo", icon=":material/undo:", on_click=ed.undo, disabled=not ed.history.can_undo)
        st.button("Redo", icon=":material/redo:", on_click=ed.redo, disabled=not ed.history.can_redo)
        st.button(
            "Auto-layout",
            icon=":material/account_tree:",
            on_click=ed.auto_layout,
            help="Arrange the nodes in layers, left to right",
        )
        st.button("Clear", icon=":material/delete_sweep:", on_click=_on_clear)
        st.download_button(
            "Save JSON",
            data=ed.spec.to_json if len(ed.spec.nodes) > LAZY_SAVE_NODES else ed.spec.to_json(),
            file_name=_file_name(ed.spec),
            mime="application/json",
            icon=":material/download:",
            on_click=ed.mark_saved,  # saved: a Load over it replaces nothing unsaved
        )
        with st.popover("Open a saved network", icon=":material/upload_file:"):
            st.file_uploader(
                f"GraphSpec JSON file (at most {MAX_UPLOAD_BYTES // 1024 // 1024} MB)",
                key=f"{UPLOAD_KEY}_{ed.version}",
                on_change=_on_upload,
                max_upload_size=MAX_UPLOAD_BYTES // 1024 // 1024,
            )
    if gallery_is_open():
        draw_gallery(_on_template)
