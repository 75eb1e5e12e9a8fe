"""The autograd graph's payload for the canvas component (ui/train/autograd_picture.py): groups and their
operations, edges between the units shown, tints from gradient norms, statistics, names kept as plain text."""

from __future__ import annotations

import json

from engine.probes.autograd_graph import AutogradGraph, Edge, Group, Operation
from ui.train.autograd_picture import autograd_payload, op_stats
from ui.train.network_view import tint


def grad(norm: float) -> dict:
    return {"norm": norm, "mean": 0.0, "std": norm / 10}


def small_graph(fc1: str = "fc1", param: str = "fc1.weight", name: str = "AddmmBackward0") -> AutogradGraph:
    """fc1 (a parameter leaf and a matmul) -> relu -> loss, with gradient norms 1e-3, 1e-1, 10 and none."""
    value = {"shape": [8, 3], "mean": 0.25, "std": 1.5, "min": -2.0, "max": 3.0}
    ops = [
        Operation("op0", "AccumulateGrad", fc1, 0, {**value, "shape": [3, 4]}, grad(1e-3), param),
        Operation("op1", name, fc1, 1, forward=value, gradient=grad(1e-1)),
        Operation("op2", "ReluBackward0", "relu", 2, gradient=grad(10.0)),
        Operation("op3", "MeanBackward0", "loss", 3),
    ]
    edges = [Edge("op0", "op1", [3, 4]), Edge("op1", "op2", [8, 3]), Edge("op2", "op3", [8, 3])]
    groups = {
        fc1: Group(fc1, "Linear", ["op0", "op1"], 1e-1),
        "relu": Group("relu", "ReLU", ["op2"], 10.0),
        "loss": Group("loss", "loss", ["op3"], None),
    }
    return AutogradGraph(ops, edges, groups, 0.7, 8)


def test_expanded_groups_hold_their_operations_and_edges_join_the_units_shown():
    data = autograd_payload(small_graph(), {"fc1", "no_such_node"}, "light")
    assert data["mode"] == "autograd" and data["read_only"] is True
    assert [(g["id"], g["op"], g["expanded"]) for g in data["groups"]] == [
        ("fc1", "Linear", True),
        ("relu", "ReLU", False),
        ("loss", "loss", False),
    ]
    assert [(op["id"], op["group"], op["label"], op["param"]) for op in data["ops"]] == [
        ("op0", "fc1", "fc1.weight", True),
        ("op1", "fc1", "Addmm", False),
    ]
    assert [(e["source"], e["target"], e["shape"]) for e in data["edges"]] == [
        ("o:op0", "o:op1", "3×4"),
        ("o:op1", "g:relu", "8×3"),
        ("g:relu", "g:loss", "8×3"),
    ]
    collapsed = autograd_payload(small_graph(), set(), "light")
    assert collapsed["ops"] == [] and [(e["source"], e["target"]) for e in collapsed["edges"]] == [
        ("g:fc1", "g:relu"),
        ("g:relu", "g:loss"),
    ]


def test_cards_are_tinted_by_their_gradient_norm_on_a_log_scale_and_the_legend_names_its_ends():
    data = autograd_payload(small_graph(), {"fc1", "relu", "loss"}, "dark")
    fills = {op["id"]: op["fill"] for op in data["ops"]}
    assert fills == {"op0": tint(0.0, "dark"), "op1": tint(0.5, "dark"), "op2": tint(1.0, "dark"), "op3": None}
    groups = {g["id"]: g["fill"] for g in data["groups"]}
    assert groups == {"fc1": tint(0.5, "dark"), "relu": tint(1.0, "dark"), "loss": None}  # the largest inside
    legend = data["legend"]
    assert (legend["low"], legend["high"]) == ("1.0e-03", "1.0e+01")
    assert legend["stops"] == [tint(t, "dark") for t in (0.0, 0.35, 0.65, 1.0)]
    metas = {op["id"]: op["meta"] for op in data["ops"]}
    assert metas == {
        "op0": "3×4 · |g| 0.001",
        "op1": "8×3 · |g| 0.1",
        "op2": "8×3 · |g| 10",  # no forward value kept: the shape of the edge out of it
        "op3": "scalar · no gradient",
    }


def test_a_card_carries_the_statistics_shown_when_it_is_clicked():
    graph = small_graph()
    data = autograd_payload(graph, {"fc1", "relu"}, "light")
    stats = {op["id"]: op["stats"] for op in data["ops"]}
    assert stats["op1"] == [
        "AddmmBackward0 in fc1",
        "value 8×3: mean 0.25, std 1.5, min -2, max 3",
        "gradient norm 0.1, mean 0, std 0.01",
    ]
    assert stats["op0"][0] == "AccumulateGrad in fc1, parameter fc1.weight"
    assert stats["op2"][1] == "an internal operation: its forward value is not kept"
    assert op_stats(graph.operations[3])[2] == "no gradient reached this operation"
    group = next(g for g in data["groups"] if g["id"] == "relu")
    assert group["meta"] == "1 op · |g| 10"  # the card says it short, the statistics in full
    assert group["stats"] == ["relu (ReLU): 1 operation", "largest gradient norm inside: 10"]


def test_the_layout_key_changes_with_what_is_laid_out_not_with_the_theme():
    graph = small_graph()
    light = autograd_payload(graph, {"fc1"}, "light")["layout_key"]
    assert autograd_payload(graph, {"fc1"}, "dark")["layout_key"] == light
    assert autograd_payload(graph, {"relu"}, "light")["layout_key"] != light


def test_hostile_names_are_carried_as_plain_text():
    """Names are data: the component shows them as text (React escapes them), so the payload adds no markup of
    its own around them (the plotly figure wrapped them in <b> and <br>) and keeps them whole."""
    node, param, name = '<img src=x onerror="alert(1)">', "</div><script>alert(2)</script>", "<b>Addmm</b>"
    data = autograd_payload(small_graph(node, param, name), {node}, "light")
    assert data["groups"][0]["id"] == node and data["groups"][0]["stats"][0].startswith(node + " (Linear)")
    assert [op["label"] for op in data["ops"]] == [param, "<b>Addmm</b>"]
    assert data["ops"][1]["stats"][0] == f"{name} in {node}"
    assert [e["source"] for e in data["edges"]][:1] == ["o:op0"]
    text = json.dumps(data, ensure_ascii=False)
    for own_markup in ("<br", "<span", "<div>", "&lt;", "&amp;"):  # nothing added, nothing escaped twice
        assert own_markup not in text.replace(param, "").replace(node, "").replace(name, "")
