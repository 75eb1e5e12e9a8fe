"""Playwright helpers for the canvas component (ui/canvas), for any browser test that drives it.

Everything is found through the component's data-testids (Playwright's CSS locators see into its shadow root):
`node-<id>` (a card), `palette-<Op>`, `palette-search`, `canvas-pane` (the focusable pane), handles by React
Flow's `data-handleid` (`in-<k>`, `out-0`), `block-open-<id>`, `block-expand-<id>`, `make-block`,
`breadcrumb-<i>`, and React Flow's own `rf__edge-<edge id>`. Positions in flow coordinates go through the
viewport's transform, read from the page, so a test need not know the zoom.

The demo page (devtools/canvas_demo.py) shows each event the component sent as a `st.code` block and, as its
last element, how many events the run that wrote it had processed and which run that was (`demo-state`);
`events` reads the former, `demo_state` and `wait_until_processed` the latter. Nothing here waits for the page to
stay unchanged for a while: a wait ends on what the page shows (an event processed, a frame drawn).
"""

from __future__ import annotations

import json
import time

PANE = "[data-testid='canvas-pane']"
DEMO_STATE_JS = """() => {
  const state = document.querySelector("[data-testid='demo-state']");
  return state ? [Number(state.dataset.events), Number(state.dataset.reruns)] : null;
}"""
# (events processed, run number) once a run that has processed at least `count` events wrote them; null before.
PROCESSED_JS = f"""(count) => {{
  const state = ({DEMO_STATE_JS})();
  return state && state[0] >= count ? state : null;
}}"""
TWO_FRAMES_JS = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
# A point on an SVG path, in screen pixels: `fraction` of the way along it.
POINT_ON_PATH_JS = """(edge, fraction) => {
  const path = edge.querySelector('.react-flow__edge-path');
  const point = path.getPointAtLength(path.getTotalLength() * fraction);
  const m = path.getScreenCTM();
  return [point.x * m.a + point.y * m.c + m.e, point.x * m.b + point.y * m.d + m.f];
}"""
VIEWPORT_JS = """(viewport) => {
  const m = new DOMMatrix(getComputedStyle(viewport).transform);
  const box = viewport.closest('.react-flow').getBoundingClientRect();
  return [box.left + m.e, box.top + m.f, m.a];
}"""


def node(page, node_id: str):
    return page.locator(f"[data-testid='node-{node_id}']")


def edge(page, edge_id: str):
    return page.locator(f"[data-testid='rf__edge-{edge_id}']")


def handle(page, node_id: str, handle_id: str):
    """A node's port: `in-<k>` (input k, on the left) or `out-0` (the output, on the right)."""
    return node(page, node_id).locator(f"[data-handleid='{handle_id}']")


def wait_for_canvas(page, node_id: str | None = None) -> None:
    """Until this card (or any card) is drawn."""
    cards = node(page, node_id) if node_id else page.locator("[data-testid^='node-']").first
    cards.wait_for()


def node_position(page, node_id: str) -> tuple[float, float]:
    """Where the node is drawn, in flow coordinates (its top-left corner)."""
    box = page.locator(f".react-flow__node[data-id='{node_id}']").bounding_box()
    return screen_to_flow(page, box["x"], box["y"])


def wait_for_viewport(page, expected: tuple[float, float, float], tolerance: float = 1.0, timeout_s: float = 10.0):
    """Until the viewport (left, top, zoom) is within `tolerance` px (and 1 % zoom) of `expected`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left, top, zoom = viewport(page)
        if abs(left - expected[0]) <= tolerance and abs(top - expected[1]) <= tolerance:
            if abs(zoom - expected[2]) <= 0.01 * expected[2]:
                return
        page.wait_for_timeout(100)
    raise AssertionError(f"viewport {viewport(page)} did not come back to {expected}")


def overlaps(box: dict, other: dict) -> bool:
    return not (
        box["x"] + box["width"] <= other["x"]
        or other["x"] + other["width"] <= box["x"]
        or box["y"] + box["height"] <= other["y"]
        or other["y"] + other["height"] <= box["y"]
    )


def centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def viewport(page) -> tuple[float, float, float]:
    """(screen x of flow 0, screen y of flow 0, zoom)."""
    left, top, zoom = page.locator(".react-flow__viewport").evaluate(VIEWPORT_JS)
    return left, top, zoom


def flow_to_screen(page, x: float, y: float) -> tuple[float, float]:
    left, top, zoom = viewport(page)
    return left + x * zoom, top + y * zoom


def screen_to_flow(page, x: float, y: float) -> tuple[float, float]:
    left, top, zoom = viewport(page)
    return (x - left) / zoom, (y - top) / zoom


def edge_point(page, edge_id: str, fraction: float = 0.3) -> tuple[float, float]:
    """A point on the edge's drawn path (screen pixels), away from its label in the middle."""
    x, y = edge(page, edge_id).evaluate(POINT_ON_PATH_JS, fraction)
    return x, y


