"""Takes docs/train_page.png (the README's picture of the Train page): LeNet training on digits, its curves,
its network coloured by gradient norm. Run from the repository root: `python -m docs.screenshot_train_page`."""

from __future__ import annotations

import pathlib
import tempfile

from bench.bench_train_page import FIRST_POINT, new_run_id, open_train_page, press, set_epochs
from devtools.app_server import app_page
from tests.browser.build_page import settle

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "train_page.png"
TRAIN_SECONDS = 8


def main() -> None:
    viewport = {"width": 1600, "height": 1150}
    with (
        tempfile.TemporaryDirectory() as runs,
        app_page(viewport, runs_dir=runs, stop_timeout=30, device_scale_factor=1) as (app, page),
    ):
        open_train_page(page, app.url, template="lenet")
        set_epochs(page, 200)
        press(page, "train_start")
        page.wait_for_function(FIRST_POINT, arg=new_run_id(page, None), polling=100)
        page.wait_for_timeout(TRAIN_SECONDS * 1000)
        settle(page)
        page.screenshot(path=str(OUT))
        press(page, "train_stop")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
