"""Driving the Build page in Chromium: the canvas is our component (ui/canvas), found by its data-testids
(tests/browser/canvas_driver.py has the gestures)."""

from __future__ import annotations

import json
import time

from playwright.sync_api import Locator, Page, expect

from tests.browser import canvas_driver

CANVAS = "[data-testid='flow-canvas']"
SETTLE_MS = 120_000  # a first data check took over 60 s at load 20 on 2 cores; the wait ends when the run does


def canvas(page: Page) -> Locator:
    return page.locator(CANVAS).first


def node(page: Page, node_id: str) -> Locator:
    return canvas_driver.node(page, node_id)


def node_ids(page: Page) -> list[str]:
    cards = page.locator(f"{CANVAS} [data-testid^='node-']")
    return cards.evaluate_all("els => els.map(e => e.dataset.testid.slice(5))")


def edge_label(page: Page, source: str, target: str) -> Locator:
    """The shape label drawn on the edge source -> target (any port)."""
    return page.locator(f"{CANVAS} [data-testid^='rf__edge-{source}->{target}:'] text")


def wait_for_canvas(page: Page) -> None:
    page.locator(f"{CANVAS} [data-testid^='node-']").first.wait_for()


def press(page: Page, key: str) -> None:
    """Click the button with this widget key (a button with a tooltip is drawn twice, one of them hidden)."""
    page.locator(f".st-key-{key} button").first.click()


# Whether a canvas on screen still has something to tell Python: a gesture not answered yet, a layout running (its
# positions go back as an event) or a page refresh to ask for (ui/canvas/frontend/src/Canvas.jsx's pane attributes).
CANVAS_BUSY_JS = """panes => panes.some(p => p.checkVisibility() && (
  Number(p.dataset.waiting || 0) > 0 || p.dataset.layout === 'running' || p.dataset.refresh === '1'))"""
QUIET_MS = 150  # how long the page must stay answered, twice in a row: an event a frame later starts a run by then


def settle(page: Page) -> None:
    """Wait until Streamlit has finished rerunning, every canvas the page holds is drawn, none has an event still to
    send (each could start another run), and the page stays so for two looks QUIET_MS apart."""
    app = page.locator("[data-testid='stApp']")
    panes = page.locator("[data-testid='canvas-pane']")
    hosts, mounted = page.locator(".stBidiComponent"), page.locator(CANVAS)  # a component's slot, its drawn root
    deadline = time.monotonic() + SETTLE_MS / 1000
    calm = 0
    while calm < 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"the page did not settle within {SETTLE_MS / 1000:.0f} s")
        expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=SETTLE_MS)
        busy = mounted.count() < hosts.count() or panes.evaluate_all(CANVAS_BUSY_JS)  # not drawn yet, or busy
        page.wait_for_timeout(QUIET_MS if not busy else 50)
        calm = calm + 1 if not busy and app.get_attribute("data-test-script-state") == "notRunning" else 0


def click_node(page: Page, node_id: str) -> None:
    canvas_driver.click_node(page, node_id)
    expect(page.get_by_role("textbox", name="id")).to_have_value(node_id)


def set_text(page: Page, label: str, value: str) -> None:
    box = page.get_by_role("textbox", name=label)
    box.fill(value)
    box.press("Enter")
    settle(page)


def set_number(page: Page, label: str, value: int) -> None:
    box = page.get_by_role("spinbutton", name=label)
    box.fill(str(value))
    box.press("Enter")
    settle(page)


def connect(page: Page, source: str, target: str, port: int = 0) -> None:
    """Drag from the source's output handle (right) to the target's input port `port` (left)."""
    canvas_driver.connect(page, source, target, port)
    settle(page)


def load_template(page: Page, name: str) -> None:
    page.get_by_role("button", name="Templates").click()
    dialog = page.get_by_role("dialog")
    dialog.locator(f".st-key-template_{name} button").first.click()
    expect(dialog).to_be_hidden(timeout=30_000)  # a loaded 2-core machine can take seconds to rerun
    settle(page)  # until ELK's layout is on screen too: a click while it moves the cards can miss its card
    name_box = page.get_by_role("textbox", name="Network name")
    try:
        expect(name_box).to_have_value(name)  # the load took
    except AssertionError:  # say which part did not follow: the graph, or only the name field
        cards = page.locator("[data-testid='flow-canvas'] [data-testid^='node-']")
        nodes = [n.removeprefix("node-") for n in cards.evaluate_all("els => els.map(e => e.dataset.testid)")]
        raise AssertionError(
            f"after loading {name!r} the Network name field shows {name_box.input_value()!r}; the canvas shows "
            f"nodes {nodes}"
        ) from None


def save_json(page: Page, path) -> dict:
    with page.expect_download() as info:
        page.get_by_role("button", name="Save JSON").click()
    info.value.save_as(path)
    return json.loads(path.read_text())


def open_file(page: Page, path) -> None:
    page.get_by_role("button", name="Open a saved network").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    settle(page)
