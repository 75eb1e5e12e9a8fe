"""Driving the Build page in Chromium: the canvas is our component (ui/canvas), found by its data-testids
(tests/browser/canvas_driver.py has the gestures)."""

from __future__ import annotations

import json
import re

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


def settle(page: Page) -> None:
    """Wait until Streamlit has finished rerunning."""
    app = page.locator("[data-testid='stApp']")
    for _ in range(3):
        expect(app).to_have_attribute("data-test-script-state", re.compile("notRunning|rerun"), timeout=SETTLE_MS)
        page.wait_for_timeout(250)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=SETTLE_MS)


def laid_out(page: Page) -> None:
    """Wait until the canvas's layout of its latest picture is on screen and no gesture awaits Python's answer
    (the pane's data-layout and data-waiting), then until Streamlit has answered the layout's move."""
    pane = page.locator(f"{CANVAS} [data-testid='canvas-pane']")
    expect(pane).to_have_attribute("data-layout", "done", timeout=SETTLE_MS)
    expect(pane).to_have_attribute("data-waiting", "0", timeout=SETTLE_MS)
    settle(page)


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
    laid_out(page)  # ELK moves the cards after Streamlit went idle: a click before it is done can miss its card


def save_json(page: Page, path) -> dict:
    with page.expect_download() as info:
        page.get_by_role("button", name="Save JSON").click()
    info.value.save_as(path)
    return json.loads(path.read_text())


def open_file(page: Page, path) -> None:
    page.get_by_role("button", name="Open a saved network").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    laid_out(page)
