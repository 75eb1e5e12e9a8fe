"""The Train page's "Autograd graph of one step": the Build page's network, one training step, its grad_fn graph.

Computed on demand (a button) by engine/probes/autograd_graph.py, in a page job (a child process with limits,
engine/runs/page_jobs.py), and kept in session state with the network
and settings it was computed for. Drawn read-only by the canvas component (ui/canvas/, its AutogradGraph mode;
the payload from ui/train/autograd_picture.py), collapsed to the user's nodes at first; a click on a node (or the
multiselect, or "Expand all") shows it as a group of its operations and parameters; a click on any card shows its
statistics under the graph, in the component.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import streamlit as st

from builder.spec.spec import GraphSpec
from engine.runs.page_jobs import run_page_job
from engine.train.config import TrainConfig
from ui.build.canvas import theme
from ui.canvas.component import flow_canvas

if TYPE_CHECKING:  # the graph's module (torch's fx, the training pipeline) is imported when a graph is computed,
    # not on every visit of the Train page
    from engine.probes.autograd_graph import AutogradGraph

RESULT_KEY = "autograd_result"  # (signature, AutogradGraph or None, error message or None)
EXPAND_KEY = "autograd_expand"
CANVAS_KEY = "autograd_canvas"
HEIGHT = 620  # px: the graph and, under it, the legend and the clicked card's statistics
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
    st.session_state.pop(EXPAND_KEY, None)


def on_canvas_event(event) -> None:
    """The component's click on a collapsed node ("expand") or a group's Collapse button ("collapse"): the node is
    added to or taken from the multiselect's choice. Anything else (an unknown node, a bad field) changes nothing."""
    result = st.session_state.get(RESULT_KEY)
    graph = result[1] if result else None
    if graph is None or not isinstance(event, dict) or event.get("kind") not in ("expand", "collapse"):
        return
    node = event.get("node")
    if not isinstance(node, str) or node not in graph.groups:
        return
    expanded = [n for n in st.session_state.get(EXPAND_KEY, []) if n != node]
    st.session_state[EXPAND_KEY] = [*expanded, node] if event["kind"] == "expand" else expanded


def _on_event() -> None:
    state = st.session_state.get(CANVAS_KEY)
    on_canvas_event(state.get("event") if hasattr(state, "get") else getattr(state, "event", None))


def _expand_all(groups: list[str]) -> None:
    st.session_state[EXPAND_KEY] = list(groups)


def _collapse_all() -> None:
    st.session_state[EXPAND_KEY] = []


def _draw_graph(graph: AutogradGraph) -> None:
    from ui.train.autograd_picture import autograd_payload

    st.caption(
        f"Loss {graph.loss:.4g} on a batch of {graph.batch_size}. Cards are your nodes, tinted by the largest "
        "gradient norm inside (log scale); click one, or pick it below, to see its operations and parameters; "
        "click any card for its statistics under the graph. Drag to pan, scroll to zoom."
    )
    groups = list(graph.groups)
    left, middle, right = st.columns([3, 1, 1], vertical_alignment="bottom")  # room for "Collapse all" whole
    with left:
        expanded = st.multiselect("Nodes shown as their operations", groups, key=EXPAND_KEY)
    middle.button("Expand all", key="autograd_expand_all", on_click=_expand_all, args=(groups,))
    right.button("Collapse all", key="autograd_collapse_all", on_click=_collapse_all)
    payload = autograd_payload(graph, set(expanded), theme(), height=HEIGHT)
    flow_canvas(payload, key=CANVAS_KEY, on_event=_on_event)
