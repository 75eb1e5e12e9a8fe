"""The Build page's logic through Streamlit's AppTest: the canvas is driven by the events it would send."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from streamlit.testing.v1 import AppTest

from builder.analysis.validate import analyze
from tests.apptest_canvas import canvas_data, canvas_node, send_event

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=30)
    app.run()
    assert not app.exception
    return app


def editor(at: AppTest):
    return at.session_state["build_editor"]


def node_card(at: AppTest, node_id: str) -> str:
    """The card's text: key parameters, output shape, count and problem."""
    node = canvas_node(at, node_id)
    return " ".join(str(node[k]) for k in ("op", "params", "shape", "count", "problem") if node[k])


def edge_label(at: AppTest, source: str, target: str) -> str:
    return next(e["label"] for e in canvas_data(at)["edges"] if (e["source"], e["target"]) == (source, target))


def click_node(at: AppTest, node_id: str) -> None:
    send_event(at, "select", nodes=[node_id])
    assert not at.exception


def add_layer(at: AppTest, op: str) -> str:
    """Drop `op` from the palette onto the pane below everything; returns the new node's id."""
    send_event(at, "add", op=op, x=0, y=2000)
    assert not at.exception
    return editor(at).selected


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_app_routes_to_the_build_page_and_draws_the_starter_graph(at):
    data = canvas_data(at)
    assert [n["id"] for n in data["nodes"]] == ["x", "fc1", "relu", "fc2"]
    assert edge_label(at, "x", "fc1") == "[2]"
    assert "[16]" in node_card(at, "fc1") and "out_features=16" in node_card(at, "fc1")
    assert not data["read_only"] and data["rev"] == 1 and data["fit"] == 1  # a first picture, fitted
    assert {"dense", "activation", "merge"} <= {group["group"] for group in data["palette"]}


def id_field(at):
    """The inspector's id field (the network name's field comes first on the page)."""
    return next(field for field in at.text_input if field.label == "id")


def test_clicking_a_node_selects_it_and_the_selection_survives_reruns(at):
    rev = canvas_data(at)["rev"]
    click_node(at, "fc1")
    assert editor(at).selected == "fc1"
    at.run()
    assert editor(at).selected == "fc1"
    assert id_field(at).value == "fc1"
    assert canvas_data(at)["selected"] == ["fc1"]
    assert canvas_data(at)["rev"] == rev  # the browser shows the selection already: no new picture


def test_editing_a_parameter_changes_the_edge_shape_on_the_canvas(at):
    click_node(at, "fc1")
    rev = canvas_data(at)["rev"]
    next(w for w in at.number_input if w.label == "out_features *").set_value(64).run()
    assert edge_label(at, "fc1", "relu") == "[64]"
    assert canvas_data(at)["rev"] > rev  # a new picture is sent to the component
    assert "4,160" not in node_card(at, "fc1") and "192 p" in node_card(at, "fc1")


def test_inspector_shows_shapes_params_and_a_widget_per_parameter(at):
    click_node(at, "fc1")
    assert any("in [2] → out [16]" in m.value for m in at.markdown)
    assert any(w.label == "bias" for w in at.checkbox)
    assert any(w.label == "out_features *" and "range: 1 ≤ out_features" in w.help for w in at.number_input)


def test_a_layer_dropped_from_the_palette_is_added_where_it_fell_and_can_be_wired(at):
    send_event(at, "add", op="Softmax", x=900.0, y=40.0)
    assert editor(at).selected == "softmax" and editor(at).spec.node("softmax").ui == {"x": 815, "y": 0}
    send_event(at, "connect", source="fc2", target="softmax", port=None)
    spec = editor(at).spec
    assert ("fc2", "softmax") in [(e.source, e.target) for e in spec.edges]
    assert analyze(spec).ok and edge_label(at, "fc2", "softmax") == "[2]"


def test_a_layer_dropped_onto_an_edge_is_inserted_there(at):
    send_event(at, "add", op="Dropout", x=300.0, y=60.0, on_edge="fc1->relu:0")
    spec = editor(at).spec
    assert spec.inputs_of("dropout") == ["fc1"] and spec.inputs_of("relu") == ["dropout"]
    assert edge_label(at, "dropout", "relu") == "[16]"


