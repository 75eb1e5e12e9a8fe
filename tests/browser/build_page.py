"""Driving the Build page in Chromium: the canvas lives in the component's iframe."""

from __future__ import annotations

import json
import re

from playwright.sync_api import FrameLocator, Page, expect

CANVAS_IFRAME = "iframe[title='streamlit_flow.streamlit_flow']"


def canvas(page: Page) -> FrameLocator:
    return page.frame_locator(CANVAS_IFRAME)


def node(page: Page, node_id: str):
    return canvas(page).locator(f".react-flow__node[data-id='{node_id}']")


def node_ids(page: Page) -> list[str]:
    return canvas(page).locator(".react-flow__node").evaluate_all("els => els.map(e => e.dataset.id)")


def edge_label(page: Page, source: str, target: str):
    """The shape label drawn on the edge source -> target."""
    return canvas(page).locator(f".react-flow__edge[data-testid='rf__edge-{source}->{target}'] .react-flow__edge-text")


def press(page: Page, key: str) -> None:
    """Click the button with this widget key (a button with a tooltip is drawn twice, one of them hidden)."""
    page.locator(f".st-key-{key} button").first.click()


def settle(page: Page) -> None:
    """Wait until Streamlit has finished rerunning (including the canvas's echo reruns)."""
    app = page.locator("[data-testid='stApp']")
    for _ in range(3):
        expect(app).to_have_attribute("data-test-script-state", re.compile("notRunning|rerun"), timeout=20_000)
        page.wait_for_timeout(250)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=20_000)


def click_node(page: Page, node_id: str) -> None:
    node(page, node_id).click()
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


def drag_handle(page: Page, source: str, target: str) -> None:
    """Drag from the source node's output handle (right) to the target node's input handle (left)."""
    start = node(page, source).locator(".react-flow__handle.source").bounding_box()
    end = node(page, target).locator(".react-flow__handle.target").bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.up()
    settle(page)


def load_template(page: Page, name: str) -> None:
    page.get_by_role("button", name="Templates").click()
    dialog = page.get_by_role("dialog")
    dialog.locator(f".st-key-template_{name} button").first.click()
    expect(dialog).to_be_hidden()
    settle(page)


def save_json(page: Page, path) -> dict:
    with page.expect_download() as info:
        page.get_by_role("button", name="Save JSON").click()
    info.value.save_as(path)
    return json.loads(path.read_text())


def open_file(page: Page, path) -> None:
    page.get_by_role("button", name="Open a saved network").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    settle(page)
