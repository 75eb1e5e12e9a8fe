"""Takes docs/screenshots/<page>_<theme>.png: every page of the app in the browser's light and dark preference
(the app follows it; .streamlit/config.toml pins no theme). Run from the repository root:
`python -m docs.screenshot_themes` (about two minutes; one app, a fresh browser session per theme).

Pages: the Build page with the templates gallery open (gallery) and with MLP on iris loaded (build), the Train
page after a short finished run (train), the Export page after exporting that run (export), and the Backprop
explorer two steps into its example (backprop).
"""

from __future__ import annotations

import pathlib
import tempfile

from playwright.sync_api import Page, expect, sync_playwright

from devtools.app_server import launch_chromium, running_app
from tests.browser.build_page import load_template, press, settle

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
THEMES = ("light", "dark")
TEMPLATE, EPOCHS = "mlp_iris", 40


def shoot(page: Page, name: str, theme: str) -> None:
    settle(page)
    page.wait_for_timeout(800)  # plotly's and the canvas's last frame after the script has ended
    path = OUT / f"{name}_{theme}.png"
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def build_and_gallery(page: Page, url: str, theme: str) -> None:
    page.goto(url)
    page.locator("[data-testid='flow-canvas'] [data-testid^='node-']").first.wait_for()
    page.get_by_role("button", name="Templates").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    shoot(page, "gallery", theme)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    load_template(page, TEMPLATE)
    shoot(page, "build", theme)


def train(page: Page, theme: str) -> None:
    page.get_by_role("link", name="Train").click()
    epochs = page.get_by_role("spinbutton", name="Epochs")
    expect(epochs).to_be_visible(timeout=90_000)  # the first visit imports torch
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    settle(page)
    press(page, "train_start")
    expect(page.locator("strong", has_text="finished")).to_be_visible(timeout=120_000)
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    shoot(page, "train", theme)


def export(page: Page, theme: str) -> None:
    page.get_by_role("link", name="Export").click()
    settle(page)
    press(page, "export_run")
    expect(page.locator(".st-key-download_python button").first).to_be_visible(timeout=180_000)
    shoot(page, "export", theme)


def backprop(page: Page, theme: str) -> None:
    page.get_by_role("link", name="Backprop").click()
    expect(page.get_by_role("heading", name="Backprop explorer")).to_be_visible()
    settle(page)
    for _ in range(2):
        press(page, "bp_forward")
        settle(page)
    shoot(page, "backprop", theme)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as runs,
        running_app(runs_dir=runs, stop_timeout=30) as app,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        for theme in THEMES:
            context = browser.new_context(viewport=VIEWPORT, color_scheme=theme, device_scale_factor=1)
            page = context.new_page()
            page.set_default_timeout(60_000)
            build_and_gallery(page, app.url, theme)
            train(page, theme)
            export(page, theme)
            backprop(page, theme)
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
