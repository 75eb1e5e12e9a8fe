"""One-click fixes on the Train page where the data and the network disagree: the Input shape set to the
data's, or the output layer's width to the number of classes. Each is an edit of the Build page's editor
(the same undo history), read from the engine's message, which names the node and the value to set:

    "the network's Input 'x' has shape [2] but dataset 'wine.csv' gives [13] features; set Input shape to [13]"
    "the output node 'out' gives [3] but dataset 'wine.csv' has 4 classes; set out_features to 4"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import streamlit as st

from builder.editor.session import EditorSession
from builder.ops.catalog import CATALOG
from builder.spec.spec import GraphSpec
from ui.train.page_state import tell

INPUT_SHAPE = re.compile(r"Input '(?P<node>[^']+)' has shape .*?; set Input shape to \[(?P<shape>[0-9, ]+)\]")
OUT_FEATURES = re.compile(r"output node '(?P<node>[^']+)' gives .*?; set out_features to (?P<width>\d+)")


@dataclass(frozen=True)
class DataFix:
    node: str
    param: str
    value: object
    label: str  # the button's text


def _has_param(spec: GraphSpec, node_id: str, param: str) -> bool:
    node = spec.node(node_id)
    return node is not None and node.op in CATALOG and any(p.name == param for p in CATALOG[node.op].params)


def _width_node(spec: GraphSpec, sink: str) -> str | None:
    """The node whose out_features sets the output's width: the sink, or the first one upstream of it
    through single-input nodes (an activation after the last Linear)."""
    node_id, seen = sink, set()
    while node_id is not None and node_id not in seen:
        if _has_param(spec, node_id, "out_features"):
            return node_id
        seen.add(node_id)
        sources = [e.source for e in spec.edges if e.target == node_id]
        node_id = sources[0] if len(sources) == 1 else None
    return None


def data_fixes(spec: GraphSpec, error: str) -> list[DataFix]:
    """The fixes the message asks for, for nodes of `spec` that have the parameter to set."""
    fixes = []
    found = INPUT_SHAPE.search(error)
    if found and _has_param(spec, found["node"], "shape"):
        shape = [int(d) for d in found["shape"].split(",")]
        fixes.append(DataFix(found["node"], "shape", shape, f"Set Input '{found['node']}' shape to {shape}"))
    found = OUT_FEATURES.search(error)
    target = _width_node(spec, found["node"]) if found else None
    if found and target is not None:
        width = int(found["width"])
        fixes.append(DataFix(target, "out_features", width, f"Set '{target}' out_features to {width}"))
    return fixes


def _apply(ed: EditorSession, fix: DataFix) -> None:
    ed.set_param(fix.node, fix.param, fix.value)
    done = f"applied: {fix.label[0].lower()}{fix.label[1:]}"
    ed.tell("success", done)
    tell("success", f"{done[0].upper()}{done[1:]} (Undo on the Build page takes it back).")


def draw_data_fixes(ed: EditorSession, error: str | None) -> None:
    """A button for each fix the message asks for, under it (Undo on the Build page takes it back)."""
    fixes = data_fixes(ed.spec, error) if error else []
    for k, fix in enumerate(fixes):
        st.button(fix.label, key=f"train_fix_{k}", icon=":material/build:", on_click=_apply, args=(ed, fix))
    if fixes:
        st.caption("A fix edits the network on the Build page; Undo there takes it back.")
