"""The inspector: the selected node's id, parameters (one widget per catalog parameter), shapes, problems, and for
an activation op a small plot of its function and derivative with the node's parameters."""

from __future__ import annotations

import streamlit as st

from builder.analysis.validate import Analysis
from builder.editor.edit import format_param, parse_param_text
from builder.ops.catalog import CATALOG
from builder.ops.opdef import REQUIRED, Param, check_value, fmt
from builder.spec.blocks import param_ref
from ui.build.block_fields import draw_block_fields
from ui.build.editor_state import editor
from ui.build.panels import draw_fix_buttons

TEXT_KINDS = ("shape", "size")
CURVE_CONFIG = {"displayModeBar": False}


def _widget_key(name: str) -> str:
    ed = editor()
    return f"insp_{ed.version}_{ed.selected}_{name}"


def _error_key(key: str) -> str:
    """Where a field's refusal waits to be drawn under it (its key holds the editor's version: an edit clears it)."""
    return f"{key}__error"


def _on_param(node_id: str, param: Param, key: str) -> None:
    """Apply the field's value, or keep the network as it is and leave the reason to be shown under the field."""
    value, error = st.session_state[key], None
    if param.kind in TEXT_KINDS:
        value, error = parse_param_text(param, value)
    elif param.kind in ("int", "float") and value is not None:
        error = check_value(param, value)[1]
    if error:
        st.session_state[_error_key(key)] = f"{node_id}.{param.name} {error}; the network keeps its value."
        return
    st.session_state.pop(_error_key(key), None)
    editor().set_param(node_id, param.name, value)


def _on_rename(node_id: str, key: str) -> None:
    editor().rename(node_id, st.session_state[key])


def _on_delete(node_id: str) -> None:
    editor().delete(node_id)


def _help(param: Param) -> str | None:
    """The parameter's help text with its range, e.g. "0 ≤ p < 1"."""
    bounds = []
    if param.min is not None:
        bounds.append(f"{param.min:g} ≤")
    if param.min is not None or param.max is not None:
        bounds.append(param.name)
    if param.max is not None:
        bounds.append(f"{'<' if param.exclusive_max else '≤'} {param.max:g}")
    text = " ".join(filter(None, [param.help, f"range: {' '.join(bounds)}" if bounds else ""]))
    return text or None


def _param_widget(node_id: str, param: Param, current) -> None:
    key = _widget_key(param.name)
    label = param.name + (" *" if param.required else "")
    common = {"key": key, "help": _help(param), "on_change": _on_param, "args": (node_id, param, key)}
    if param.kind == "bool":
        st.checkbox(label, value=bool(current), **common)
    elif param.kind == "choice":
        index = list(param.choices).index(current) if current in param.choices else 0
        st.selectbox(label, param.choices, index=index, **common)
    elif param.kind in TEXT_KINDS:
        hint = "auto" if param.default is None else "e.g. 3 or 3, 5" if param.kind == "size" else "e.g. 1, 8, 8"
        st.text_input(label, value=format_param(current), placeholder=hint, **common)
    else:
        _number_widget(param, label, current, common)
    if _error_key(key) in st.session_state:  # inline, under the field it is about
        st.error(st.session_state[_error_key(key)], icon=":material/error:")


def _number_widget(param: Param, label: str, current, common: dict) -> None:
    """No bounds on the widget itself (the browser would refuse a value out of range with only a red mark and a
    tooltip): the range is in the help, and _on_param refuses such a value with a message under the field."""
    is_int = param.kind == "int"
    cast = int if is_int else float
    number_ok = isinstance(current, int | float) and not isinstance(current, bool)
    st.number_input(
        label,
        value=cast(current) if number_ok else None,
        step=1 if is_int else 0.01,
        format=None if is_int else "%g",
        placeholder="auto" if param.default is None else None,
        **common,
    )


def _shapes_line(node_id: str, analysis: Analysis) -> str:
    ins = analysis.in_shapes(node_id)
    shown_in = ", ".join(fmt(s) for s in ins) if ins else "—"
    out = analysis.shapes.get(node_id)
    return f"in {shown_in} → out {fmt(out) if out is not None else '?'}"


def _curve_caption(op_name: str, params: dict, note: str) -> str:
    """What the activation plot draws, e.g. "LeakyReLU(negative_slope=0.2) on x from −4 to 4: ..."."""
    shown = ", ".join(f"{name}={format_param(value)}" for name, value in params.items())
    call = f"{op_name}({shown})" if shown else op_name
    drawn = (
        f"{call} on x from −4 to 4, through the op's own torch module: f(x) and its derivative by autograd, "
        "the gradient training passes back."
    )
    return f"{drawn} {note[0].upper()}{note[1:]}." if note else drawn


def _draw_activation_curve(node_id: str, op_name: str, analysis: Analysis) -> None:
    """The function and derivative of an activation node, with its current (valid) parameters."""
    if any(issue.code == "bad_param" for issue in analysis.issues_for(node_id)):
        st.caption("Fix the parameters to see this activation's curve.")
        return
    from engine.compile.activation_curves import activation_curve  # torch loads only when a curve is drawn
    from ui.figures.activations import activation_figure

    params = analysis.params[node_id]
    curve = activation_curve(op_name, params)
    if curve is None:
        return
    st.plotly_chart(activation_figure(curve), key=f"curve_{node_id}", config=CURVE_CONFIG, width="stretch")
    st.caption(_curve_caption(op_name, params, curve.note))


def draw_inspector(analysis: Analysis) -> None:
    ed = editor()
    node = ed.view.node(ed.selected) if ed.selected else None
    st.subheader("Inspector")
    if node is None:
        st.caption("Click a node on the canvas to inspect and edit it.")
        return
    op = CATALOG.get(node.op)
    st.markdown(f"**{node.op}** — {op.doc if op else 'unknown op'}")
    key = _widget_key("__id")
    st.text_input("id", value=node.id, key=key, on_change=_on_rename, args=(node.id, key))
    st.markdown(f"`{_shapes_line(node.id, analysis)}`  \n{analysis.param_counts.get(node.id, 0):,} parameters")
    for param in op.params if op else ():
        given = node.params.get(param.name, param.default)
        if param_ref(given) is not None:  # inside a block: set by each use's value of the block's parameter
            help_text = f"set on each use of the block by its parameter '{param_ref(given)}'"
            label = param.name + (" *" if param.required else "")
            st.text_input(label, value=given, disabled=True, key=_widget_key(param.name), help=help_text)
            continue
        _param_widget(node.id, param, None if given is REQUIRED else given)
    if node.op in ("Block", "Recurrent"):
        draw_block_fields(ed, node, _widget_key("_"))
    if op is not None and op.group == "activation":
        _draw_activation_curve(node.id, node.op, analysis)
    for i, issue in enumerate(analysis.issues_for(node.id)):
        st.error(issue.message)
        draw_fix_buttons(issue, f"insp_{ed.version}_{i}")
    with st.container(horizontal=True):  # wraps onto two lines when the column is narrow
        st.button("Delete node", key=f"delete_{node.id}", on_click=_on_delete, args=(node.id,), type="primary")
        st.button("Deselect", key="deselect", on_click=editor().select, args=(None,))
