"""The explorer's step buttons (Forward step, Backward step, Run all, Reset), the line on the step just taken,
the table of nodes and, once the backward pass is done, the gradients of the variables."""

from __future__ import annotations

import streamlit as st

from builder.explorer.expression_trace import Snapshot, Trace, describe_step, format_value
from ui.explorer.state import set_step


def draw_step_buttons(tr: Trace, step: int) -> None:
    forward_total = len(tr.forward_steps)
    forward, backward, run_all, reset = st.columns(4)
    forward.button(
        "Forward step",
        key="bp_forward",
        icon=":material/arrow_forward:",
        disabled=step >= forward_total,
        on_click=set_step,
        args=(step + 1,),
        width="stretch",
    )
    backward.button(
        "Backward step",
        key="bp_backward",
        icon=":material/arrow_back:",
        disabled=step < forward_total or step >= tr.total,
        on_click=set_step,
        args=(step + 1,),
        width="stretch",
    )
    run_all.button(
        "Run all", key="bp_run_all", disabled=step >= tr.total, on_click=set_step, args=(tr.total,), width="stretch"
    )
    reset.button("Reset", key="bp_reset", disabled=step == 0, on_click=set_step, args=(0,), width="stretch")


def step_line(tr: Trace, shown: Snapshot) -> str:
    """'Step 1 of 4 · forward: q = x + y = 3.00 (x = -2.00, y = 5.00)', or what to press at step 0."""
    head = f"**Step {shown.step} of {tr.total}**"
    if shown.current is None:
        first = tr.expression.node(tr.forward_steps[0]).label
        return f"{head} · the inputs are set; press **Forward step** to compute `{first}`."
    where = "forward" if shown.phase == "forward" else "backward"
    line = f"{head} · {where}: {describe_step(tr, shown)}"
    if shown.step == len(tr.forward_steps) and tr.backward_steps:
        line += " · the forward pass is done: press **Backward step**."
    return line


def draw_gradients(tr: Trace, shown: Snapshot) -> None:
    """∂f/∂x for each variable, once the backward pass is complete."""
    if shown.step < tr.total or not tr.backward_steps:
        return
    expr = tr.expression
    out = expr.node(expr.output).name
    by_name = {n.name: n.id for n in expr.nodes if n.kind == "input"}
    top, scale = (
        (out, "") if tr.backward.upstream == 1 else ("L", f" (with ∂L/∂{out} = {format_value(tr.backward.upstream)})")
    )
    parts = [f"∂{top}/∂{name} = {format_value(shown.grads[by_name[name]])}" for name in expr.variables]
    st.success("Backward pass done: " + " · ".join(parts) + scale)


def node_rows(tr: Trace, shown: Snapshot) -> dict[str, list]:
    """The table's columns: every node, its computation, its value and its gradient so far (None: not yet)."""
    nodes = tr.expression.nodes
    kinds = {"input": "input", "constant": "constant", "op": "operation"}
    return {
        "now": ["▶" if n.id == shown.current else "" for n in nodes],
        "node": [n.name for n in nodes],
        "computes": [n.label if n.kind == "op" else kinds[n.kind] for n in nodes],
        "value": [shown.values.get(n.id) for n in nodes],
        "gradient": [shown.grads.get(n.id) for n in nodes],
    }


def draw_node_table(tr: Trace, shown: Snapshot) -> None:
    number = st.column_config.NumberColumn
    st.dataframe(
        node_rows(tr, shown),
        hide_index=True,
        width="stretch",
        column_config={
            "now": st.column_config.TextColumn("", width="small"),
            "value": number("value", format="%.4f"),
            "gradient": number("gradient", format="%.4f", help="∂f/∂node times the upstream gradient, so far"),
        },
    )
