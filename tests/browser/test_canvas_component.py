"""The canvas component's gestures, each checked by the exact event it sends, in the system Chromium.

Driven against devtools/canvas_demo.py (the component alone, with tests/fixtures/canvas_payload.json), which
shows every event it receives and counts its reruns. No test waits for the page to stay quiet: a gesture's event
is waited for until the run that processed it has written the page, and "nothing was sent" is proven by order:
a sentinel gesture whose event is known comes after, and its event must be the very next one, processed by the
very next run. Run:

    .venv/bin/python -m pytest -q tests/browser/test_canvas_component.py
"""

from __future__ import annotations

import pytest

from devtools.canvas_demo_server import running_demo
from tests.browser import canvas_driver as canvas
from tests.browser.conftest import ARTIFACTS, failed, new_tab

pytestmark = pytest.mark.browser

LEGIBLE_ZOOM = 10 / 11  # legibleView.js: the 11 px card text drawn 10 px high; a first view is never below it


@pytest.fixture(scope="module")
def demo_url():
    with running_demo(log_path=ARTIFACTS / "canvas_demo.log") as url:
        yield url


@pytest.fixture
def open_demo(tabs, demo_url, request):
    """open_demo(query="") -> a fresh session's page (a new tab) on the demo, the canvas drawn and the first run's
    page written."""
    pages = []

    def open_page(query: str = ""):
        page = new_tab(tabs, {"width": 1400, "height": 900})
        pages.append(page)
        page.goto(f"{demo_url}/{query}")
        canvas.wait_for_canvas(page)
        assert canvas.wait_until_processed(page, 0)[0] == 0  # the first run has written the whole page
        return page

    yield open_page
    if failed(request) and pages:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pages[-1].screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    for page in pages:
        page.close()


def body(event: dict) -> dict:
    """The event without its client id and sequence number."""
    return {k: v for k, v in event.items() if k not in ("client", "seq")}


def next_event(page, gesture, since: tuple[int, int] | None = None) -> dict:
    """Do `gesture()`; the first event processed after `since` (events processed, run number; by default what
    the page shows now), once the run that processed it has written the page. That run must be the very next
    one after `since` and that event the only new one it shows."""
    events_before, runs_before = since or canvas.demo_state(page)
    gesture()
    processed, run = canvas.wait_until_processed(page, events_before + 1)
    shown = canvas.events(page)[:processed]
    assert len(shown) == events_before + 1, f"sent after event {events_before}: {shown[events_before:]}"
    assert run == runs_before + 1, f"run {run} processed event {events_before + 1}; expected run {runs_before + 1}"
    return shown[-1]


def undo_is_next(page, since: tuple[int, int]) -> None:
    """Nothing was sent and nothing reran since `since`, proven by order: Ctrl+Z's undo (an event the demo
    applies nowhere) is the first event after it, processed by the very next run."""
    assert body(next_event(page, lambda: canvas.press(page, "Control+z"), since=since)) == {"kind": "undo"}


def new_picture(page) -> None:
    """Click "New picture" (rev + 1: x moved right, fc selected) and wait until the component has drawn it."""
    page.get_by_role("button", name="New picture").click()
    page.wait_for_function(
        "() => { const h = [...document.querySelectorAll('*')].find((e) => e.shadowRoot);"
        " return h.shadowRoot.querySelector(\"[data-testid='node-fc'].nc-card-selected\"); }"
    )


def test_palette_drop_on_the_pane_adds_at_the_drop_position(open_demo):
    page = open_demo()
    event = next_event(page, lambda: canvas.drop_palette_item_at(page, "ReLU", 600.0, 420.0))
    assert event["kind"] == "add" and event["op"] == "ReLU" and event["on_edge"] is None
    assert event["x"] == pytest.approx(600.0, abs=3) and event["y"] == pytest.approx(420.0, abs=3)
    assert isinstance(event["client"], str) and event["seq"] == 1


def test_palette_drop_on_an_edge_names_the_edge(open_demo):
    page = open_demo()
    event = next_event(page, lambda: canvas.drop_palette_item_on_edge(page, "Dropout", "res2->flat:0"))
    assert event["kind"] == "add" and event["op"] == "Dropout" and event["on_edge"] == "res2->flat:0"


