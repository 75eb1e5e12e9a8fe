"""The payload's layout requests (builder/editor/layout.py): what Python places is flagged for the canvas's ELK
layout, the component's answer (a move_end marked `layout`) clears the flags without an undo step of its own,
and a block card has one input port per body Input."""

from __future__ import annotations

from builder.analysis.fixes import apply_fix
from builder.analysis.validate import analyze
from builder.editor.canvas_events import EventLog, apply_event
from builder.editor.canvas_picture import picture_nodes
from builder.editor.layout import AUTO, layered_layout, layout_request, placed
from builder.editor.session import EditorSession
from builder.library.templates import TEMPLATES
from builder.spec.issues import Fix
from builder.spec.spec import BlockDef, Edge, GraphSpec, Node


class Canvas:
    def __init__(self, ed: EditorSession):
        self.ed, self.log, self.seq = ed, EventLog(), 0

    def send(self, kind: str, **fields) -> bool:
        self.seq += 1
        return apply_event(self.ed, self.log, {"client": "c1", "seq": self.seq, "kind": kind, **fields})

    def answer_layout(self) -> dict:
        """What the component does with a request: positions for the flagged nodes, sent as one move_end."""
        request = layout_request(self.ed.view)
        ids = [n.id for n in self.ed.view.nodes] if request == "all" else list(request or [])
        positions = {node_id: [300.0 * k, 40.0] for k, node_id in enumerate(ids)}
        self.send("move_end", positions=positions, layout=True)
        return positions


def chain(n: int) -> GraphSpec:
    nodes = [Node("x", "Input", {"shape": [4]}, {"x": 0, "y": 0})]
    nodes += [Node(f"r{k}", "ReLU", {}, {"x": 200 * (k + 1), "y": 0}) for k in range(n)]
    edges = [Edge(a.id, b.id) for a, b in zip(nodes, nodes[1:])]
    return GraphSpec("chain", nodes, edges)


def loaded(name: str) -> tuple[EditorSession, Canvas]:
    ed = EditorSession()
    ed.load(TEMPLATES[name].spec(), name)
    return ed, Canvas(ed)


def test_a_template_without_positions_asks_for_a_layout_of_all_and_one_with_positions_for_none():
    ed, _ = loaded("resnet_mini")
    assert layout_request(ed.view) == "all"
    ed.load(chain(4), "a chain")
    assert layout_request(ed.view) is None


def test_the_components_layout_clears_the_flags_keeps_the_positions_and_leaves_the_graph_saved():
    ed, canvas = loaded("resnet_mini")
    positions = canvas.answer_layout()
    assert layout_request(ed.view) is None
    assert ed.spec.node("fc").ui == {"x": positions["fc"][0], "y": positions["fc"][1]}
    assert not ed.unsaved  # laying out a graph just loaded changes nothing the person made
    assert ed.notice is not None and "loaded" in ed.notice.text  # the load's notice stays


def test_auto_layout_asks_for_all_and_one_undo_takes_it_back_with_its_layout():
    ed, canvas = loaded("mlp_xor")
    canvas.answer_layout()
    before = {n.id: dict(n.ui) for n in ed.spec.nodes}
    ed.auto_layout()
    assert layout_request(ed.view) == "all"
    canvas.answer_layout()
    assert layout_request(ed.view) is None
    canvas.send("undo")
    assert {n.id: dict(n.ui) for n in ed.spec.nodes} == before


def test_a_drop_onto_an_edge_asks_for_the_new_node_only_and_a_drop_on_the_pane_for_nothing():
    ed = EditorSession()
    canvas = Canvas(ed)
    canvas.send("add", op="Dropout", x=300, y=0, on_edge="fc1->relu:0")
    assert layout_request(ed.view) == ["dropout"]
    canvas.answer_layout()
    canvas.send("add", op="Tanh", x=900, y=400, on_edge=None)
    assert layout_request(ed.view) is None


def test_a_fix_that_inserts_a_node_asks_for_that_node():
    spec = chain(2)
    out = apply_fix(spec, Fix("insert", "insert a Flatten", op="Flatten", source="r0", target="r1"))
    assert layout_request(out) == ["flatten"]
    assert out.inputs_of("flatten") == ["r0"] and out.inputs_of("r1") == ["flatten"]


def test_expanding_a_block_asks_for_its_body_and_one_undo_restores_the_block():
    ed, canvas = loaded("resnet18_blocks")
    canvas.answer_layout()
    canvas.send("expand", node="layer1")
    request = layout_request(ed.view)
    new = {n.id for n in ed.spec.nodes} - {n.id for n in TEMPLATES["resnet18_blocks"].spec().nodes}
    assert isinstance(request, list) and set(request) == new and new
    canvas.answer_layout()
    assert layout_request(ed.view) is None
    canvas.send("undo")
    assert ed.spec.node("layer1") is not None and ed.spec.node("layer1").op == "Block"


def test_an_opened_body_without_positions_asks_for_all_and_keeps_them_once_laid_out():
    ed, canvas = loaded("resnet18_blocks")
    canvas.answer_layout()
    canvas.send("open", path=["layer1"])
    assert layout_request(ed.view) == "all"
    canvas.answer_layout()
    assert layout_request(ed.view) is None
    assert all({"x", "y"} <= set(n.ui) and AUTO not in n.ui for n in ed.view.nodes)


def test_a_move_by_the_person_is_an_undo_step_of_its_own_and_clears_a_flag():
    ed, canvas = loaded("mlp_xor")
    canvas.answer_layout()
    steps = len(ed.history.past)
    canvas.send("move_end", positions={"fc1": [5, 5]})
    assert len(ed.history.past) == steps + 1
    flagged = layered_layout(ed.spec)
    assert placed(flagged, ["fc1"]).node("fc1").ui.get(AUTO) is None and placed(flagged, []) is flagged


def test_a_one_input_block_card_has_one_port_and_a_two_input_block_one_per_body_input():
    spec = TEMPLATES["resnet18_blocks"].spec()
    cards = {c["id"]: c for c in picture_nodes(spec, analyze(spec))}
    assert cards["layer1"]["inputs"] == 1 and cards["layer1"]["port_labels"] is None
    body = [
        Node("a", "Input", {"port": 0}),
        Node("b", "Input", {"port": 1}),
        Node("sum", "Add", {}),
        Node("out", "Output", {}),
    ]
    two = GraphSpec(
        "two",
        [Node("x", "Input", {"shape": [4]}), Node("u", "Block", {"block": "pair"}), Node("y", "ReLU", {})],
        [Edge("x", "u", 0), Edge("x", "u", 1), Edge("u", "y")],
    )
    two.blocks["pair"] = BlockDef({}, body, [Edge("a", "sum", 0), Edge("b", "sum", 1), Edge("sum", "out")])
    cards = {c["id"]: c for c in picture_nodes(two, analyze(two))}
    assert cards["u"]["inputs"] == 2 and cards["u"]["port_labels"] == ["a", "b"]
