"""The canvas's events applied to the editor: one test per kind, repeats, malformed events, blocks."""

from __future__ import annotations

import math

import pytest

from builder.analysis.upload import read_spec_upload, saved_text
from builder.analysis.validate import analyze
from builder.editor.canvas_events import EventLog, apply_event, shown_as_sent
from builder.editor.canvas_payload import CANVAS_LIMIT
from builder.editor.canvas_picture import palette, picture_edges, picture_nodes
from builder.editor.session import EditorSession
from builder.library.templates import TEMPLATES
from builder.spec.limits import limits
from builder.spec.spec import Edge, GraphSpec, Node


class Canvas:
    """Sends events the way the component does: one client, increasing sequence numbers."""

    def __init__(self, ed: EditorSession):
        self.ed, self.log, self.seq = ed, EventLog(), 0

    def send(self, kind: str, **fields) -> bool:
        self.seq += 1
        return apply_event(self.ed, self.log, {"client": "c1", "seq": self.seq, "kind": kind, **fields})


def branchy() -> GraphSpec:
    nodes = [
        Node("x", "Input", {"shape": [4]}, {"x": 0, "y": 0}),
        Node("a", "Linear", {"out_features": 3}, {"x": 200, "y": 0}),
        Node("b", "Linear", {"out_features": 5}, {"x": 200, "y": 150}),
        Node("cat", "Concat", {}, {"x": 400, "y": 0}),
        Node("out", "Linear", {"out_features": 2}, {"x": 600, "y": 0}),
    ]
    edges = [Edge("x", "a"), Edge("x", "b"), Edge("a", "cat", 0), Edge("b", "cat", 1), Edge("cat", "out")]
    return GraphSpec("branchy", nodes, edges)


def session(spec: GraphSpec | None = None) -> tuple[EditorSession, Canvas]:
    ed = EditorSession()
    if spec is not None:
        ed.load(spec, "test")
    return ed, Canvas(ed)


def test_add_puts_the_layer_where_it_was_dropped_and_selects_it():
    ed, canvas = session()
    assert canvas.send("add", op="Tanh", x=512.4, y=77.0, on_edge=None)
    node = ed.spec.node("tanh")
    assert node.ui == {"x": 512 - 85, "y": 77 - 40} and ed.selected == "tanh"  # the drop point is the card's centre
    assert not any("tanh" in (e.source, e.target) for e in ed.spec.edges)


def test_add_onto_an_edge_inserts_the_layer_into_the_chain():
    ed, canvas = session()
    canvas.send("add", op="Dropout", x=300, y=0, on_edge="fc1->relu:0")
    assert ed.spec.inputs_of("dropout") == ["fc1"] and ed.spec.inputs_of("relu") == ["dropout"]
    assert analyze(ed.spec).ok


def test_add_of_an_unknown_op_or_onto_a_vanished_edge_is_told_and_changes_nothing():
    ed, canvas = session()
    before = ed.spec.to_dict()
    canvas.send("add", op="Bogus", x=0, y=0)
    assert "Not added" in ed.notice.text and "'Bogus'" in ed.notice.text
    canvas.send("add", op="ReLU", x=0, y=0, on_edge="nope->fc1:0")
    assert "no edge 'nope->fc1:0'" in ed.notice.text and ed.spec.to_dict() == before


def test_connect_to_a_concat_port_inserts_the_input_there():
    ed, canvas = session(branchy())
    canvas.send("add", op="Linear", x=200, y=300)
    canvas.send("connect", source="x", target="linear", port=None)
    canvas.send("connect", source="linear", target="cat", port=1)
    assert ed.spec.inputs_of("cat") == ["a", "linear", "b"]
    assert [e.port for e in ed.spec.edges if e.target == "cat"] == [0, 2, 1]
    assert analyze(ed.spec).shapes["cat"] == (3 + 16 + 5,)


def test_connect_refusals_name_the_nodes():
    ed, canvas = session()
    canvas.send("connect", source="fc1", target="fc1", port=None)
    assert ed.notice.text == "Not connected: cannot connect 'fc1' to itself"
    canvas.send("connect", source="fc2", target="x", port=None)
    assert "'x' is the Input" in ed.notice.text


def test_delete_removes_nodes_and_edges_and_renumbers_merge_ports():
    ed, canvas = session(branchy())
    canvas.send("delete", nodes=["a"], edges=[])
    assert ed.spec.node("a") is None and [(e.source, e.port) for e in ed.spec.edges if e.target == "cat"] == [("b", 0)]
    canvas.send("delete", nodes=[], edges=["b->cat:0"])
    assert ed.spec.inputs_of("cat") == []
    canvas.send("undo")
    canvas.send("undo")
    assert ed.spec.inputs_of("cat") == ["a", "b"]
    canvas.send("redo")
    assert ed.spec.node("a") is None