def test_the_edge_under_a_dragged_palette_item_is_highlighted(open_demo):
    page = open_demo()
    start = canvas.centre(page.locator("[data-testid='palette-ReLU']"))
    end = canvas.edge_point(page, "res2->flat:0")

    def over_the_edge():
        page.mouse.move(end[0], end[1] + 1)  # a drag reports where it is on the next move
        page.locator(".nc-drop-target").wait_for(timeout=5_000)
        assert page.locator(".nc-drop-target").count() == 1
        assert page.locator("[data-testid='rf__edge-res2->flat:0']").get_attribute("class").count("nc-drop-target") == 1

    event = next_event(page, lambda: canvas.mouse_drag(page, start, end, before_release=over_the_edge))
    assert event["on_edge"] == "res2->flat:0"
    assert page.locator(".nc-drop-target").count() == 0  # gone after the drop


def test_palette_click_adds_at_the_centre_of_the_view(open_demo):
    page = open_demo()
    pane = page.locator(canvas.PANE).bounding_box()
    expected = canvas.screen_to_flow(page, pane["x"] + pane["width"] / 2, pane["y"] + pane["height"] / 2)
    event = next_event(page, lambda: page.locator("[data-testid='palette-Tanh']").click())
    assert body(event) == {"kind": "add", "op": "Tanh", "x": pytest.approx(expected[0], abs=3),
                           "y": pytest.approx(expected[1], abs=3), "on_edge": None}  # fmt: skip


def test_connect_to_port_2_of_the_concat(open_demo):
    page = open_demo()
    event = next_event(page, lambda: canvas.connect(page, "pool", "cat", 2))
    assert body(event) == {"kind": "connect", "source": "pool", "target": "cat", "port": 2}


def test_click_shift_click_and_pane_click_select(open_demo):
    page = open_demo()
    first = next_event(page, lambda: canvas.click_node(page, "conv_a"))
    assert body(first) == {"kind": "select", "nodes": ["conv_a"]}
    second = next_event(page, lambda: canvas.click_node(page, "conv_b", shift=True))
    assert second["kind"] == "select" and sorted(second["nodes"]) == ["conv_a", "conv_b"]
    assert second["seq"] == first["seq"] + 1 and second["client"] == first["client"]
    pane = page.locator(".react-flow__pane").bounding_box()
    cleared = next_event(page, lambda: page.mouse.click(pane["x"] + 30, pane["y"] + pane["height"] - 60))
    assert body(cleared) == {"kind": "select", "nodes": []}


def test_box_select_sends_one_select_with_the_nodes_inside(open_demo):
    page = open_demo()
    corner, other = canvas.box_around(page, ["conv_b", "pool"])
    _, around_conv_b = canvas.box_around(page, ["conv_b"])

    # a stop with only conv_b inside: the selection is sent once, when the box is let go
    def conv_b_alone_inside():  # the box has been drawn over conv_b alone: shown selected, sent nothing yet
        page.locator("[data-testid='node-conv_b'].nc-card-selected").wait_for()
        assert page.locator(".nc-card-selected").count() == 1

    event = next_event(
        page, lambda: canvas.box_select(page, corner, other, via=around_conv_b, at_via=conv_b_alone_inside)
    )
    assert event["kind"] == "select" and sorted(event["nodes"]) == ["conv_b", "pool"]


def test_delete_key_deletes_the_selected_node_and_backspace_the_selected_edge(open_demo):
    page = open_demo()
    next_event(page, lambda: canvas.click_node(page, "conv_a"))
    event = next_event(page, lambda: canvas.press(page, "Delete"))
    assert body(event) == {"kind": "delete", "nodes": ["conv_a"], "edges": []}
    canvas.pan_to(page, "flat")  # the first view opens at the input end; a pan sends nothing
    next_event(page, lambda: canvas.click_edge(page, "flat->fc:0"))  # clears the node selection: select []
    event = next_event(page, lambda: page.keyboard.press("Backspace"))  # the click on the edge focused the pane
    assert body(event) == {"kind": "delete", "nodes": [], "edges": ["flat->fc:0"]}


