"""Takes docs/build_page.png (the README's picture): LeNet with its Flatten removed, so the canvas shows
a shape error, its message and its fix. Run from the repository root: `python -m docs.screenshot_build_page`."""

from __future__ import annotations

import pathlib

from devtools.app_server import app_page
from tests.browser import canvas_driver
from tests.browser.build_page import click_node, connect, load_template, node, settle

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "build_page.png"


def main() -> None:
    with app_page({"width": 1600, "height": 1080}, device_scale_factor=1) as (app, page):
        page.goto(app.url)
        node(page, "fc2").wait_for()
        load_template(page, "lenet")
        canvas_driver.click_node(page, "flat")
        canvas_driver.press(page, "Delete")
        settle(page)
        connect(page, "pool2", "fc1")
        click_node(page, "fc1")
        settle(page)
        page.wait_for_timeout(2500)  # let the toast go
        page.screenshot(path=str(OUT))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