def test_move_end_moves_only_known_nodes_and_is_one_undo_step():
    ed, canvas = session()
    canvas.send("move_end", positions={"fc1": [10.6, 400.2], "ghost": [1, 1], "relu": "bad"})
    assert ed.spec.node("fc1").ui == {"x": 11, "y": 400}
    canvas.send("undo")
    assert ed.spec.node("fc1").ui["y"] == 0


def test_select_keeps_several_and_the_inspector_shows_the_last():
    ed, canvas = session()
    canvas.send("select", nodes=["fc1", "relu", "ghost"])
    assert ed.selection == ["fc1", "relu"] and ed.selected == "relu"
    canvas.send("select", nodes=[])
    assert ed.selection == [] and ed.selected is None


def test_paste_copies_nodes_with_fresh_ids_and_their_inner_edges():
    ed, canvas = session()
    canvas.send("paste", nodes=["fc1", "relu"], dx=40, dy=60)
    assert ed.spec.node("fc1_copy").params == {"out_features": 16}
    assert ed.spec.node("relu_copy").ui == {"x": ed.spec.node("relu").ui["x"] + 40, "y": 60}
    assert ("fc1_copy", "relu_copy") in [(e.source, e.target) for e in ed.spec.edges]
    assert ed.selection == ["fc1_copy", "relu_copy"]
    canvas.send("paste", nodes=["fc1"], dx=40, dy=60)
    assert ed.spec.node("fc1_copy_2") is not None


def test_a_repeated_or_malformed_event_changes_nothing():
    ed, canvas = session()
    event = {"client": "c1", "seq": 1, "kind": "add", "op": "ReLU", "x": 0, "y": 300}
    assert apply_event(ed, canvas.log, event)
    assert not apply_event(ed, canvas.log, dict(event))  # the same delivery again
    assert sum(n.op == "ReLU" for n in ed.spec.nodes) == 2
    assert not apply_event(ed, canvas.log, "nonsense") and not apply_event(ed, canvas.log, {"kind": "add"})
    apply_event(ed, canvas.log, {"client": "c1", "seq": 2, "kind": "explode"})
    assert "unknown action 'explode'" in ed.notice.text
    apply_event(ed, canvas.log, {"client": "c2", "seq": 1, "kind": "delete", "nodes": "fc1", "edges": None})
    assert ed.spec.node("fc1") is not None  # a string is not a list of ids


def test_group_makes_a_block_that_keeps_shapes_and_parameters():
    ed, canvas = session(branchy())
    before = analyze(ed.spec)
    canvas.send("group", nodes=["a", "b", "cat"])
    after = analyze(ed.spec)
    assert after.ok, after.issues
    assert ed.spec.node("block").params == {"block": "block1"} and ed.selected == "block"
    assert after.shapes["out"] == before.shapes["out"] and after.total_params == before.total_params
    assert [n.op for n in ed.spec.blocks["block1"].nodes].count("Input") == 1  # a and b read the same x
    canvas.send("undo")
    assert ed.spec.node("a") is not None and "block1" not in ed.spec.blocks


def test_group_refusals_say_why():
    ed, canvas = session(branchy())
    canvas.send("group", nodes=["a"])
    assert ed.notice.text == "Not made a block: select two or more nodes to make a block"
    canvas.send("group", nodes=["x", "a"])
    assert "'x' is the network's Input" in ed.notice.text
    canvas.send("group", nodes=["a", "b"])
    assert "'a', 'b' all feed nodes outside" in ed.notice.text


def test_expand_puts_the_body_back_with_parameters_filled():
    spec = TEMPLATES["resnet18_blocks"].spec()
    ed, canvas = session(spec)
    use = next(n for n in ed.spec.nodes if n.op == "Block")
    before = analyze(ed.spec)
    canvas.send("expand", node=use.id)
    after = analyze(ed.spec)
    assert after.ok, after.issues[:3]
    assert ed.spec.node(use.id) is None and after.total_params == before.total_params
    canvas.send("expand", node="x")
    assert ed.notice.text == "Not expanded: 'x' is not a block"


