"""What Python answers each canvas event with (the optimistic canvas's `acked`, `refused`, `id_map`), and the
connections that can only be right: a cycle refused naming both nodes, a second input into a single-input node
replacing the first (one Undo restores it), merge ops keeping their numbered ports."""

from __future__ import annotations

from builder.editor.canvas_edit import edge_ids
from tests.test_canvas_events import branchy, session


def test_an_applied_add_is_acked_and_its_temporary_id_mapped_to_pythons():
    ed, canvas = session()
    canvas.send("add", op="Tanh", x=300, y=40, on_edge=None, temp="tmp-1")
    answers = canvas.log.answers()
    assert answers["acked"] == [["c1", 1]] and answers["refused"] == []
    assert answers["id_map"] == {"tmp-1": "tanh"} and ed.spec.node("tanh") is not None


def test_a_refused_add_comes_back_refused_with_its_notice_not_acked():
    ed, canvas = session()
    canvas.send("add", op="Bogus", x=0, y=0, temp="tmp-1")
    answers = canvas.log.answers()
    assert answers["acked"] == [] and answers["id_map"] == {}
    assert answers["refused"] == [{"client": "c1", "seq": 1, "notice": ed.notice.text}]
    assert "'Bogus'" in answers["refused"][0]["notice"]


def test_a_malformed_event_is_refused_with_its_notice():
    _, canvas = session()
    canvas.send("move_end", positions="here")
    assert canvas.log.answers()["refused"][0]["notice"].startswith("Not moved: positions must be an object")


def test_an_event_after_a_refusal_is_acked_though_the_old_notice_is_still_shown():
    ed, canvas = session()
    canvas.send("add", op="Bogus", x=0, y=0)
    canvas.send("select", nodes=["fc1"])
    answers = canvas.log.answers()
    assert answers["acked"] == [["c1", 2]] and [r["seq"] for r in answers["refused"]] == [1]
    assert ed.selected == "fc1"


def test_a_paste_maps_each_copys_temporary_id():
    ed, canvas = session()
    canvas.send("paste", nodes=["relu", "fc1"], dx=40, dy=40, temps={"fc1": "tmp-a", "relu": "tmp-b"})
    assert canvas.log.answers()["id_map"] == {"tmp-a": "fc1_copy", "tmp-b": "relu_copy"}
    assert ed.spec.inputs_of("relu_copy") == ["fc1_copy"]


def test_a_repeat_is_not_answered_twice_and_the_answers_are_bounded():
    _, canvas = session()
    for k in range(40):
        canvas.send("select", nodes=["fc1" if k % 2 else "relu"])
    event = {"client": "c1", "seq": 40, "kind": "select", "nodes": ["x"]}
    from builder.editor.canvas_events import apply_event

    assert not apply_event(canvas.ed, canvas.log, event)
    acked = canvas.log.answers()["acked"]
    assert len(acked) == 32 and acked[-1] == ["c1", 40] and acked[0] == ["c1", 9]


def test_a_connection_that_would_close_a_cycle_is_refused_naming_both_nodes():
    ed, canvas = session(branchy())
    before, undoable = ed.spec.to_dict(), len(ed.history.past)
    canvas.send("connect", source="out", target="a", port=None)
    assert ed.notice.text == "Not connected: 'out' -> 'a' would close a cycle: 'a' already feeds 'out'"
    assert ed.spec.to_dict() == before and len(ed.history.past) == undoable
    assert canvas.log.answers()["refused"][0]["notice"] == ed.notice.text


def test_a_cycle_through_a_merge_port_is_refused_too():
    ed, canvas = session(branchy())
    canvas.send("connect", source="cat", target="b", port=None)
    assert "'cat' -> 'b' would close a cycle" in ed.notice.text
    assert ed.spec.inputs_of("b") == ["x"]


def test_a_second_input_into_a_single_input_node_replaces_the_first_and_one_undo_restores_it():
    ed, canvas = session(branchy())
    canvas.send("connect", source="b", target="out", port=None)
    assert ed.spec.inputs_of("out") == ["b"] and ed.notice is None
    assert "b->out:0" in edge_ids(ed.spec) and "cat->out:0" not in edge_ids(ed.spec)
    canvas.send("undo")
    assert ed.spec.inputs_of("out") == ["cat"] and ed.spec.inputs_of("cat") == ["a", "b"]


def test_a_merge_op_keeps_its_numbered_ports_when_connected_again():
    ed, canvas = session(branchy())
    canvas.send("connect", source="x", target="cat", port=1)
    wired = sorted((e.port, e.source) for e in ed.spec.edges if e.target == "cat")
    assert wired == [(0, "a"), (1, "x"), (2, "b")] and ed.notice is None


def test_a_block_made_from_a_selection_maps_its_temporary_id_to_the_use():
    ed, canvas = session()
    canvas.send("group", nodes=["fc1", "relu"], temp="tmp~3")
    use_id = ed.selected
    assert canvas.log.answers()["id_map"] == {"tmp~3": use_id} and ed.spec.node(use_id).op == "Block"