def test_card_cross_deletes_its_node(open_demo):
    page = open_demo()
    event = next_event(page, lambda: canvas.node(page, "pool").locator(".nc-card-x").click())
    assert body(event) == {"kind": "delete", "nodes": ["pool"], "edges": []}


def test_undo_and_redo_keys(open_demo):
    page = open_demo()
    assert body(next_event(page, lambda: canvas.press(page, "Control+z"))) == {"kind": "undo"}
    assert body(next_event(page, lambda: canvas.press(page, "Control+Shift+z"))) == {"kind": "redo"}
    assert body(next_event(page, lambda: canvas.press(page, "Control+y"))) == {"kind": "redo"}


def test_keys_on_the_canvas_do_not_reach_streamlit(open_demo):
    page = open_demo()
    before = canvas.demo_state(page)
    canvas.press(page, "r", "c", "Escape")  # Streamlit's "r" would rerun the script
    undo_is_next(page, since=before)


def test_copy_then_paste_sends_the_copied_ids_with_an_offset(open_demo):
    page = open_demo()
    next_event(page, lambda: canvas.click_node(page, "conv_a"))
    next_event(page, lambda: canvas.click_node(page, "conv_b", shift=True))
    before = canvas.demo_state(page)
    canvas.press(page, "Control+c")  # copying is local: the paste is the next event, by the next run
    event = next_event(page, lambda: canvas.press(page, "Control+v"), since=before)
    assert event["kind"] == "paste" and sorted(event["nodes"]) == ["conv_a", "conv_b"]
    assert event["dx"] > 0 and event["dy"] > 0
    again = next_event(page, lambda: canvas.press(page, "Control+v"))
    assert again["dx"] > event["dx"]  # a second paste does not sit on the first


def test_select_all_key(open_demo):
    page = open_demo()
    event = next_event(page, lambda: canvas.press(page, "Control+a"))
    assert event["kind"] == "select"
    assert sorted(event["nodes"]) == sorted(["x", "conv_a", "conv_b", "pool", "cat", "res2", "flat", "fc"])


def test_node_drag_sends_move_end_only_at_the_drop(open_demo):
    page = open_demo()
    before = canvas.demo_state(page)
    x0, y0 = canvas.centre(canvas.node(page, "pool").locator(".nc-card-id"))
    _, _, zoom = canvas.viewport(page)

    def mid_drag():  # the node is being dragged (moved on screen): the move_end after the release must be next
        page.locator(".react-flow__node[data-id='pool'].dragging").wait_for()
        canvas.next_frames(page)

    # nothing is sent while the node is being dragged: the first event after the press is the drop's move_end
    event = next_event(
        page, lambda: canvas.mouse_drag(page, (x0, y0), (x0 + 90, y0 + 45), before_release=mid_drag), since=before
    )
    assert event["kind"] == "move_end" and list(event["positions"]) == ["pool"]
    x, y = event["positions"]["pool"]
    box = page.locator(".react-flow__node[data-id='pool']").bounding_box()
    assert (x, y) == pytest.approx(canvas.screen_to_flow(page, box["x"], box["y"]), abs=1.5)  # where it is drawn
    # React Flow starts the drag after the first mouse step, so the node moves by the drag less one step
    step = 90 / 12
    assert x == pytest.approx(270.0 + (90 - step) / zoom, abs=step / zoom + 2)
    assert y == pytest.approx(260.0 + (45 - step / 2) / zoom, abs=step / zoom + 2)


def test_block_open_expand_and_breadcrumb(open_demo):
    page = open_demo()
    assert body(next_event(page, lambda: page.locator("[data-testid='block-open-res2']").click())) == {
        "kind": "open",
        "path": ["res2"],
    }
    assert body(next_event(page, lambda: page.locator("[data-testid='block-expand-res2']").click())) == {
        "kind": "expand",
        "node": "res2",
    }
    assert body(next_event(page, lambda: page.locator("[data-testid='breadcrumb-0']").click())) == {
        "kind": "open",
        "path": [],
    }


