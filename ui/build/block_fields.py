"""The inspector's fields for a node that uses a block: a Block node's values of its definition's parameters,
and a Recurrent node's cell. A value is typed as text and read as a number, true/false or a word; a field left
empty takes the definition's default."""

from __future__ import annotations

import json

import streamlit as st

from builder.editor.session import EditorSession
from builder.spec.blocks import param_ref
from builder.spec.spec import Node


def read_value(text: str):
    """'16' -> 16, '0.5' -> 0.5, 'true' -> True, '$channels' -> '$channels', '' -> None (the default)."""
    text = text.strip()
    if not text:
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def _shown(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value)


def _on_value(ed: EditorSession, node_id: str, name: str, key: str) -> None:
    ed.set_param(node_id, name, read_value(st.session_state[key]))


def _field(ed: EditorSession, node: Node, name: str, default, key_prefix: str) -> None:
    key = f"{key_prefix}_block_{name}"
    given = node.params.get(name)
    hint = f"default {_shown(default)}" if default is not None else "required"
    help_text = "a number, true/false, or inside a block $name for one of its own parameters"
    if param_ref(given) is not None:
        help_text = f"set on each use of the enclosing block by its parameter '{param_ref(given)}'"
    label = name + (" *" if default is None else "")
    st.text_input(
        label, value=_shown(given), placeholder=hint, key=key, help=help_text,
        on_change=_on_value, args=(ed, node.id, name, key),
    )  # fmt: skip


def draw_block_fields(ed: EditorSession, node: Node, key_prefix: str) -> None:
    """A Block node: one field per parameter of its definition. A Recurrent node: its cell, chosen among the
    spec's blocks."""
    spec = ed.spec
    if node.op == "Recurrent":
        names = sorted(spec.blocks)
        current = node.params.get("cell")
        options = names if current in names else [current, *names]
        key = f"{key_prefix}_cell"
        st.selectbox(
            "cell *", options, index=options.index(current), key=key, help="the cell block run over the steps",
            on_change=lambda: ed.set_param(node.id, "cell", st.session_state[key]),
        )  # fmt: skip
        return
    name = node.params.get("block")
    if name not in spec.blocks:
        return
    st.caption(f"Block '{name}': its parameters (empty takes the default)")
    for param, default in spec.blocks[name].params.items():
        _field(ed, node, param, default, key_prefix)
