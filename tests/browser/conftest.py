"""Browser tests: a real `streamlit run app.py` on a free port, driven by the system's Chromium.

The server and the browser come from devtools.app_server (shared with the benchmarks and the docs' pictures).
No browser is downloaded: Playwright launches /usr/bin/chromium (Debian's; `scripts/setup.sh --dev`
installs it). A failing test leaves a screenshot in tests/artifacts/.
"""

from __future__ import annotations

import os
import pathlib
import time

import pytest
from playwright.sync_api import expect

from devtools.app_server import CHROMIUM, launch_chromium, running_app
from tests.browser.build_page import settle

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def failed(request) -> bool:
    """Whether the test's setup or call has failed (for a screenshot on the way out)."""
    return any(
        getattr(request.node, f"report_{when}", None) is not None and getattr(request.node, f"report_{when}").failed
        for when in ("setup", "call")
    )


# Every expect() waits up to 30 s (Playwright's default is 5 s): a 2-core machine shared with other work can take
# that long to rerun a page, and a wait for an event ends as soon as the event comes, so a quiet machine pays nothing.
expect.set_options(timeout=30_000)

STOP_WAIT_S = 60.0  # a worker reads its commands between steps and saves a checkpoint on the way out


@pytest.fixture(scope="session")
def app_runs_dir(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("runs")  # the shared server's runs


@pytest.fixture(scope="session")
def app_url(app_runs_dir):
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # under xdist each worker has its own server and log
    log = ARTIFACTS / (f"streamlit-{worker}.log" if worker else "streamlit.log")
    with running_app(runs_dir=app_runs_dir, log_path=log) as app:
        yield app.url


def stop_active_runs(runs_dir: pathlib.Path) -> list[str]:
    """Stop every run still active on the shared server and wait until none is: a test that fails between
    Train and Stop leaves its run going, and with one worker (2 cores) every later run would wait behind it
    in the queue. Returns the ids it stopped."""
    from engine.runs.run_queue import RunQueue
    from engine.runs.store import DB_NAME, RunStore

    if not (runs_dir / DB_NAME).exists():  # no run yet: leave the making of the store to the server
        return []
    store = RunStore(runs_dir)
    try:
        queue = RunQueue(store, workers=1, per_session=1)  # only for withdraw, which needs no caps
        left = [record.id for record in store.list_runs() if record.active]
        for run_id in left:
            if not queue.withdraw(run_id):  # a waiting run leaves the line; a running one is told to stop
                store.send_command(run_id, "stop")
        deadline = time.monotonic() + STOP_WAIT_S
        while any(record.active for record in store.list_runs()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left
    finally:
        store.close()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found: run `bash scripts/setup.sh --dev` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


VIEWPORT = {"width": 1500, "height": 1000}


@pytest.fixture(scope="session")
def tabs(browser):
    """The browser context this worker's fresh pages open in, each as a tab of its own: a tab is a new Streamlit
    session (its own connection), so a fresh editor, while the tabs share the HTTP cache, so the app's scripts are
    fetched and compiled once a worker instead of once a test (a page's first draw: 3.5 s -> 2.7 s, and a third of
    a second less of the server's time). The app keeps nothing in cookies or browser storage. Tests that need a
    browser of their own (a colour scheme, a restart) open their own context."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    yield context
    context.close()


def new_tab(tabs, viewport: dict = VIEWPORT):
    """A new tab in `tabs` (the fixture's context), of this size, with the tests' default wait."""
    page = tabs.new_page()
    if viewport != VIEWPORT:
        page.set_viewport_size(viewport)
    page.set_default_timeout(30_000)  # a loaded 2-core machine takes over 15 s for a first render now and then
    return page


def new_page(tabs, app_url):
    """A fresh browser session (so a fresh editor) on the Build page, with the canvas drawn."""
    page = new_tab(tabs)
    open_build_page(page, app_url)
    return page


def open_build_page(page, app_url) -> None:
    """Go to the Build page (a new Streamlit session) and wait until its canvas is drawn and settled."""
    page.goto(app_url)
    page.locator("[data-testid='flow-canvas'] [data-testid^='node-']").first.wait_for()
    settle(page)  # the first picture's layout and the page run it asks for are over, as a person would wait


def screenshot(page, request) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)


@pytest.fixture
def page(tabs, app_url, app_runs_dir, request):
    """A fresh browser session on the Build page. On the way out: a screenshot if the test failed, and no run left
    active."""
    page = new_page(tabs, app_url)
    yield page
    if failed(request):
        screenshot(page, request)
    page.close()
    stop_active_runs(app_runs_dir)


@pytest.fixture(scope="module")
def module_session(tabs, app_url):
    page = new_page(tabs, app_url)
    yield page
    page.close()


@pytest.fixture
def shared_page(module_session, app_url, request):
    """One browser session for a module's tests that each replace the whole graph (a template loaded) and start no
    run: a fresh session costs seconds. A test that fails leaves a screenshot and a new session for the next."""
    yield module_session
    if failed(request):
        screenshot(module_session, request)
        open_build_page(module_session, app_url)  # a new session: nothing the failure left open reaches the next
