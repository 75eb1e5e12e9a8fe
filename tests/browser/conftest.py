"""Browser tests: a real `streamlit run app.py` on a free port, driven by the system's Chromium.

The server and the browser come from devtools.app_server (shared with the benchmarks and the docs' pictures).
No browser is downloaded: Playwright launches /usr/bin/chromium (Debian's; `scripts/setup.sh --dev`
installs it). A failing test leaves a screenshot in tests/artifacts/.
"""

from __future__ import annotations

import os
import pathlib

import pytest

from devtools.app_server import CHROMIUM, launch_chromium, running_app

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


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")  # the Train page's runs
    with running_app(runs_dir=runs, log_path=ARTIFACTS / "streamlit.log") as app:
        yield app.url


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found: run `bash scripts/setup.sh --dev` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url, request):
    """A fresh browser session (so a fresh editor) on the Build page, with the canvas drawn."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)  # a loaded 2-core machine takes over 15 s for a first render now and then
    page.goto(app_url)
    page.locator("[data-testid='flow-canvas'] [data-testid^='node-']").first.wait_for()
    yield page
    if failed(request):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
