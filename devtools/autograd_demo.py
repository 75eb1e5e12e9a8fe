"""The canvas component's autograd mode alone, for its browser test and a look at it (no Train page around it).

    .venv/bin/python -m streamlit run devtools/autograd_demo.py
    ...?net=resnet18&expanded=all      ResNet-18's 69 nodes (bench/bench_autograd_graph.py), every node expanded
    ...?net=hostile&theme=dark         a small made-up graph whose names are HTML and script, in the dark colours

The graph is one real training step (engine.probes.autograd_graph.trace_step on a random batch of 8), except
`net=hostile`, made up by `hostile_graph` below (`net=mlp` is the mlp_iris template). The payload is
ui/train/autograd_picture.py's, as on the Train page. An "expand" or "collapse" event from the component is
applied to the expanded set, as the Train page does, and written into the page (`st.code` of its JSON).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run devtools/autograd_demo.py` puts only devtools/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from engine.probes.autograd_graph import AutogradGraph, Edge, Group, Operation  # noqa: E402
from ui.canvas.component import flow_canvas  # noqa: E402
from ui.train.autograd_picture import autograd_payload  # noqa: E402

KEY = "autograd_demo"
HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


def hostile_graph() -> AutogradGraph:
    """Two nodes and a loss whose names are markup: a collapsed card and an expanded group must show them as text."""
    ops = [
        Operation("op0", "AccumulateGrad", HOSTILE, 0, gradient={"norm": 0.5, "mean": 0.0, "std": 0.1}, param=HOSTILE),
        Operation("op1", "<script>document.title='pwned'</script>", HOSTILE, 1, gradient=None),
        Operation("op2", "ReluBackward0", "relu", 2, gradient={"norm": 0.01, "mean": 0.0, "std": 0.001}),
        Operation("op3", "MeanBackward0", "loss", 3),
    ]
    edges = [Edge("op0", "op1", [4]), Edge("op1", "op2", [2, 4]), Edge("op2", "op3", [2, 4])]
    groups = {
        HOSTILE: Group(HOSTILE, "<b>Linear</b>", ["op0", "op1"], 0.5),
        "relu": Group("relu", "ReLU", ["op2"], 0.01),
        "loss": Group("loss", "loss", ["op3"], None),
    }
    return AutogradGraph(ops, edges, groups, 1.0, 2)


@st.cache_resource
def traced(net: str) -> AutogradGraph:
    if net == "hostile":
        return hostile_graph()
    import torch

    from bench.bench_autograd_graph import resnet_spec
    from builder.analysis.validate import analyze
    from builder.library.templates import TEMPLATES
    from engine.compile.fx_module import compile_analysis
    from engine.probes.autograd_graph import trace_step

    spec = resnet_spec([2, 2, 2, 2]) if net == "resnet18" else TEMPLATES["mlp_iris"].spec()
    analysis = analyze(spec)
    torch.manual_seed(0)
    model = compile_analysis(analysis).train()
    shape = analysis.shapes["x"]
    x = torch.randn(8, *shape)
    classes = analysis.shapes["fc" if net == "resnet18" else "fc2"][-1]
    return trace_step(model, x, torch.randint(0, classes, (8,)), torch.nn.functional.cross_entropy)


def on_event() -> None:
    event = (st.session_state.get(KEY) or {}).get("event")
    if not isinstance(event, dict):
        return
    st.session_state.setdefault("events", []).append(event)
    expanded = st.session_state.setdefault("expanded", set())
    if event.get("kind") == "expand":
        expanded.add(event.get("node"))
    elif event.get("kind") == "collapse":
        expanded.discard(event.get("node"))


st.set_page_config(layout="wide")
net = st.query_params.get("net", "resnet18")
graph = traced(net)
if "expanded" not in st.session_state:
    st.session_state["expanded"] = set(graph.groups) if st.query_params.get("expanded") == "all" else set()
theme_name = "dark" if st.query_params.get("theme") == "dark" else "light"
flow_canvas(autograd_payload(graph, st.session_state["expanded"], theme_name), key=KEY, on_event=on_event)
for event in st.session_state.get("events", []):
    st.code(json.dumps({k: v for k, v in event.items() if k not in ("client", "seq")}), language="json")