def test_make_a_block_of_the_selection(open_demo):
    page = open_demo()
    assert page.locator("[data-testid='make-block']").count() == 0
    next_event(page, lambda: canvas.click_node(page, "conv_a"))
    assert page.locator("[data-testid='make-block']").count() == 0  # one node is not a block
    next_event(page, lambda: canvas.click_node(page, "cat", shift=True))
    event = next_event(page, lambda: page.locator("[data-testid='make-block']").click())
    assert event["kind"] == "group" and sorted(event["nodes"]) == ["cat", "conv_a"]


def test_pan_and_zoom_cause_no_rerun(open_demo):
    page = open_demo()
    state = canvas.demo_state(page)
    before = canvas.viewport(page)
    pane = page.locator(".react-flow__pane").bounding_box()
    spot = (pane["x"] + 40, pane["y"] + pane["height"] - 80)  # empty pane
    page.mouse.move(*spot)
    page.mouse.wheel(0, -300)
    canvas.mouse_drag(page, spot, (spot[0] + 120, spot[1] - 60))
    canvas.next_frames(page)
    after = canvas.viewport(page)
    assert after != before  # the view did move
    undo_is_next(page, since=state)  # no event and no rerun came of it; the undo's rerun keeps the view
    assert canvas.viewport(page) == pytest.approx(after, abs=0.5)


def test_read_only_shows_no_palette_and_sends_no_edits(open_demo):
    page = open_demo("?read_only=1&theme=dark")
    assert page.locator("[data-testid='palette']").count() == 0
    assert page.locator("[data-testid='palette-search']").count() == 0
    assert page.locator(".nc-card-x").count() == 0 and page.locator("[data-testid='block-open-res2']").count() == 0
    conv_a = canvas.node(page, "conv_a")  # the demo's second node: fill #90caf9, badge 1.0e-02
    assert conv_a.evaluate("(card) => getComputedStyle(card).backgroundColor") == "rgb(144, 202, 249)"
    assert conv_a.locator(".nc-card-badge").inner_text() == "‖g‖ 1.0e-02"
    before = canvas.demo_state(page)
    x0, y0 = canvas.centre(canvas.node(page, "pool").locator(".nc-card-id"))
    canvas.mouse_drag(page, (x0, y0), (x0 + 80, y0 + 40))  # no drag
    canvas.connect(page, "pool", "cat", 2)  # no connect
    canvas.press(page, "Delete", "Control+z", "Control+y", "Control+a", "Control+v")  # no keys
    # selecting is still allowed, and its select is the first event after all of the above, by the next run
    event = next_event(page, lambda: canvas.click_node(page, "conv_a"), since=before)
    assert body(event) == {"kind": "select", "nodes": ["conv_a"]}


def test_keys_typed_in_the_palette_search_do_nothing(open_demo):
    page = open_demo()
    search = page.locator("[data-testid='palette-search']")
    search.click()
    before = canvas.demo_state(page)
    page.keyboard.type("rel")
    for key in ("Backspace", "Delete", "Control+z", "Control+y", "Control+a", "r"):
        page.keyboard.press(key)
    undo_is_next(page, since=before)
    before = canvas.demo_state(page)
    search.fill("relu")
    assert page.locator("[data-testid='palette-ReLU']").is_visible()
    assert page.locator("[data-testid='palette-Linear']").count() == 0
    search.fill("fully connected")  # by description
    assert page.locator("[data-testid='palette-Linear']").is_visible()
    assert page.locator("[data-testid='palette-ReLU']").count() == 0
    page.locator("[data-testid='palette-toggle']").click()  # collapsed
    assert page.locator("[data-testid='palette-search']").count() == 0
    page.locator("[data-testid='palette-toggle']").click()
    assert page.locator("[data-testid='palette-search']").is_visible()
    undo_is_next(page, since=before)