def test_open_edits_the_definition_for_every_use_and_the_breadcrumb_goes_back():
    ed, canvas = session(branchy())
    canvas.send("paste", nodes=["a", "b", "cat"], dx=0, dy=400)
    canvas.send("group", nodes=["a", "b", "cat"])
    canvas.send("open", path=["block"])
    assert ed.view_block == "block1" and {n.op for n in ed.view.nodes} >= {"Input", "Output", "Concat"}
    canvas.send("add", op="ReLU", x=500, y=0, on_edge="cat->out:0")
    assert ed.spec.blocks["block1"].nodes[-1].op == "ReLU" and ed.selected == "relu"
    assert ed.view_analysis().shapes["relu"] == (8,)
    canvas.send("open", path=[])
    assert ed.view is ed.spec and ed.path == []
    canvas.send("open", path=["a_copy"])
    assert ed.notice.text == "Not opened: 'a_copy' is not a block use here" and ed.path == []


def test_the_picture_numbers_merge_ports_and_labels_edges_with_shapes():
    spec = branchy()
    analysis = analyze(spec)
    nodes = {n["id"]: n for n in picture_nodes(spec, analysis)}
    assert nodes["cat"]["inputs"] == 3 and nodes["cat"]["port_labels"] == ["1", "2", "3"]
    assert nodes["x"]["inputs"] == 0 and nodes["a"]["inputs"] == 1 and nodes["a"]["port_labels"] is None
    assert nodes["a"]["shape"] == "[3]" and nodes["a"]["count"] == "15 p" and nodes["a"]["problem"] is None
    edges = {e["id"]: e for e in picture_edges(spec, analysis)}
    assert edges["b->cat:1"]["port"] == 1 and edges["b->cat:1"]["label"] == "[5]"
    assert all("Output" != op["name"] for group in palette() for op in group["ops"])


def test_the_picture_marks_a_node_with_a_problem():
    spec = branchy()
    spec.node("a").params["out_features"] = 0
    nodes = {n["id"]: n for n in picture_nodes(spec, analyze(spec))}
    assert "out_features" in nodes["a"]["problem"] and nodes["b"]["problem"] is None


def test_the_palette_offers_the_built_in_blocks_and_each_adds_a_valid_use():
    from builder.editor.palette_blocks import PALETTE_BLOCKS

    offered = {op["name"] for group in palette() if group["group"] == "blocks" for op in group["ops"]}
    assert offered == {"ResNet basic block", "Bottleneck block", "LSTM cell", "GRU cell", "Transformer encoder block"}
    inputs = {"Block": [16, 8, 8], "Recurrent": [12, 3]}
    for entry, item in PALETTE_BLOCKS.items():
        shape = [64, 8, 8] if entry == "Bottleneck block" else [10, 16] if "encoder" in entry else inputs[item.op]
        spec = GraphSpec("t", [Node("x", "Input", {"shape": shape}, {"x": 0, "y": 0})], [])
        ed, canvas = session(spec)
        canvas.send("add", op=entry, x=300, y=0)
        new_id = ed.selected
        canvas.send("connect", source="x", target=new_id, port=None)
        analysis = analyze(ed.spec)
        assert analysis.ok, (entry, [i.message for i in analysis.issues])
        assert item.block in ed.spec.blocks and ed.spec.node(new_id).op == item.op
    assert "Recurrent" not in {op["name"] for group in palette() for op in group["ops"]}  # it comes as a cell


def test_a_users_own_block_of_a_library_name_is_kept_when_the_palette_adds_a_use():
    ed, canvas = session(branchy())
    canvas.send("group", nodes=["a", "b", "cat"])
    ed.spec.blocks["basic"] = ed.spec.blocks.pop("block1")  # the person's own "basic"
    mine = ed.spec.blocks["basic"].to_dict()
    canvas.send("add", op="ResNet basic block", x=0, y=600)
    assert ed.spec.blocks["basic"].to_dict() == mine


# --- hostile payloads (issue 20, item 6): every event is total; the graph always loads back ------------------


def loads_back(ed: EditorSession) -> bool:
    spec, error = read_spec_upload("the saved graph", saved_text(ed.spec).encode("utf-8"))
    return error is None and spec.to_dict() == ed.spec.to_dict()


