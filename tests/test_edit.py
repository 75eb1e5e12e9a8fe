"""The Build page's logic without a browser: editing, history, layout, canvas sync, uploads."""

from __future__ import annotations

import json

import pytest

from builder.analysis.upload import MAX_UPLOAD_BYTES, read_spec_upload
from builder.analysis.validate import analyze
from builder.editor import edit
from builder.editor.history import History
from builder.editor.layout import LAYER_GAP, layered_layout, needs_layout
from builder.editor.session import EditorSession
from builder.library.templates import TEMPLATES
from builder.ops.catalog import CATALOG
from builder.ops.opdef import Param
from builder.spec.spec import GraphSpec
from tests.helpers import chain, make_spec


def mlp() -> GraphSpec:
    return edit.starter_spec()


# -- edit --------------------------------------------------------------------------------------------


def other_valid_values(p: Param, current) -> list:
    """Values the schema accepts other than `current` (the resolved value) and the default, for an edit to show."""
    if p.kind == "int":
        lo = int(p.min) if p.min is not None else 0
        start = current if isinstance(current, int) else lo
        candidates = [start + 1, start + 2, lo, lo + 1]
    elif p.kind == "float":
        lo = p.min if p.min is not None else 0.0
        hi = p.max if p.max is not None else lo + 1.0
        candidates = [lo + (hi - lo) / 3, lo + (hi - lo) / 4]
    elif p.kind == "bool":
        candidates = [not current]
    elif p.kind == "choice":
        candidates = list(p.choices)
    elif p.kind == "shape":
        candidates = [[2, 3], [5]]
    else:  # size
        candidates = [2, 3, [2, 3]]
    in_range = [v for v in candidates if p.kind != "int" or p.max is None or v <= p.max]
    return [v for v in in_range if v not in (current, p.default)]


# a Block and a Recurrent name a block definition the spec must hold (test_blocks.py, test_cells.py)
@pytest.mark.parametrize("op", sorted(set(CATALOG) - {"Block", "Recurrent"}))
def test_every_op_added_after_a_fitting_node_gets_starter_params_and_takes_edits_of_each(op):
    spec, new_id = edit.add_node(mlp(), op, after="fc2", wire=True)
    assert "bad_param" not in {i.code for i in analyze(spec).issues_for(new_id)}
    for p in CATALOG[op].params:
        value = other_valid_values(p, analyze(spec).params[new_id][p.name])[0]
        edited = edit.set_param(spec, new_id, p.name, value)
        assert edited.node(new_id).params[p.name] == value  # stored
        a = analyze(edited)  # and validated again: accepted, and what the node resolves to
        assert "bad_param" not in {i.code for i in a.issues_for(new_id)}, (p.name, value, a.issues_for(new_id))
        assert a.params[new_id][p.name] == value
        restored = edit.set_param(edited, new_id, p.name, spec.node(new_id).params.get(p.name))
        assert restored.node(new_id).params == spec.node(new_id).params
    unknown = edit.set_param(spec, new_id, "nope", 3)
    issues = [(i.code, i.field, i.message) for i in analyze(unknown).issues_for(new_id)]
    allowed = ", ".join(sorted(p.name for p in CATALOG[op].params)) or "none"
    assert (
        "bad_param",
        f"nodes[{[n.id for n in spec.nodes].index(new_id)}].params.nope",
        f"unknown parameter 'nope' for {op} (allowed: {allowed})",
    ) in issues


def test_add_node_places_right_of_the_selected_node_and_wires_it():
    spec, new_id = edit.add_node(mlp(), "Linear", after="relu", wire=True)
    relu, new = spec.node("relu"), spec.node(new_id)
    assert new_id == "linear"
    assert new.ui["x"] == relu.ui["x"] + LAYER_GAP
    assert new.ui["y"] > relu.ui["y"]  # fc2 already sits right of relu, so it goes below
    assert ("relu", "linear") in [(e.source, e.target) for e in spec.edges]
    assert mlp().node("linear") is None  # the original is untouched


def test_add_node_without_wire_or_selection_adds_a_lone_node_at_the_right():
    spec, new_id = edit.add_node(mlp(), "ReLU")
    assert all(new_id not in (e.source, e.target) for e in spec.edges)
    assert spec.node(new_id).ui["x"] > max(n.ui["x"] for n in mlp().nodes)


def test_delete_node_removes_its_edges():
    spec = edit.delete_node(mlp(), "relu")
    assert spec.node("relu") is None
    assert [(e.source, e.target) for e in spec.edges] == [("x", "fc1")]


