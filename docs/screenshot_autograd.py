"""Takes docs/screenshots/autograd_expanded_<theme>.png: the Train page's "Autograd graph of one step" of the Mini
ResNet template with every node expanded into its operations, in the browser's light and dark preference. Run from
the repository root: `python -m docs.screenshot_autograd` (about a minute; one app, a browser session per theme).
"""

from __future__ import annotations

import pathlib
import re
import tempfile

from playwright.sync_api import Page, expect, sync_playwright

from devtools.app_server import launch_chromium, running_app
from tests.browser.build_page import load_template, settle

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 1000}
TEMPLATE = "resnet_mini"
GRAPH = "[data-testid='autograd-graph']"


def autograd_expanded(page: Page, url: str, theme: str) -> None:
    page.goto(url)
    page.locator("[data-testid='flow-canvas'] [data-testid^='node-']").first.wait_for()
    load_template(page, TEMPLATE)
    page.get_by_role("link", name="Train").click()
    expect(page.get_by_role("heading", name="Train")).to_be_visible(timeout=60_000)
    settle(page)
    page.get_by_text("Autograd graph of one step", exact=True).click()
    page.get_by_role("button", name="Show the autograd graph of one step").click()
    expect(page.get_by_text(re.compile(r"on a batch of \d+"))).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Expand all").click()
    settle(page)
    expect(page.locator(f"{GRAPH} [data-testid^='ag-op-']").first).to_be_visible(timeout=60_000)
    expect(page.locator(f"{GRAPH} [data-layout='done']")).to_be_visible(timeout=120_000)
    convolution = page.locator(f"{GRAPH} [data-testid^='ag-op-'] .ag-label", has_text="Convolution").first
    convolution.click()  # its statistics under the graph
    page.wait_for_timeout(500)
    component = page.locator("[data-testid='flow-canvas']").filter(has=page.locator(GRAPH))
    component.scroll_into_view_if_needed()
    path = OUT / f"autograd_expanded_{theme}.png"
    component.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    with tempfile.TemporaryDirectory() as runs, running_app(runs_dir=runs) as app, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for theme in ("light", "dark"):
            context = browser.new_context(viewport=VIEWPORT, color_scheme=theme)
            autograd_expanded(context.new_page(), app.url, theme)
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