def test_a_card_moved_to_1e300_is_clamped_to_the_canvas_and_the_graph_loads_back():
    ed, canvas = session()
    canvas.send("move_end", positions={"fc1": [1e300, -1e300], "relu": [10**400, -(10**400)], "fc2": [-0.0, 5]})
    assert ed.spec.node("fc1").ui == {"x": CANVAS_LIMIT, "y": -CANVAS_LIMIT}
    assert ed.spec.node("relu").ui == {"x": CANVAS_LIMIT, "y": -CANVAS_LIMIT}
    assert ed.spec.node("fc2").ui == {"x": 0, "y": 5} and str(ed.spec.node("fc2").ui["x"]) == "0"
    assert loads_back(ed) and ed.notice is None


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, "12", True, [1], {"x": 1}])
def test_a_position_that_is_not_a_finite_number_is_a_notice_and_moves_nothing(bad):
    ed, canvas = session()
    before = ed.spec.to_dict()
    assert canvas.send("move_end", positions={"fc1": [bad, 0]})
    assert ed.spec.to_dict() == before and not ed.history.can_undo
    assert ed.notice.kind == "error" and ed.notice.text.startswith("Not moved: 'fc1' x must be a")
    assert canvas.send("move_end", positions={"fc1": [100, 100], "relu": [0, bad]})  # the good one moves
    assert ed.spec.node("fc1").ui == {"x": 100, "y": 100} and ed.spec.node("relu").ui == before["nodes"][2]["ui"]
    assert "'relu' y must be a" in ed.notice.text and loads_back(ed)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, "12", [1]])
@pytest.mark.parametrize("kind, field", [("add", "x"), ("add", "y"), ("paste", "dx"), ("paste", "dy")])
def test_a_drop_or_paste_offset_that_is_not_a_finite_number_is_a_notice(kind, field, bad):
    ed, canvas = session()
    before = ed.spec.to_dict()
    fields = {"op": "ReLU", "x": 0, "y": 0} if kind == "add" else {"nodes": ["fc1"], "dx": 40, "dy": 40}
    assert canvas.send(kind, **{**fields, field: bad})
    assert ed.spec.to_dict() == before and not ed.history.can_undo
    assert ed.notice.text.startswith(("Not added: ", "Not pasted: ")) and field in ed.notice.text
    assert ed.notice.text.endswith("nothing changed")


def test_a_drop_or_paste_far_off_is_clamped_and_loads_back():
    ed, canvas = session()
    canvas.send("add", op="Tanh", x=1e300, y=-math.ulp(0.0))
    assert ed.spec.node("tanh").ui["x"] == CANVAS_LIMIT - 85 and loads_back(ed)
    canvas.send("paste", nodes=["fc1"], dx=10**400, dy=-1e300)
    assert ed.spec.node("fc1_copy").ui == {"x": 270 + CANVAS_LIMIT, "y": -CANVAS_LIMIT} and loads_back(ed)


def test_an_edit_the_loader_would_refuse_is_put_back_whole():
    far = GraphSpec("far", [Node("x", "Input", {"shape": [2]}, {"x": 999_999_999, "y": 0})], [])  # the loader's edge
    ed, canvas = session(far)
    canvas.send("select", nodes=["x"])
    before, past, version = ed.spec, list(ed.history.past), ed.version
    assert canvas.send("paste", nodes=["x"], dx=CANVAS_LIMIT, dy=0)  # would land at x = 1,000,999,999
    assert ed.spec is before and ed.history.past == past and ed.version == version and ed.selection == ["x"]
    assert ed.notice.text.startswith("Not pasted: the result could not be saved and loaded again")
    assert "nodes[1].ui.x" in ed.notice.text and canvas.log.applied == 1  # the select only
    canvas.send("undo")  # the history is the one before the refused paste: the load, then the starter
    assert ed.spec.name == "starter"
    canvas.send("redo")
    assert ed.spec.to_dict() == far.to_dict()


LONG = "a" * 5_000
HOSTILE = [
    {"kind": ["add"]},
    {"kind": {"k": 1}},
    {"kind": LONG},
    {"kind": "add", "op": LONG, "x": 0, "y": 0},
    {"kind": "add", "op": ["ReLU"], "x": 0, "y": 0},
    {"kind": "add", "op": "ReLU", "x": 0, "y": 0, "on_edge": {"a": [1]}},
    {"kind": "connect", "source": ["x"], "target": "fc1"},
    {"kind": "connect", "source": LONG, "target": "fc1", "port": 10**400},
    {"kind": "connect", "source": "fc1", "target": None},
    {"kind": "delete", "nodes": ["fc1"] * 100_000, "edges": []},
    {"kind": "delete", "nodes": "fc1", "edges": {"e": 1}},
    {"kind": "delete", "nodes": [LONG, None, [["fc1"]]], "edges": [LONG * 2, 7]},
    {"kind": "move_end", "positions": [["fc1", 1, 2]]},
    {"kind": "move_end", "positions": {f"n{i}": [1, 1] for i in range(100_000)}},
    {"kind": "move_end", "positions": {"fc1": [1, 2, 3], LONG: [1, 1]}},
    {"kind": "select", "nodes": list(range(100_000))},
    {"kind": "paste", "nodes": {"fc1": True}, "dx": 1, "dy": 1},
    {"kind": "paste", "nodes": [LONG], "dx": 1, "dy": 1},
    {"kind": "group", "nodes": [["fc1", "relu"]]},
    {"kind": "group", "nodes": ["fc1"] * 100_000},
    {"kind": "open", "path": [LONG]},
    {"kind": "open", "path": ["fc1"] * 1_000},
    {"kind": "open", "path": [{"deep": [[[[[]]]]]}]},
    {"kind": "expand", "node": [1, 2]},
    {"kind": "expand", "node": LONG},
    {"kind": "undo", "junk": [[[[]]]]},
]