def test_add_edge_refuses_self_loops_and_feeding_the_input():
    spec = mlp()
    assert edit.add_edge(spec, "fc1", "fc1")[1] == "cannot connect 'fc1' to itself"
    assert "Input" in edit.add_edge(spec, "fc2", "x")[1]
    new, error = edit.add_edge(spec, "x", "fc2")
    assert error is None and len(new.edges) == len(spec.edges) + 1


@pytest.mark.parametrize(
    ("new", "error"),
    [("fc1", "already used"), ("2fc", "not a valid id"), ("Big", "not a valid id"), ("", "not a valid id")],
)
def test_rename_checks_the_id(new, error):
    spec, why = edit.rename_node(mlp(), "relu", new)
    assert error in why
    assert spec.node("relu") is not None


def test_rename_rewires_edges():
    spec, why = edit.rename_node(mlp(), "relu", "act")
    assert why is None
    assert ("fc1", "act") in [(e.source, e.target) for e in spec.edges]
    assert ("act", "fc2") in [(e.source, e.target) for e in spec.edges]


def test_set_param_stores_choices_and_drops_defaults():
    spec = edit.set_param(mlp(), "fc1", "out_features", 64)
    assert spec.node("fc1").params == {"out_features": 64}
    spec = edit.set_param(spec, "fc1", "bias", False)
    assert spec.node("fc1").params["bias"] is False
    spec = edit.set_param(spec, "fc1", "bias", True)  # back to the default: not stored
    assert "bias" not in spec.node("fc1").params


@pytest.mark.parametrize(
    ("kind", "text", "value", "error"),
    [
        ("shape", "1, 8, 8", [1, 8, 8], None),
        ("shape", "[64]", [64], None),
        ("shape", "1, x", None, "whole numbers"),
        ("shape", "0, 3", None, "positive"),
        ("size", "3", 3, None),
        ("size", "3, 5", [3, 5], None),
        ("size", "", None, None),
    ],
)
def test_parse_param_text(kind, text, value, error):
    param = CATALOG["Input"].param("shape") if kind == "shape" else CATALOG["MaxPool2d"].param("stride")
    got, why = edit.parse_param_text(param, text)
    assert (why is None) == (error is None)
    if error:
        assert error in why
    else:
        assert got == value


# -- history -----------------------------------------------------------------------------------------


def test_history_undoes_and_redoes_more_than_twenty_steps():
    history, spec = History(), mlp()
    for k in range(25):
        history.record(spec)
        spec = edit.set_param(spec, "fc1", "out_features", 100 + k)
    for _ in range(25):
        spec = history.undo(spec)
    assert spec.node("fc1").params["out_features"] == 16
    assert not history.can_undo
    for _ in range(25):
        spec = history.redo(spec)
    assert spec.node("fc1").params["out_features"] == 124


def test_history_is_bounded_and_a_new_edit_clears_redo():
    history, spec = History(limit=3), mlp()
    for k in range(5):
        history.record(spec)
        spec = edit.set_param(spec, "fc1", "out_features", 100 + k)
    assert len(history.past) == 3
    spec = history.undo(spec)
    history.record(spec)
    assert not history.can_redo


# -- layout ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_layout_places_every_template_node_once_with_edges_pointing_right_within_a_band(name):
    spec = layered_layout(TEMPLATES[name].spec())
    assert not needs_layout(spec)
    places = [(n.ui["x"], n.ui["y"]) for n in spec.nodes]
    assert len(set(places)) == len(places)
    pos = {n.id: (n.ui["x"], n.ui["y"]) for n in spec.nodes}
    for e in spec.edges:  # an edge goes right, or wraps to a lower band
        assert pos[e.target][0] > pos[e.source][0] or pos[e.target][1] > pos[e.source][1]


def test_layout_keeps_a_short_chain_on_one_line_and_wraps_a_long_one():
    short = layered_layout(mlp())
    assert {n.ui["y"] for n in short.nodes} == {0}
    long = layered_layout(chain(("x", "Input", {"shape": [4]}), *[(f"r{k}", "ReLU") for k in range(30)]))
    assert len({n.ui["y"] for n in long.nodes}) > 2


def test_layout_survives_a_cycle():
    spec = make_spec(
        [("x", "Input", {"shape": [2]}), ("a", "ReLU"), ("b", "ReLU")], [("x", "a"), ("a", "b"), ("b", "a")]
    )
    assert not needs_layout(layered_layout(spec))


# -- editor session ----------------------------------------------------------------------------------


