"""Takes the pictures of the Build page's canvas (issue 21's layout): docs/screenshots/canvas_resnet_mini_<theme>.png
(Mini ResNet after Auto-layout, zoomed out to the whole graph), canvas_resnet_mini_start_<theme>.png (its first
view: legible cards from the input), canvas_resnet_mini_compact_<theme>.png (zoomed out four steps: compact cards,
a skip edge routed around them), canvas_resnet18_block_<theme>.png
(ResNet-18 from blocks with layer1's body opened) and, through docs/screenshot_themes.py's own step, build_<theme>.png
and gallery_<theme>.png, the other pictures that show the canvas (the Train, Export and Backprop pictures need a
training run: `python -m docs.screenshot_themes`). Run from the repository root: `python -m docs.screenshot_canvas`.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect, sync_playwright

from devtools.app_server import launch_chromium, running_app
from docs.screenshot_themes import OUT, ROOT, THEMES, VIEWPORT, build_and_gallery
from tests.browser.build_page import load_template, settle

CANVAS = "[data-testid='flow-canvas']"
TO_TOP_JS = "() => document.querySelectorAll('*').forEach((el) => { if (el.scrollTop > 0) el.scrollTop = 0; })"
expect.set_options(timeout=90_000)  # a busy 2-core machine takes seconds to open a dialog


def shoot_canvas(page: Page, name: str, theme: str) -> None:
    settle(page)
    page.wait_for_timeout(1500)  # the layout's move taken and its last frame drawn
    page.evaluate(TO_TOP_JS)  # a click on a card's button scrolled the page: the canvas whole, under the header
    page.wait_for_timeout(300)
    path = OUT / f"{name}_{theme}.png"
    page.screenshot(path=str(path), clip=page.locator(CANVAS).first.bounding_box())  # as it stands (no scrolling)
    print(f"wrote {path.relative_to(ROOT)}")


def canvas_pictures(page: Page, theme: str) -> None:
    load_template(page, "resnet_mini")
    page.get_by_role("button", name="Auto-layout").click()
    shoot_canvas(page, "canvas_resnet_mini_start", theme)
    for _ in range(4):
        page.locator(f"{CANVAS} .react-flow__controls-zoomout").click()
    shoot_canvas(page, "canvas_resnet_mini_compact", theme)
    page.locator(f"{CANVAS} .react-flow__controls-fitview").click()
    shoot_canvas(page, "canvas_resnet_mini", theme)
    load_template(page, "resnet18_blocks")
    page.locator(f"{CANVAS} [data-testid='block-open-layer1']").click()
    expect(page.locator(f"{CANVAS} [data-testid='breadcrumb-1']")).to_be_visible()
    shoot_canvas(page, "canvas_resnet18_block", theme)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with running_app(stop_timeout=30) as app, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for theme in THEMES:
            context = browser.new_context(viewport=VIEWPORT, color_scheme=theme, device_scale_factor=1)
            page = context.new_page()
            page.set_default_timeout(90_000)
            build_and_gallery(page, app.url, theme)
            canvas_pictures(page, theme)
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