def test_rename_checks_the_id_then_renames(at):
    click_node(at, "relu")
    id_field(at).set_value("fc1").run()
    assert "already used" in at.error[0].value
    id_field(at).set_value("act").run()
    assert editor(at).selected == "act"
    assert edge_label(at, "act", "fc2") == "[16]"


def test_shape_error_shows_red_node_message_and_fix(at):
    click_node(at, "x")
    next(w for w in at.text_input if w.label == "shape *").set_value("1, 8, 8").run()
    fc1 = canvas_node(at, "fc1")
    assert "Linear expects [features]" in fc1["problem"] and "Linear expects" in fc1["tooltip"]
    assert any("fc1" in m.value and "Linear expects" in m.value for m in at.markdown)
    button(at, "Fix: insert Flatten between x and this Linear").click().run()
    assert analyze(editor(at).spec).ok
    assert edge_label(at, "flatten", "fc1") == "[64]"


def test_bad_text_parameter_is_reported_and_not_stored(at):
    click_node(at, "x")
    next(w for w in at.text_input if w.label == "shape *").set_value("1, eight").run()
    assert "whole numbers" in at.error[0].value
    assert editor(at).spec.node("x").params["shape"] == [2]


def test_delete_from_inspector_and_from_the_canvas_menu(at):
    click_node(at, "relu")
    button(at, "Delete node").click().run()
    assert editor(at).spec.node("relu") is None and editor(at).selected is None
    send_event(at, "delete", nodes=["fc2"], edges=[])
    assert [n.id for n in editor(at).spec.nodes] == ["x", "fc1"]
    send_event(at, "delete", nodes=[], edges=["x->fc1:0"])
    assert editor(at).spec.edges == [] and canvas_data(at)["edges"] == []
    send_event(at, "undo")
    assert edge_label(at, "x", "fc1") == "[2]"


def test_connecting_on_the_canvas_adds_an_edge_and_labels_it(at):
    click_node(at, "relu")
    button(at, "Delete node").click().run()
    send_event(at, "connect", source="fc1", target="fc2", port=0)
    assert ("fc1", "fc2") in [(e.source, e.target) for e in editor(at).spec.edges]
    assert edge_label(at, "fc1", "fc2") == "[16]"


def test_dragging_a_node_moves_it_and_is_undoable(at):
    rev = canvas_data(at)["rev"]
    send_event(at, "move_end", positions={"fc1": [300.4, 220.0]})
    assert editor(at).spec.node("fc1").ui == {"x": 300, "y": 220}
    assert canvas_data(at)["rev"] == rev and canvas_node(at, "fc1")["y"] == 220  # adopted, not redrawn
    button(at, "Undo").click().run()
    assert editor(at).spec.node("fc1").ui["y"] == 0 and canvas_data(at)["rev"] == rev + 1


def test_undo_and_redo_25_steps(at):
    click_node(at, "fc1")
    for k in range(25):
        next(w for w in at.number_input if w.label == "out_features *").set_value(100 + k).run()
    for _ in range(25):
        button(at, "Undo").click().run()
    assert editor(at).spec.node("fc1").params["out_features"] == 16
    for _ in range(25):
        button(at, "Redo").click().run()
    assert editor(at).spec.node("fc1").params["out_features"] == 124


def test_templates_gallery_loads_a_laid_out_template_and_fits_the_view(at):
    button(at, "Templates").click().run()
    next(b for b in at.button if b.key == "template_lenet").click().run()
    assert not at.exception
    spec = editor(at).spec
    assert spec.name == "lenet" and all({"x", "y"} <= set(n.ui) for n in spec.nodes)
    assert canvas_data(at)["fit"] == 2  # the first picture was fitted, and the loaded template again
    assert len(canvas_data(at)["nodes"]) == len(spec.nodes)


