"""Caps that hold before the work (issue 20, item 2): nodes and edges counted from the definitions before any
analysis, edges capped in all and per node while parsing, a repeated edge into a node of one input an issue with
a Fix, a Recurrent cell's per-step memory in the activation estimate, and canvas edits linear and held to the cap.
"""

# ruff: noqa: E501 (the expected messages are quoted whole)

from __future__ import annotations

import pytest

from builder.analysis import validate
from builder.analysis.fixes import apply_fix
from builder.analysis.summary import memory_estimate
from builder.analysis.upload import read_spec_upload
from builder.analysis.validate import analyze
from builder.editor import canvas_picture
from builder.editor.session import EditorSession
from builder.library.block_library import blocks_for
from builder.spec import graph_size
from builder.spec.limits import limits, limits_from
from builder.spec.spec import parse_spec
from tests.spec_bombs import duplicate_edge_bomb, nested_block_bomb, wide_merge_net
from tests.test_blocks import parsed
from tests.test_cells import recurrent_net

BATCH, HIDDEN = 8, 4
LSTM_VALUES_PER_STEP = (
    21  # lstm_cell: 4 gates x (x part, h part, sum, activation) + c_kept, c_written, c_next, c_squashed, h_next
)


@pytest.fixture
def caps(monkeypatch):
    """Set caps through their environment variables for one test (builder.spec.limits reads them once per process)."""

    def set_caps(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        limits.cache_clear()

    yield set_caps
    limits.cache_clear()


# -- the node cap, from the definitions ------------------------------------------------------------------------


def test_a_nested_block_bomb_is_refused_from_its_definitions_before_any_analysis(monkeypatch):
    def no_analysis(*args):
        raise AssertionError("the graph was analysed")

    monkeypatch.setattr(validate, "_analyze_graph", no_analysis)
    spec = parsed(nested_block_bomb(8, 6))  # 6.8 KB; the old code analysed it use by use: 196 s, 2.7 GB
    messages = [i.message for i in analyze(spec).issues]
    assert messages[0] == (
        "the network has 7,390,311 nodes with its blocks expanded; at most 10,000 (NETCANVAS_MAX_NODES); "
        "the largest use is 'top' (block 'level_8', 7,390,310 nodes)"
    ), messages


@pytest.mark.parametrize(
    "raw",
    [
        nested_block_bomb(2, 3),
        recurrent_net("lstm_cell"),
        recurrent_net("lstm_cell", bidirectional=True),
        {**nested_block_bomb(1, 2), "blocks": {**nested_block_bomb(1, 2)["blocks"], **blocks_for("stage")}},
    ],
    ids=["nested", "lstm", "bidirectional", "unused_blocks"],
)
def test_the_count_from_the_definitions_is_the_analysis_count(raw):
    spec = parsed(raw)
    a = analyze(spec)
    assert a.ok, a.issues
    assert graph_size.expanded_parts(spec)[0].nodes == a.expanded_nodes


def test_a_block_that_uses_itself_is_counted_without_recursing_and_refused_by_validation():
    raw = nested_block_bomb(2, 2)
    raw["blocks"]["level_0"]["nodes"][1] = {"id": "fc", "op": "Block", "params": {"block": "level_2", "w": 1}}
    spec = parsed(raw)
    assert graph_size.expanded_parts(spec)[0].nodes < 100
    assert any(i.code == "bad_block" and "refers to itself" in i.message for i in analyze(spec).issues)


# -- edges ------------------------------------------------------------------------------------------------------


def test_a_file_of_100000_copies_of_one_edge_is_refused_naming_the_node():
    import json

    spec, message = read_spec_upload("edges.json", json.dumps(duplicate_edge_bomb(100_000)).encode())
    assert spec is None
    assert message == (
        "edges.json is not a NetCanvas network: edges: the graph has 100,001 edges, its blocks' included; at most "
        "20,000 (NETCANVAS_MAX_EDGES); edges: node 'add' has 100,000 incoming edges; a node takes at most 256 "
        "(NETCANVAS_MAX_INPUTS_PER_NODE)"
    )


def test_a_node_over_the_inputs_cap_is_refused_while_parsing_and_at_the_cap_it_loads(caps):
    caps(NETCANVAS_MAX_INPUTS_PER_NODE=3)
    assert parse_spec(duplicate_edge_bomb(3))[0] is not None
    spec, issues = parse_spec(duplicate_edge_bomb(4))
    assert spec is None
    assert [str(i) for i in issues] == [
        "edges: node 'add' has 4 incoming edges; a node takes at most 3 (NETCANVAS_MAX_INPUTS_PER_NODE)"
    ]
    raw = nested_block_bomb(1, 2)
    raw["blocks"]["level_0"]["edges"] += [{"source": "x", "target": "fc"}] * 3
    assert [str(i) for i in parse_spec(raw)[1]] == [
        "blocks.level_0.edges: node 'fc' has 4 incoming edges; a node takes at most 3 (NETCANVAS_MAX_INPUTS_PER_NODE)"
    ]


def test_the_edge_cap_holds_as_written_and_with_the_blocks_expanded(caps):
    assert limits_from({})[0].max_edges == 20_000  # twice the node cap, unless set
    assert limits_from({"NETCANVAS_MAX_NODES": "100"})[0].max_edges == 200
    caps(NETCANVAS_MAX_EDGES=20)
    assert parse_spec(duplicate_edge_bomb(19))[0] is not None
    assert [str(i) for i in parse_spec(duplicate_edge_bomb(20))[1]] == [
        "edges: the graph has 21 edges, its blocks' included; at most 20 (NETCANVAS_MAX_EDGES)"
    ]
    spec = parsed(nested_block_bomb(2, 2))  # 11 edges as written; expanded 1 + (3 + 2 x (3 + 2 x 4))
    assert [str(i) for i in analyze(spec).issues] == [
        "the network has 26 edges with its blocks expanded; at most 20 (NETCANVAS_MAX_EDGES); the largest use is "
        "'top' (block 'level_2', 25 edges)"
    ]


def test_an_edge_repeated_into_a_node_of_one_input_is_an_issue_whose_fix_removes_the_copy():
    raw = duplicate_edge_bomb(2, op="ReLU")
    a = analyze(parsed(raw))
    assert [(i.node, i.code, i.message) for i in a.issues] == [
        ("add", "duplicate_edge", "edge relu -> add is there 2 times; ReLU takes one input")
    ]
    (fix,) = a.issues[0].fixes
    assert fix.description == "remove the duplicate edge"
    fixed = apply_fix(a.spec, fix)
    assert analyze(fixed).ok and [(e.source, e.target) for e in fixed.edges] == [("x", "relu"), ("relu", "add")]
    assert analyze(parsed(duplicate_edge_bomb(3, op="ReLU"))).issues[0].fixes[0].description == (
        "remove the 2 duplicate edges"
    )


@pytest.mark.parametrize("op", ["Add", "Multiply", "Concat"])
def test_a_merge_may_read_the_same_producer_twice(op):
    assert analyze(parsed(duplicate_edge_bomb(2, op=op))).ok


# -- the activation estimate of a Recurrent ---------------------------------------------------------------------


def _lstm_estimate(steps: int, bidirectional: bool = False) -> dict:
    raw = recurrent_net("lstm_cell", bidirectional=bidirectional)
    raw["nodes"][0]["params"]["shape"] = [steps, 3]
    a = analyze(parsed(raw))
    assert a.ok, a.issues
    return memory_estimate(a, BATCH)


@pytest.mark.parametrize("steps", [10, 20, 40])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_estimate_counts_each_step_of_a_recurrent_cell_and_each_direction(steps, bidirectional):
    directions = 2 if bidirectional else 1
    given = steps * 3  # the Input [T, 3]
    output = steps * directions * HIDDEN  # the Recurrent's own output [T, directions x hidden]
    cell = steps * directions * LSTM_VALUES_PER_STEP * HIDDEN
    estimate = _lstm_estimate(steps, bidirectional)
    assert estimate["activations"] == (given + output + cell) * BATCH * 4
    assert estimate["recurrent_steps"] == cell * BATCH * 4


def test_the_estimate_grows_linearly_with_the_steps_and_doubles_with_a_second_direction():
    one, two, four = (_lstm_estimate(t)["activations"] for t in (10, 20, 40))
    per_step = (3 + HIDDEN + LSTM_VALUES_PER_STEP * HIDDEN) * BATCH * 4  # x_t, h out, and what the cell keeps
    assert (two - one, four - two) == (10 * per_step, 20 * per_step)
    given = 20 * 3 * BATCH * 4  # the Input, read once by both directions
    assert _lstm_estimate(20, bidirectional=True)["activations"] - given == 2 * (two - given)


# -- the canvas -------------------------------------------------------------------------------------------------


def test_a_paste_over_the_node_cap_is_refused_as_a_notice_and_changes_nothing(caps):
    caps(NETCANVAS_MAX_NODES=6)
    ed = EditorSession()  # the starter: 4 nodes
    before, version = ed.spec.to_dict(), ed.version
    assert ed.paste(["fc1", "relu", "fc2"], 40, 40) == []
    assert (
        ed.notice.text
        == "Not pasted: the network would have 7 nodes with its blocks expanded; at most 6 (NETCANVAS_MAX_NODES)"
    )
    assert (ed.spec.to_dict(), ed.version) == (before, version)
    assert ed.paste(["relu", "fc2"], 40, 40) == ["relu_copy", "fc2_copy"]
    assert len(ed.spec.nodes) == 6 and ed.selection == ["relu_copy", "fc2_copy"]


def test_a_paste_inside_a_block_counts_every_use_of_the_block(caps):
    raw = nested_block_bomb(1, 2)  # x and top; top uses level_1 (x, u1, u2, out), u1 and u2 level_0 (4 nodes)
    ed = EditorSession(spec=parsed(raw))
    assert graph_size.node_count(ed.spec) == 1 + 2 + 2 * 4
    caps(NETCANVAS_MAX_NODES=12)
    ed.open(["top", "u1"])  # level_0's body, used twice
    assert ed.paste(["fc"], 40, 40) == []  # one node more in level_0 is two more in the network
    assert (
        ed.notice.text
        == "Not pasted: the network would have 13 nodes with its blocks expanded; at most 12 (NETCANVAS_MAX_NODES)"
    )


class _CountingList(list):
    """A list that counts how often it is walked."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()


def test_the_canvas_picture_walks_the_nodes_and_edges_a_fixed_number_of_times():
    spec = parsed(wide_merge_net(99, 100, 3))
    a = analyze(spec)
    spec.nodes, spec.edges = _CountingList(spec.nodes), _CountingList(spec.edges)
    canvas_picture.picture_nodes(spec, a)
    canvas_picture.picture_edges(spec, a)
    assert _CountingList.walks <= 6  # the old picture looked each node up and each merge's edges up: hundreds