def test_a_new_rev_replaces_local_moves_and_selection_without_an_echo(open_demo):
    page = open_demo()
    x0, y0 = canvas.centre(canvas.node(page, "pool").locator(".nc-card-id"))
    next_event(page, lambda: canvas.mouse_drag(page, (x0, y0), (x0 + 80, y0 + 40)))
    moved = canvas.node_position(page, "pool")
    assert moved[0] > 290
    next_event(page, lambda: canvas.click_node(page, "conv_a"))  # a rerun with the same rev
    assert canvas.node_position(page, "pool") == pytest.approx(moved, abs=1)  # the local move stays
    shown, runs = canvas.demo_state(page)
    new_picture(page)
    assert canvas.node_position(page, "pool") == pytest.approx((270.0, 260.0), abs=1)  # Python's picture
    assert canvas.node_position(page, "x") == pytest.approx((40.0, 130.0), abs=1)
    assert page.locator(".nc-card-selected").count() == 1  # conv_a no longer
    undo_is_next(page, since=(shown, runs + 1))  # taking Python's selection sends nothing back (one run: the click's)


def cards_not_clear_of_the_overlays(page) -> list[str]:
    """The ids of the cards drawn under the minimap or the zoom controls, or not wholly inside the pane."""
    covers = [page.locator(".react-flow__minimap").bounding_box(), page.locator(".react-flow__controls").bounding_box()]
    pane = page.locator(".react-flow__pane").bounding_box()
    wrong = []
    for card in page.locator(".react-flow__node").all():
        box = card.bounding_box()
        inside = pane["x"] <= box["x"] and box["x"] + box["width"] <= pane["x"] + pane["width"]
        inside = inside and pane["y"] <= box["y"] and box["y"] + box["height"] <= pane["y"] + pane["height"]
        if not inside or any(canvas.overlaps(box, cover) for cover in covers):
            wrong.append(card.get_attribute("data-id"))
    return wrong


def test_fit_keeps_the_nodes_clear_of_the_controls_and_the_minimap(open_demo):
    """The first view is legible and opens clear of both at the Input card (the whole graph when it fits at that
    zoom, which neither of these does in this pane); the person's Fit shows every card, clear of both. Seventy
    cards on ten columns have about this pane's proportions: fitted, they reach the corners the overlays sit in."""
    for query, input_card in (("", "x"), ("?nodes=70&columns=10", "n0")):
        page = open_demo(query)
        assert canvas.viewport(page)[2] >= LEGIBLE_ZOOM - 1e-3, query
        assert input_card not in cards_not_clear_of_the_overlays(page), query
        page.locator(".react-flow__controls-fitview").click()
        canvas.next_frames(page)
        assert canvas.viewport(page)[2] < LEGIBLE_ZOOM, query  # the whole graph is wider than the pane at that zoom
        assert cards_not_clear_of_the_overlays(page) == [], query


def test_the_fit_counter_fits_again_and_one_node_is_not_shown_huge(open_demo):
    page = open_demo("?nodes=1")
    assert canvas.viewport(page)[2] == pytest.approx(1.2, abs=0.01)
    page = open_demo()
    fitted = canvas.viewport(page)
    pane = page.locator(".react-flow__pane").bounding_box()
    page.mouse.move(pane["x"] + 40, pane["y"] + pane["height"] - 80)  # empty pane (the note banner is top-left)
    page.mouse.wheel(0, -400)
    canvas.next_frames(page)
    assert canvas.viewport(page)[2] > fitted[2]
    page.get_by_role("button", name="Fit", exact=True).click()
    canvas.wait_for_viewport(page, fitted)


def test_a_new_refresh_counter_is_answered_with_one_request_once_drawn(open_demo):
    """The Build page's canvas is a fragment: after a picture with a new `refresh`, the component asks for the
    whole page once; the first picture (a load or a reload) and the same counter again ask for nothing."""
    page = open_demo()
    shown, runs = canvas.demo_state(page)
    assert shown == 0
    new_picture(page)  # a new rev, the same refresh
    # the load and the new picture asked for nothing: the first event is the answer to the new counter, by the
    # run after the two clicks' runs
    event = next_event(page, lambda: page.get_by_role("button", name="Ask for the page").click(), since=(0, runs + 2))
    assert (event["kind"], event["n"]) == ("refresh", 1)
    undo_is_next(page, since=(1, runs + 3))  # once: the payload of the refresh's own run asks for nothing
