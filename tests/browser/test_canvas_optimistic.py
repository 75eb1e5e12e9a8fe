"""The optimistic canvas (issue 21): each gesture is drawn before Python answers it, a refused one is rolled back
with its notice, and a connection that would close a cycle is refused before it is drawn.

Driven against devtools/canvas_demo.py with `?answers=1` (the payload carries Python's answers: `acked`,
`refused`, `id_map`). With `&hold=1` the demo answers nothing until its "Answer" button is clicked, so a test
sees the optimistic frame without timing anything: whatever is drawn before that click was drawn by the browser
alone. The demo applies no event, so once the answers arrive the picture is the fixture's again. Run:

    .venv/bin/python -m pytest -q tests/browser/test_canvas_optimistic.py
"""

from __future__ import annotations

import pytest

from tests.browser import canvas_driver as canvas
from tests.browser import test_canvas_component as component

pytestmark = pytest.mark.browser
demo_url = component.demo_url  # the same fixtures: the demo server, a fresh page on it
open_demo = component.open_demo
HELD = "?answers=1&hold=1"
GROUP_SHOWN_JS = """() => [...document.querySelectorAll("[data-testid='stCode'] code")]
  .some((code) => code.innerText.includes('"kind": "group"'))"""
FIXTURE_CARDS = ["x", "conv_a", "conv_b", "pool", "cat", "res2", "flat", "fc"]


def sent(page) -> list[dict]:
    """The events the demo received, less the layout engine's own moves (canvas-layout's ELK placement of a new
    card sends a `move_end` with `layout: true`)."""
    return [e for e in canvas.events(page) if not e.get("layout")]


def answer(page) -> None:
    page.get_by_role("button", name="Answer").click()


def shape_of(page, node_id: str) -> str:
    return canvas.node(page, node_id).locator(".nc-card-meta span").first.inner_text()


def test_add_on_the_pane_and_onto_an_edge_are_drawn_before_python_answers(open_demo):
    page = open_demo(HELD)
    canvas.drop_palette_item_at(page, "ReLU", 600.0, 420.0)
    canvas.wait_for_canvas(page, "tmp~1")
    assert shape_of(page, "tmp~1") == "…" and canvas.pending_cards(page).count() == 1
    x, y = canvas.node_position(page, "tmp~1")
    assert (x, y) == pytest.approx((600.0 - 85, 420.0 - 40), abs=3)  # the drop point is the card's centre
    canvas.drop_palette_item_on_edge(page, "Dropout", "res2->flat:0")
    canvas.wait_for_canvas(page, "tmp~2")
    edges = canvas.edge_ids(page)
    assert "res2->tmp~2:0" in edges and "tmp~2->flat:0" in edges and "res2->flat:0" not in edges
    # the first add reaches Python (on a busy machine after the optimistic frames); the second waits its turn
    assert canvas.wait_until_processed(page, 1)[0] == 1
    canvas.next_frames(page)
    assert canvas.demo_state(page)[0] == 1
    answer(page)
    canvas.wait_until_processed(page, 2)
    canvas.pending_cards(page).first.wait_for(state="detached")
    assert sorted(canvas.card_ids(page)) == sorted(FIXTURE_CARDS)  # the demo applies nothing: its picture stands
    assert [(e["kind"], e["temp"]) for e in sent(page)] == [("add", "tmp~1"), ("add", "tmp~2")]


def test_connect_delete_paste_move_and_make_block_are_drawn_before_python_answers(open_demo):
    page = open_demo(HELD)
    canvas.connect(page, "pool", "cat", 2)
    page.locator("[data-testid='rf__edge-pool->cat:2']").wait_for()
    canvas.click_node(page, "conv_b")
    canvas.press(page, "Delete")
    canvas.node(page, "conv_b").wait_for(state="detached")
    assert "x->conv_b:0" not in canvas.edge_ids(page) and "conv_b->cat:1" not in canvas.edge_ids(page)
    canvas.click_node(page, "pool")
    canvas.press(page, "Control+c", "Control+v")
    page.locator("[data-testid^='node-tmp~']").first.wait_for()
    (copy,) = [i for i in canvas.card_ids(page) if i.startswith("tmp~")]
    assert canvas.node(page, copy).locator(".nc-card-op").inner_text() == "MaxPool2d"
    x0, y0 = canvas.centre(canvas.node(page, "x").locator(".nc-card-id"))
    canvas.mouse_drag(page, (x0, y0), (x0, y0 + 120))
    moved = canvas.node_position(page, "x")
    canvas.click_node(page, "conv_a")
    canvas.click_node(page, "cat", shift=True)
    page.locator("[data-testid='make-block']").click()
    canvas.node(page, "conv_a").wait_for(state="detached")
    (block,) = [i for i in canvas.card_ids(page) if i.startswith("tmp~") and i != copy]
    assert canvas.node(page, block).locator(".nc-card-op").inner_text() == "Block"
    assert canvas.node_position(page, "x") == pytest.approx(moved, abs=1)  # the pending move holds
    assert canvas.demo_state(page)[0] == 1 and canvas.pending_cards(page).count() == 2
    answer(page)
    edits = ["connect", "delete", "paste", "move_end", "group"]
    page.wait_for_function(GROUP_SHOWN_JS)  # the last gesture's event reached the demo: all before it did
    assert [e["kind"] for e in sent(page) if e["kind"] != "select"] == edits  # in the order made, one at a time
    canvas.node(page, "conv_a").wait_for()
    assert canvas.pending_cards(page).count() == 0


def test_a_refused_add_is_rolled_back_with_its_notice(open_demo):
    page = open_demo(HELD + "&refuse=add")
    canvas.drop_palette_item_at(page, "Tanh", 600.0, 420.0)
    canvas.wait_for_canvas(page, "tmp~1")
    assert canvas.notice(page).count() == 0
    answer(page)
    canvas.node(page, "tmp~1").wait_for(state="detached")
    assert canvas.notice(page).inner_text() == "The demo refuses every add"
    assert sorted(canvas.card_ids(page)) == sorted(FIXTURE_CARDS)


def test_a_connection_closing_a_cycle_is_refused_before_it_is_drawn_naming_both_nodes(open_demo):
    page = open_demo("?answers=1")
    before = canvas.demo_state(page)
    canvas.connect(page, "cat", "conv_b", 0)
    expected = "Not connected: 'cat' -> 'conv_b' would close a cycle: 'conv_b' already feeds 'cat'"
    assert canvas.notice(page).inner_text() == expected
    assert "cat->conv_b:0" not in canvas.edge_ids(page)
    canvas.press(page, "Control+z")  # nothing was sent for the refused connection: the undo is the next event
    processed, _ = canvas.wait_until_processed(page, before[0] + 1)
    assert [e["kind"] for e in canvas.events(page)[before[0] : processed]] == ["undo"]


def test_a_second_input_into_a_single_input_card_replaces_the_first_at_once(open_demo):
    page = open_demo(HELD)
    canvas.connect(page, "conv_a", "flat", 0)
    page.locator("[data-testid='rf__edge-conv_a->flat:0']").wait_for()
    assert "res2->flat:0" not in canvas.edge_ids(page)
    answer(page)
    page.locator("[data-testid='rf__edge-res2->flat:0']").wait_for()  # the demo kept the old input: drawn again
    assert "conv_a->flat:0" not in canvas.edge_ids(page)
