"""Direct links after a restart: a fresh server whose very first page request is /train (with a run in the URL),
/export or /build shows the app's own navigation (Build, Train, Export with their icons), the wide layout and
the page asked for.

Each case starts its own `streamlit run app.py`, because that is the case that went wrong: with the page scripts
in a folder named pages/, Streamlit took them for its legacy folder navigation until `st.navigation` had run
once in the process, so a first request for /train got the lowercase list "app, build, export, train", no icons
and the centred layout for the whole session. The runs directory holds a finished run made before the server
starts, as after a restart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import Page, expect

from builder.library.templates import TEMPLATES
from devtools.app_server import running_app
from engine.runs.manager import RunManager
from engine.runs.store import RunStore
from engine.train.config import TrainConfig
from tests.browser.build_page import node
from tests.browser.conftest import ARTIFACTS, failed

pytestmark = pytest.mark.browser

OWNER = "direct-link-owner"
NAVIGATION = [  # label, icon ligature: app.py's pages in order
    ("Build", "draw"),
    ("Train", "model_training"),
    ("Export", "download"),
    ("Backprop", "account_tree"),
]
VIEWPORT = {"width": 1500, "height": 1000}
FIRST_RUN_MS = 60_000  # a fresh server's first script run imports torch
CENTRED_WIDTH_PX = 736  # the centred layout's widest main block (46rem); the wide one takes the main area


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[str, str]:
    """(runs directory, run id) of a two-epoch xor run of OWNER that has finished, made before any server."""
    runs = tmp_path_factory.mktemp("direct_link_runs")
    manager = RunManager(RunStore(runs))
    config = TrainConfig(dataset="xor", optimizer="adam", lr=0.05, batch_size=4, epochs=2, device="cpu")
    run_id = manager.start_run(OWNER, TEMPLATES["mlp_xor"].spec(), config)
    record = manager.wait(run_id, 120)
    assert record.status == "finished", record.message
    manager.store.close()
    return str(runs), run_id


@pytest.fixture
def first_visit(browser, finished_run, request) -> Iterator[Callable[[str], Page]]:
    """`first_visit(path)`: a fresh server on the runs directory, and a new browser session whose first
    request to it is `path`. Everything is closed after the test."""
    runs, _ = finished_run
    pages: list[Page] = []
    with ExitStack() as stack:

        def visit(path: str) -> Page:
            log = ARTIFACTS / f"streamlit-{request.node.name}.log"
            app = stack.enter_context(running_app(runs_dir=runs, log_path=log))
            context = browser.new_context(viewport=VIEWPORT)
            stack.callback(context.close)
            page = context.new_page()
            pages.append(page)
            page.set_default_timeout(FIRST_RUN_MS)  # actions; each test's first expect waits as long
            page.goto(app.url + path)
            return page

        yield visit
        if pages and failed(request):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            pages[-1].screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)


def expect_app_navigation(page: Page) -> None:
    """The bar at the top lists app.py's pages (Build, Train, Export, Backprop), each with its icon; no legacy
    "app"."""
    links = page.get_by_test_id("stTopNav").get_by_test_id("stTopNavLink")
    expect(links).to_have_count(len(NAVIGATION))
    for k, (label, icon) in enumerate(NAVIGATION):
        expect(links.nth(k)).to_contain_text(label)
        expect(links.nth(k).get_by_test_id("stIconMaterial")).to_have_text(icon)
    expect(links.filter(has_text="app")).to_have_count(0)


def expect_wide_layout(page: Page) -> None:
    """The main block fills the main area (the centred layout caps it at CENTRED_WIDTH_PX)."""
    area = page.get_by_test_id("stMain").bounding_box()
    block = page.get_by_test_id("stMainBlockContainer").bounding_box()
    assert block["width"] > CENTRED_WIDTH_PX + 100, (block, area)
    assert block["width"] > 0.8 * area["width"], (block, area)


def test_a_train_link_with_a_run_opens_the_run_on_a_fresh_server(first_visit, finished_run):
    _, run_id = finished_run
    page = first_visit(f"/train?owner={OWNER}&run={run_id}")
    expect(page.get_by_role("heading", name="Train")).to_be_visible(timeout=FIRST_RUN_MS)
    expect_app_navigation(page)
    expect_wide_layout(page)
    # the page's pre-run check is a page job: on a fresh server it waits for the forkserver's first start
    expect(page.locator("code", has_text=run_id).first).to_be_visible(timeout=FIRST_RUN_MS)  # and the Continue caption
    expect(page.get_by_text(f"Run {run_id} · finished")).to_be_visible()
    assert f"run={run_id}" in page.url and f"owner={OWNER}" in page.url


def test_an_export_link_offers_the_run_on_a_fresh_server(first_visit, finished_run):
    _, run_id = finished_run
    page = first_visit(f"/export?owner={OWNER}")  # the session that trained it (another session sees none)
    expect(page.get_by_role("heading", name="Export a trained network")).to_be_visible(timeout=FIRST_RUN_MS)
    expect_app_navigation(page)
    expect_wide_layout(page)
    picked = page.get_by_role("combobox", name="Pick a trained run")
    expect(picked).to_have_value(re.compile(rf"^mlp_xor \(xor.*\) · {run_id}/bundle$"))  # the only run, so picked


def test_a_build_link_opens_the_canvas_on_a_fresh_server(first_visit):
    page = first_visit("/build?debug=1")  # the default page lives at /; app.py sends /build on to it
    expect(page.get_by_role("heading", name="Build a network")).to_be_visible(timeout=FIRST_RUN_MS)
    expect_app_navigation(page)
    expect_wide_layout(page)
    expect(node(page, "fc2")).to_be_visible(timeout=FIRST_RUN_MS)  # the starter network on the canvas
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_test_id("stTopNavLink").first).to_have_attribute("aria-current", "page")  # Build lit
    path, _, query = page.url.partition("?")
    assert path.endswith("/") and "debug=1" in query.split("&"), page.url  # query parameters go along
    assert any(part.startswith("owner=") for part in query.split("&")), page.url  # and the session's key
