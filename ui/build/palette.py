"""The layer palette: one expander per catalog group, one button per op."""

from __future__ import annotations

import streamlit as st

from builder.catalog import ops_by_group
from ui.build.editor_state import editor

WIRE_KEY = "palette_wire"
OPEN_GROUPS = ("io", "dense", "activation")


def _add(op: str) -> None:
    editor().add(op, wire=bool(st.session_state.get(WIRE_KEY, True)))


def draw_palette() -> None:
    ed = editor()
    st.subheader("Layers")
    anchor = f"after **{ed.selected}**" if ed.selected else "at the right end"
    st.caption(f"Click a layer to add it {anchor}.")
    st.toggle("Wire it after the selected node", value=True, key=WIRE_KEY, disabled=ed.selected is None)
    for group, ops in ops_by_group().items():
        if not ops:
            continue
        with st.expander(group, expanded=group in OPEN_GROUPS):
            columns = st.columns(2)
            for i, op in enumerate(ops):
                columns[i % 2].button(
                    op.name, key=f"add_{op.name}", help=op.doc, on_click=_add, args=(op.name,), width="stretch"
                )