@pytest.mark.parametrize("event", HOSTILE, ids=[f"{i}-{str(e['kind'])[:10]}" for i, e in enumerate(HOSTILE)])
def test_a_hostile_event_is_told_in_one_short_line_and_changes_nothing_it_should_not(event):
    ed, canvas = session()
    before = ed.spec.to_dict()
    canvas.send(**event)
    assert ed.spec.to_dict() == before and loads_back(ed)
    assert ed.notice is None or (len(ed.notice.text) < 300 and "\n" not in ed.notice.text)


@pytest.mark.parametrize("client", [["c"], {"c": 1}, None, 7, "c" * 5_000])
def test_an_event_without_a_proper_client_or_seq_is_not_an_event(client):
    ed, canvas = session()
    assert not apply_event(ed, canvas.log, {"client": client, "seq": 1, "kind": "delete", "nodes": ["fc1"]})
    assert not apply_event(ed, canvas.log, {"client": "c", "seq": True, "kind": "delete", "nodes": ["fc1"]})
    assert ed.spec.node("fc1") is not None and canvas.log.seen == {}


@pytest.fixture
def node_cap(monkeypatch):
    monkeypatch.setenv("NETCANVAS_MAX_NODES", "5")
    limits.cache_clear()
    yield 5
    limits.cache_clear()


def test_an_add_a_paste_or_a_group_over_the_node_cap_is_a_notice(node_cap):
    ed, canvas = session()  # the starter: 4 nodes
    canvas.send("paste", nodes=["fc1", "relu"], dx=40, dy=40)
    assert ed.notice.text.startswith("Not pasted: the network would have 6 nodes") and len(ed.spec.nodes) == 4
    canvas.send("add", op="ResNet basic block", x=0, y=300)  # a palette block: its body counts
    assert ed.notice.text.startswith("Not added: the network would have") and len(ed.spec.nodes) == 4
    canvas.send("add", op="ReLU", x=0, y=300)
    assert len(ed.spec.nodes) == 5 and ed.notice is None
    canvas.send("group", nodes=["fc1", "relu"])
    assert "at most 5" in ed.notice.text and ed.spec.blocks == {}


def test_a_move_is_adopted_only_when_the_editor_holds_what_the_browser_shows():
    ed, canvas = session()
    moves = {"fc1": [100.4, 200], "ghost": [1, 1]}
    canvas.send("move_end", positions=moves)
    assert shown_as_sent(ed, {"kind": "move_end", "positions": moves})
    far = {"fc1": [1e300, 0]}
    canvas.send("move_end", positions=far)  # clamped: the card must be drawn again where it is kept
    assert not shown_as_sent(ed, {"kind": "move_end", "positions": far})
    refused = {"fc1": [math.nan, 0]}
    canvas.send("move_end", positions=refused)
    assert not shown_as_sent(ed, {"kind": "move_end", "positions": refused})
    assert not shown_as_sent(ed, {"kind": "add"})


def test_a_group_refusal_over_a_wide_selection_stays_one_short_line():
    """A selection of 500 parallel branches lists a few of them and counts the rest (it listed all 500)."""
    nodes = [Node("x", "Input", {"shape": [4]})] + [Node(f"r{i}", "ReLU") for i in range(500)]
    edges = [Edge("x", f"r{i}") for i in range(500)]
    ed, canvas = session(GraphSpec(name="wide", nodes=nodes, edges=edges))
    canvas.send("group", nodes=[f"r{i}" for i in range(500)])
    assert "the selection ends in 500 nodes (" in ed.notice.text and "and 494 more" in ed.notice.text
    assert len(ed.notice.text) < 200