def test_session_add_selects_the_new_node_and_undo_brings_back_the_old_graph():
    ed = EditorSession()
    ed.select("fc2")
    ed.add("Softmax", wire=True)
    assert ed.selected == "softmax"
    assert analyze(ed.spec).ok
    ed.undo()
    assert ed.spec.node("softmax") is None and ed.selected is None
    ed.redo()
    assert ed.spec.node("softmax") is not None


def test_session_fix_repairs_a_shape_error():
    ed = EditorSession()
    ed.set_param("x", "shape", [1, 8, 8])
    issue = analyze(ed.spec).issues_for("fc1")[0]
    ed.fix(issue.fixes[0])
    assert analyze(ed.spec).ok
    assert ed.notice.kind == "success"


def test_session_rename_error_is_a_notice_and_changes_nothing():
    ed = EditorSession()
    version = ed.version
    ed.rename("fc1", "fc2")
    assert ed.notice.kind == "error" and ed.version == version


def test_session_load_lays_out_a_template_and_clears_the_selection():
    ed = EditorSession()
    ed.select("fc1")
    ed.load(TEMPLATES["lenet"].spec(), "lenet")
    assert not needs_layout(ed.spec) and ed.selected is None and ed.take_fit()
    assert not ed.take_fit()


# -- uploads -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is not a JSON file"),
        (b"{not json", "is not a JSON file"),
        (b"[1, 2, 3]", "is not a NetCanvas network"),
        (json.dumps({"version": 1, "nodes": {}, "edges": []}).encode(), "nodes: expected a list"),
        (
            json.dumps({"version": 1, "name": "n", "nodes": [{"id": "a", "op": "Banana"}], "edges": []}).encode(),
            "unknown op 'Banana'",
        ),
        (
            json.dumps(
                {
                    "version": 1,
                    "name": "n",
                    "nodes": [{"id": "a", "op": "ReLU"}, {"id": "a", "op": "ReLU"}],
                    "edges": [],
                }
            ).encode(),
            "more than one node",
        ),
        (
            json.dumps({"version": 1, "name": "n", "nodes": [], "edges": [{"source": "a", "target": "b"}]}).encode(),
            "not a node",
        ),
        (b" " * (MAX_UPLOAD_BYTES + 1), "at most 5 MB"),
    ],
)
def test_bad_uploads_get_a_clear_message(data, message):
    spec, error = read_spec_upload("net.json", data)
    assert spec is None
    assert message in error


def test_a_saved_spec_loads_back_the_same():
    spec = layered_layout(TEMPLATES["resnet_mini"].spec())
    loaded, error = read_spec_upload("net.json", spec.to_json().encode())
    assert error is None and loaded.to_dict() == spec.to_dict()


def test_a_fix_places_the_inserted_node_where_it_overlaps_nothing():
    ed = EditorSession()
    ed.set_param("x", "shape", [1, 8, 8])
    ed.fix(analyze(ed.spec).issues_for("fc1")[0].fixes[0])
    flatten = ed.spec.node("flatten").ui
    for other in ed.spec.nodes:
        if other.id != "flatten":
            assert abs(other.ui["x"] - flatten["x"]) >= 190 or abs(other.ui["y"] - flatten["y"]) >= 100


def test_session_analysis_is_computed_once_per_spec():
    ed = EditorSession()
    first = ed.analysis()
    assert ed.analysis() is first
    ed.set_param("fc1", "out_features", 8)
    assert ed.analysis() is not first and ed.analysis().shapes["fc1"] == (8,)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("GRU", "gru"),
        ("MaxPool2d", "max_pool2d"),
        ("LeakyReLU", "leaky_relu"),
        ("ReLU", "relu"),
        ("TransformerEncoderLayer", "transformer_encoder_layer"),
        ("Conv2d", "conv2d"),
    ],
)
def test_new_nodes_get_readable_ids(op, expected):
    spec, new_id = edit.add_node(GraphSpec(), op)
    assert new_id == expected
    assert edit.add_node(spec, op)[1] == f"{expected}_2"


def test_a_saved_graph_counts_as_saved_until_the_next_edit():
    ed = EditorSession()
    ed.set_param("fc1", "out_features", 8)
    assert ed.unsaved
    ed.mark_saved()
    assert not ed.unsaved
    ed.load(TEMPLATES["lenet"].spec(), "lenet")
    assert ed.notice.kind == "success"  # nothing unsaved was replaced: no "one Undo away"
    ed.set_param("fc1", "out_features", 8)
    ed.load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    assert "one Undo away" in ed.notice.text