def test_auto_layout_and_clear(at):
    send_event(at, "move_end", positions={"relu": [5.0, 400.0]})
    button(at, "Auto-layout").click().run()
    assert {n.ui["y"] for n in editor(at).spec.nodes} == {0}
    button(at, "Clear").click().run()
    assert editor(at).spec.nodes == [] and canvas_data(at)["nodes"] == []
    assert any("no Input" in m.value for m in at.markdown)


MEMORY_LINE = re.compile(
    r"weights ([\d,.]+) MB · with gradients and Adam state ([\d,.]+) MB\s+activations at batch ([\d,]+): about "
    r"([\d,.]+) MB"
)


def memory_figures(at: AppTest) -> tuple[float, float, int, float]:
    """(weights MB, with training state MB, batch, activations MB) as the summary shows them."""
    (found,) = [m for m in (MEMORY_LINE.search(md.value) for md in at.markdown) if m]
    weights, with_state, batch, activations = (v.replace(",", "") for v in found.groups())
    return float(weights), float(with_state), int(batch), float(activations)


def set_batch(at: AppTest, batch: int) -> None:
    next(w for w in at.number_input if w.label == "batch size").set_value(batch).run()
    assert not at.exception


def test_summary_table_totals_and_memory_follow_the_batch_size(at):
    (table,) = at.dataframe
    assert list(table.value["node"]) == ["x", "fc1", "relu", "fc2"]
    assert list(table.value["parameters"]) == [0, 48, 0, 34]
    assert any("82 parameters" in m.value for m in at.markdown)
    # by hand: x 2 + fc1 16 + relu 16 + fc2 2 = 36 float32 values per sample, 144 bytes
    set_batch(at, 100_000)
    weights, with_state, batch, activations = memory_figures(at)
    assert (batch, activations) == (100_000, round(144 * 100_000 / 2**20, 2)) == (100_000, 13.73)
    set_batch(at, 1_000_000)
    assert memory_figures(at) == (weights, with_state, 1_000_000, round(144 * 1_000_000 / 2**20, 2))
    assert memory_figures(at)[3] / activations == pytest.approx(10, abs=0.005)  # ten times the batch: ten times
    # weights: fc1 out_features 100,000 gives 2*100,000 + 100,000 + 100,000*2 + 2 = 500,002 float32 parameters;
    # with a gradient and two Adam moments each, four times as many bytes
    click_node(at, "fc1")
    next(w for w in at.number_input if w.label == "out_features *").set_value(100_000).run()
    assert not at.exception
    assert memory_figures(at)[:2] == (round(500_002 * 4 / 2**20, 2), round(4 * 500_002 * 4 / 2**20, 2)) == (1.91, 7.63)


def test_save_button_offers_the_spec_as_json(at):
    (download,) = at.get("download_button")
    assert download.proto.label == "Save JSON"


@pytest.mark.parametrize(
    "group",
    ["io", "dense", "normalisation", "convolution", "activation", "recurrent", "merge", "attention", "unsupervised"],
)
def test_inspector_has_a_widget_for_every_parameter_of_every_op(at, group):
    from builder.ops.catalog import ops_by_group

    for op in ops_by_group()[group]:
        if op.name in ("Output", "Block", "Recurrent"):  # inside blocks; made from a selection; comes as a cell
            continue
        node_id = add_layer(at, op.name)
        assert not at.exception, (op.name, at.exception)
        assert editor(at).spec.node(node_id).op == op.name
        labels = [w.label for kind in ("number_input", "text_input", "checkbox", "selectbox") for w in at.get(kind)]
        for param in op.params:
            assert param.name + (" *" if param.required else "") in labels, (op.name, param.name)


def test_float_choice_and_derived_parameters_can_be_edited(at):
    add_layer(at, "Dropout")
    next(w for w in at.number_input if w.label == "p").set_value(0.25).run()
    assert editor(at).spec.node("dropout").params == {"p": 0.25}
    add_layer(at, "GRU")
    next(w for w in at.checkbox if w.label == "bidirectional").check().run()
    assert editor(at).spec.node("gru").params["bidirectional"] is True
    load = next(b for b in at.button if b.label == "Templates")
    load.click().run()
    next(b for b in at.button if b.key == "template_lenet").click().run()
    click_node(at, "pool1")
    next(w for w in at.text_input if w.label == "stride").set_value("1").run()
    assert editor(at).spec.node("pool1").params["stride"] == 1
    assert "[6, 7, 7]" in node_card(at, "pool1")
    next(w for w in at.text_input if w.label == "stride").set_value("").run()
    assert "stride" not in editor(at).spec.node("pool1").params


