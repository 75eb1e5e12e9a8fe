"""The Train page's "Autograd graph of one step": the Build page's network, one training step, its grad_fn graph.

Computed on demand (a button) by engine/probes/autograd_graph.py, in a page job (a child process with limits,
engine/runs/page_jobs.py), and kept in session state with the network
and settings it was computed for. Drawn by ui/figures/autograd.py, collapsed to the user's nodes; a click on
a node (or the multiselect) expands it into its operations; a click on an operation shows its stats beside.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import streamlit as st

from builder.spec.spec import GraphSpec
from engine.runs.page_jobs import run_page_job
from engine.train.config import TrainConfig

if TYPE_CHECKING:  # the graph's module (torch's fx, the training pipeline) and its figure (plotly) are imported
    # when a graph is computed or drawn, not on every visit of the Train page
    from engine.probes.autograd_graph import AutogradGraph, Operation

RESULT_KEY = "autograd_result"  # (signature, AutogradGraph or None, error message or None)
EXPAND_KEY = "autograd_expand"
CHART_KEY = "autograd_chart"
CLICK_KEY = "autograd_last_click"  # the click already acted on (a selection stays in the chart's state)
SELECTED_KEY = "autograd_selected"  # op id
BUTTON = "Show the autograd graph of one step"


def _signature(spec: GraphSpec, config: TrainConfig) -> str:
    return spec.to_json() + json.dumps(config.to_dict(), sort_keys=True)


def draw_autograd_view(spec: GraphSpec, config: TrainConfig | None) -> None:
    """The expander with the button and, once computed, the graph; `config` None: the network or settings are wrong."""
    with st.expander("Autograd graph of one step", icon=":material/account_tree:"):
        if config is None:
            st.caption("The autograd graph needs a valid network and valid settings.")
            return
        if st.button(BUTTON, key="autograd_button"):
            _compute(spec, config)
        result = st.session_state.get(RESULT_KEY)
        if result is None:
            st.caption("One forward and backward of the network on 8 samples of the run's data, grouped by node.")
            return
        signature, graph, error = result
        if error is not None:
            st.error(error)
            return
        if signature != _signature(spec, config):
            st.caption("Computed for an earlier version of the network or settings: press the button to redo it.")
        _draw_graph(graph)


def compute_graph(spec: GraphSpec, config: TrainConfig) -> tuple[AutogradGraph | None, str | None]:
    """(the graph, None) or (None, one line): computed in a page job (engine/runs/page_jobs.py), a child process
    with limits, so a crash or a step too big for memory is a message here and the server goes on."""
    result, error = run_page_job("autograd_graph", {"spec": spec.to_dict(), "config": config.to_dict()})
    if error is not None:
        return None, str(error)
    from engine.probes.autograd_graph import AutogradGraph

    return AutogradGraph.from_dict(result), None


def _compute(spec: GraphSpec, config: TrainConfig) -> None:
    with st.spinner("One training step (in its own process)..."):
        graph, error = compute_graph(spec, config)
    st.session_state[RESULT_KEY] = (_signature(spec, config), graph, error)
    for key in (EXPAND_KEY, CLICK_KEY, SELECTED_KEY):
        st.session_state.pop(key, None)


def _clicked_key() -> str | None:
    event = st.session_state.get(CHART_KEY)
    points = (event or {}).get("selection", {}).get("points", [])
    if not points:
        return None
    data = points[0].get("customdata")
    return data[0] if isinstance(data, list) and data else data


def _apply_click(graph: AutogradGraph) -> None:
    """A new click on a node expands it; on an operation, selects it. Runs before the multiselect is drawn."""
    from ui.figures.autograd import GROUP_PREFIX, OP_PREFIX

    key = _clicked_key()
    if key is None or key == st.session_state.get(CLICK_KEY):
        return
    st.session_state[CLICK_KEY] = key
    if key.startswith(GROUP_PREFIX) and key[len(GROUP_PREFIX) :] in graph.groups:
        expanded = list(st.session_state.get(EXPAND_KEY, []))
        st.session_state[EXPAND_KEY] = [*expanded, key[len(GROUP_PREFIX) :]]
    elif key.startswith(OP_PREFIX):
        st.session_state[SELECTED_KEY] = key[len(OP_PREFIX) :]


def _draw_graph(graph: AutogradGraph) -> None:
    from ui.figures.autograd import OP_PREFIX, autograd_figure

    _apply_click(graph)
    st.caption(
        f"Loss {graph.loss:.4g} on a batch of {graph.batch_size}. Boxes are your nodes, coloured by the largest "
        "gradient norm inside (log scale); click one, or pick it below, to see its operations; click an "
        "operation for its value and gradient. Drag to pan."
    )
    expanded = st.multiselect("Nodes shown as their operations", list(graph.groups), key=EXPAND_KEY)
    selected = st.session_state.get(SELECTED_KEY)
    ops = {op.id: op for op in graph.operations}
    if selected is not None and (selected not in ops or ops[selected].group not in expanded):
        selected = None
    left, right = st.columns([4, 1], gap="medium")
    with left:
        figure = autograd_figure(graph, set(expanded), OP_PREFIX + selected if selected else None)
        st.plotly_chart(
            figure,
            key=CHART_KEY,
            on_select="rerun",
            selection_mode="points",
            config={"displaylogo": False, "scrollZoom": True},
            width="stretch",
        )
    with right:
        _op_stats(ops[selected] if selected else None)


def _op_stats(op: Operation | None) -> None:
    if op is None:
        st.caption("Click an operation of an expanded node to see its forward value and gradient here.")
        return
    from ui.figures.autograd import shape_text

    st.markdown(f"**{op.name}** in `{op.group}`" + (f"  \nparameter `{op.param}`" if op.param else ""))
    if op.forward:
        f = op.forward
        st.markdown(
            f"Value of shape {shape_text(f['shape'])}  \nmean {f['mean']:.4g}, std {f['std']:.4g}  \n"
            f"min {f['min']:.4g}, max {f['max']:.4g}"
        )
    else:
        st.caption("An internal operation: its forward value is not kept.")
    if op.gradient:
        g = op.gradient
        st.markdown(f"Gradient norm {g['norm']:.4g}  \nmean {g['mean']:.4g}, std {g['std']:.4g}")
    else:
        st.caption("No gradient reached this operation.")