def drop_palette_item(page, op: str, screen_x: float, screen_y: float) -> None:
    """HTML5-drag the palette's `op` and drop it at a screen point of the pane."""
    pane = page.locator(PANE)
    box = pane.bounding_box()
    target = {"x": screen_x - box["x"], "y": screen_y - box["y"]}
    page.locator(f"[data-testid='palette-{op}']").drag_to(pane, target_position=target)


def drop_palette_item_at(page, op: str, x: float, y: float) -> None:
    """Drop the palette's `op` onto the pane at flow position (x, y)."""
    drop_palette_item(page, op, *flow_to_screen(page, x, y))


def drop_palette_item_on_edge(page, op: str, edge_id: str) -> None:
    drop_palette_item(page, op, *edge_point(page, edge_id))


def mouse_drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 12, before_release=None):
    """Press at `start`, move to `end` in steps, call `before_release()` (if given) and release."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    if before_release is not None:
        before_release()
    page.mouse.up()


def connect(page, source: str, target: str, port: int) -> None:
    """Drag from `source`'s output handle to `target`'s input port `port`."""
    mouse_drag(page, centre(handle(page, source, "out-0")), centre(handle(page, target, f"in-{port}")))


PAN_STEPS = 60  # drags of at most 250 x 150 px: 15,000 px across, more than any test graph's first view leaves out
# The first of these screen points at which the bare pane (no card, edge or overlay) is hit, or -1.
BARE_PANE_JS = """(pane, points) => points.findIndex(([x, y]) => pane.getRootNode().elementFromPoint(x, y) === pane)"""


def pan_drag(page, step: tuple[float, float]) -> None:
    """Drag the view by `step` (screen px) from a spot of bare pane, the whole drag inside the pane (a drag that
    leaves it selects the page's text, which the next drag then carries off as a text drag)."""
    pane = page.locator(".react-flow__pane")
    box = pane.bounding_box()
    margin = 12.0
    xs = [box["x"] + margin + (box["width"] - 2 * margin) * i / 12 for i in range(13)]
    ys = [box["y"] + margin + (box["height"] - 2 * margin) * i / 12 for i in range(13)]
    starts = [
        (x, y)
        for y in ys
        for x in xs
        if box["x"] + margin <= x + step[0] <= box["x"] + box["width"] - margin
        and box["y"] + margin <= y + step[1] <= box["y"] + box["height"] - margin
    ]
    found = pane.evaluate(BARE_PANE_JS, starts)
    assert found >= 0, f"no spot of bare pane to drag {step} from"
    start = starts[found]
    mouse_drag(page, start, (start[0] + step[0], start[1] + step[1]), steps=6)
    next_frames(page)


def pan_to(page, *node_ids: str) -> None:
    """Drag the pane, in steps, as a person would, until the middle of these cards (their joint box) is near the
    pane's centre: a first view too small for the whole graph opens at its input end (legibleView.js), and a
    gesture needs its cards on screen. Fails if the cards never get there."""
    pane = page.locator(PANE).bounding_box()
    middle = (pane["x"] + pane["width"] / 2, pane["y"] + pane["height"] / 2)
    for _ in range(PAN_STEPS):
        (left, top), (right, bottom) = box_around(page, list(node_ids), margin=0.0)
        dx, dy = middle[0] - (left + right) / 2, middle[1] - (top + bottom) / 2
        if abs(dx) < 40 and abs(dy) < 40:
            return
        pan_drag(page, (max(-250.0, min(250.0, dx)), max(-150.0, min(150.0, dy))))
    raise AssertionError(f"cards {node_ids} are not in the middle of the pane after {PAN_STEPS} pane drags")


def on_screen(page, node_id: str) -> bool:
    """Whether the whole card lies inside the pane (the pane clips the rest of the graph)."""
    pane, card = page.locator(PANE).bounding_box(), node(page, node_id).bounding_box()
    return (
        pane["x"] <= card["x"]
        and card["x"] + card["width"] <= pane["x"] + pane["width"]
        and pane["y"] <= card["y"]
        and card["y"] + card["height"] <= pane["y"] + pane["height"]
    )


def bring_into_view(page, node_id: str) -> None:
    """Pan, as a person would, until this card is on screen (a first view too small for the graph opens at its
    input end, and a click on a clipped card would land on whatever is drawn there)."""
    if not on_screen(page, node_id):
        pan_to(page, node_id)


def click_node(page, node_id: str, shift: bool = False) -> None:
    """Click a card on its id (not on a button), panning it into view first."""
    bring_into_view(page, node_id)
    modifiers = ["Shift"] if shift else []
    node(page, node_id).locator(".nc-card-id").click(modifiers=modifiers)


def click_edge(page, edge_id: str) -> None:
    page.mouse.click(*edge_point(page, edge_id))


def box_select(page, corner: tuple[float, float], other_corner: tuple[float, float], via=None, at_via=None) -> None:
    """Shift-drag a selection box between two screen points, through `via` (calling `at_via()` there) if given."""
    page.keyboard.down("Shift")
    try:
        page.mouse.move(*corner)
        page.mouse.down()
        if via is not None:
            page.mouse.move(*via, steps=8)
            if at_via is not None:
                at_via()
        page.mouse.move(*other_corner, steps=8)
        page.mouse.up()
    finally:
        page.keyboard.up("Shift")


def box_around(page, node_ids: list[str], margin: float = 12.0) -> tuple[tuple[float, float], tuple[float, float]]:
    """Screen corners of a box around these cards."""
    boxes = [node(page, i).bounding_box() for i in node_ids]
    left = min(b["x"] for b in boxes) - margin
    top = min(b["y"] for b in boxes) - margin
    right = max(b["x"] + b["width"] for b in boxes) + margin
    bottom = max(b["y"] + b["height"] for b in boxes) + margin
    return (left, top), (right, bottom)


def press(page, *keys: str) -> None:
    """Focus the canvas pane (without clicking anything on it) and press each key, e.g. "Control+z"."""
    page.locator(PANE).focus()
    for key in keys:
        page.keyboard.press(key)


def events(page) -> list[dict]:
    """The events the demo page shows, oldest first."""
    return [json.loads(text) for text in page.locator("[data-testid='stCode'] code").all_inner_texts()]


def demo_state(page) -> tuple[int, int]:
    """(events processed, run number) as the demo's last element shows them now."""
    state = page.evaluate(DEMO_STATE_JS)
    assert state is not None, "the demo page shows no demo-state"
    return state[0], state[1]


def wait_until_processed(page, count: int, timeout_ms: float = 30_000) -> tuple[int, int]:
    """Until a run that has processed at least `count` events has written the page (its last element): then
    (events processed, run number) as that element shows them, read together. The timeout is only a bound
    for a failure."""
    state = page.wait_for_function(PROCESSED_JS, arg=count, timeout=timeout_ms).json_value()
    return state[0], state[1]


def next_frames(page) -> None:
    """Until the browser has drawn two more frames: whatever the last input changed is on screen."""
    page.evaluate(TWO_FRAMES_JS)


def pending_cards(page):
    """The cards drawn before Python answered (the optimistic canvas marks them `nc-pending`)."""
    return page.locator(".react-flow__node.nc-pending")


def card_ids(page) -> list[str]:
    """The ids of every card drawn now."""
    return page.locator(".react-flow__node").evaluate_all("(nodes) => nodes.map((n) => n.dataset.id)")


def edge_ids(page) -> list[str]:
    """The ids of every edge drawn now."""
    return page.locator(".react-flow__edge").evaluate_all("(edges) => edges.map((e) => e.dataset.id)")


def notice(page):
    """The canvas's own notice line (a refused gesture, a connection refused before it was drawn)."""
    return page.locator("[data-testid='canvas-notice']")
