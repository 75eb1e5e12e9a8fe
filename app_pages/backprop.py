"""The Backprop explorer: type a scalar expression and values, step forward node by node (values on the edges),
then backward (local derivative and gradient on each edge). Glue only: state in, builder maths, figure out."""

from __future__ import annotations

import streamlit as st

from builder.explorer.expression import ParseError, parse_expression
from builder.explorer.expression_trace import TraceError, snapshot, trace
from ui.explorer.inputs import draw_expression, draw_values, show_parse_error
from ui.explorer.state import current_step, keep_expression, start
from ui.explorer.steps import draw_gradients, draw_node_table, draw_step_buttons, step_line
from ui.figures.explorer import explorer_figure

start()
st.header("Backprop explorer", divider="gray")
st.caption(
    "Type an expression of a few variables, or pick a preset. Step forward: each operation's value appears on the "
    "edges into it. Step backward: each edge shows its local derivative ∂ and the gradient it carries back."
)
text = draw_expression()
keep_expression(text)
parsed = parse_expression(text)
if isinstance(parsed, ParseError):
    show_parse_error(parsed)
else:
    values, upstream = draw_values(parsed.variables)
    traced = trace(parsed, values, upstream)
    if isinstance(traced, TraceError):
        st.error(traced.message)
    else:
        step = current_step(text, traced.total)
        draw_step_buttons(traced, step)
        shown = snapshot(traced, step)
        st.markdown(step_line(traced, shown))
        st.plotly_chart(explorer_figure(traced, shown), width="stretch", key="bp_graph", config={"displaylogo": False})
        draw_gradients(traced, shown)
        draw_node_table(traced, shown)