def test_merge_shape_error_offers_an_adapter_and_concat(at):
    from builder.editor.session import EditorSession
    from tests.helpers import make_spec

    spec = make_spec(
        [
            ("x", "Input", {"shape": [4]}),
            ("a", "Linear", {"out_features": 8}),
            ("b", "Linear", {"out_features": 16}),
            ("add", "Add"),
        ],
        [("x", "a"), ("x", "b"), ("a", "add"), ("b", "add")],
    )
    at.session_state["build_editor"] = EditorSession(spec=spec)
    at.run()
    labels = [b.label for b in at.button if b.label.startswith("Fix:")]
    assert "Fix: insert a Linear(8) adapter after b" in labels and "Fix: use Concat instead of Add" in labels
    button(at, "Fix: use Concat instead of Add").click().run()
    assert editor(at).spec.node("add").op == "Concat"
    assert "[24]" in node_card(at, "add")
    button(at, "Undo").click().run()
    button(at, "Fix: insert a Linear(8) adapter after b").click().run()
    assert analyze(editor(at).spec).ok
    assert edge_label(at, "linear", "add") == "[8]"


def curve_charts(at: AppTest) -> list[dict]:
    """The plotly figures on the page, as their JSON specs."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_an_activation_node_shows_its_curve_with_the_nodes_parameters(at):
    click_node(at, "fc1")
    assert curve_charts(at) == []  # a Linear: no curve
    click_node(at, "relu")
    (figure,) = curve_charts(at)
    assert [trace["name"] for trace in figure["data"]] == ["f(x)", "f′(x)"]
    assert any("ReLU on x from −4 to 4" in c.value for c in at.caption)
    add_layer(at, "LeakyReLU")
    next(w for w in at.number_input if w.label == "negative_slope").set_value(0.25).run()
    (figure,) = curve_charts(at)
    slope = figure["data"][1]["y"]
    assert min(slope) == pytest.approx(0.25) and max(slope) == pytest.approx(1.0)
    assert any("LeakyReLU(negative_slope=0.25)" in c.value for c in at.caption)
    add_layer(at, "BipolarStep")
    (figure,) = curve_charts(at)
    assert [trace["name"] for trace in figure["data"]] == ["f(x)", "f′ in training", "true f′"]
    assert any("straight-through" in c.value for c in at.caption)


def test_blocks_on_the_canvas_make_open_edit_and_expand(at):
    button(at, "Templates").click().run()
    next(b for b in at.button if b.key == "template_resnet18_blocks").click().run()
    use = next(n for n in editor(at).spec.nodes if n.op == "Block")
    assert canvas_node(at, use.id)["block"] and canvas_data(at)["breadcrumb"] == []
    send_event(at, "open", path=[use.id])
    data = canvas_data(at)
    block = use.params["block"]
    assert [c["path"] for c in data["breadcrumb"]] == [[], [use.id]] and block in data["breadcrumb"][-1]["label"]
    assert f"Editing block '{block}'" in data["note"] and "use(s)" in data["note"]
    assert [n["op"] for n in data["nodes"]].count("Block") == 2  # a ResNet stage: two basic blocks
    inner = next(n["id"] for n in data["nodes"] if n["op"] == "Block")
    send_event(at, "open", path=[use.id, inner])
    assert len(canvas_data(at)["breadcrumb"]) == 3
    assert {n["op"] for n in canvas_data(at)["nodes"]} >= {"Input", "Conv2d", "Add", "Output"}
    assert canvas_node(at, "conv1")["shape"] != "?"  # shapes of the use that was opened
    click_node(at, "conv1")
    assert any(w.label == "out_channels *" and w.value == "$channels" and w.disabled for w in at.text_input)
    send_event(at, "open", path=[])
    send_event(at, "expand", node=use.id)
    assert editor(at).spec.node(use.id) is None and analyze(editor(at).spec).ok


def test_a_selection_becomes_a_block_with_one_event(at):
    send_event(at, "group", nodes=["fc1", "relu"])
    spec = editor(at).spec
    assert [n.op for n in spec.nodes] == ["Input", "Linear", "Block"] and "block1" in spec.blocks
    assert canvas_node(at, "block")["shape"] == "[16]" and edge_label(at, "block", "fc2") == "[16]"
    assert any("made block 'block1'" in t.value for t in at.toast)


def test_a_block_or_cell_from_the_palette_is_edited_in_the_inspector(at):
    click_node(at, "x")
    next(w for w in at.text_input if w.label == "shape *").set_value("12, 3").run()
    send_event(at, "delete", nodes=["fc1", "relu", "fc2"], edges=[])
    send_event(at, "add", op="LSTM cell", x=300.0, y=0.0)
    send_event(at, "connect", source="x", target="lstm", port=None)
    assert canvas_node(at, "lstm")["shape"] == "[12, 16]"
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.label == "cell *")).value == "lstm_cell"
    next(w for w in at.number_input if w.label == "hidden *").set_value(8).run()
    assert canvas_node(at, "lstm")["shape"] == "[12, 8]"
    send_event(at, "add", op="ResNet basic block", x=300.0, y=300.0)
    block = editor(at).selected
    field = next(w for w in at.text_input if w.label == "channels *")
    assert field.value == "16"
    field.set_value("32").run()
    assert editor(at).spec.node(block).params["channels"] == 32


def test_an_applied_event_asks_for_the_whole_page_and_the_answer_changes_nothing(at):
    """The canvas is a fragment that reruns alone after a gesture: each applied event raises the payload's
    `refresh`, and the component's `refresh` request (sent once it drew the new picture) reruns the page."""
    refresh, version = canvas_data(at)["refresh"], editor(at).version
    send_event(at, "add", op="ReLU", x=0, y=2000)
    assert canvas_data(at)["refresh"] == refresh + 1 and editor(at).version == version + 1
    send_event(at, "refresh", n=refresh + 1)
    assert not at.exception and editor(at).notice is None
    assert canvas_data(at)["refresh"] == refresh + 1 and editor(at).version == version + 1
    assert not at.session_state["build_canvas_sync"].page_wanted
    send_event(at, "add", op="Tanh", x=0, y=2200, client="tab", seq=7)
    send_event(at, "add", op="Tanh", x=0, y=2200, client="tab", seq=7)  # delivered twice: one add, one request
    assert canvas_data(at)["refresh"] == refresh + 2 and editor(at).version == version + 2
    send_event(at, "connect", source="nope", target="fc2", port=0)  # refused: its message is on the page
    assert canvas_data(at)["refresh"] == refresh + 3 and editor(at).version == version + 2
    assert "nope" in editor(at).notice.text


def test_a_graph_with_hundreds_of_problems_lists_the_first_hundred_and_counts_the_rest(at):
    """Each listed problem is a container with its buttons: thousands would stall the page's server."""
    from builder.spec.spec import parse_spec

    nodes = [{"id": "x", "op": "Input", "params": {"shape": [4]}}, {"id": "add", "op": "Add"}]
    nodes += [{"id": f"fc{i}", "op": "Linear", "params": {"out_features": 3}} for i in range(150)]
    edges = [{"source": "x", "target": "fc0"}, {"source": "fc0", "target": "add"}]
    edges += [{"source": "x", "target": f"fc{i}"} for i in range(1, 150)]  # 149 dead ends, each a problem
    spec, _ = parse_spec({"version": 2, "name": "wide", "nodes": nodes, "edges": edges})
    issues = analyze(spec).issues
    assert len(issues) > 100
    editor(at).load(spec, "a wide file")
    at.run()
    assert not at.exception
    listed = [m for m in at.markdown if m.value.startswith(":red[")]
    assert len(listed) == 100
    assert f"The first 100 of {len(issues):,} are listed; fix these first." in [c.value for c in at.caption]
