"""The app follows the browser's colour preference: in a dark browser the page is dark and a chart's texts are
light, in a light one the opposite (computed styles of the running app in Chromium)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.build_page import settle

pytestmark = pytest.mark.browser

LUMINANCE = """el => {
    const [r, g, b] = getComputedStyle(el)[PROP].match(/[\\d.]+/g).map(Number);
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}"""


def luminance(locator, prop: str) -> float:
    """0 (black) to 1 (white): a simple luminance of the element's computed colour property."""
    return locator.evaluate(LUMINANCE.replace("PROP", repr(prop)))


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_page_and_chart_follow_the_browser_preference(browser, app_url, scheme):
    context = browser.new_context(viewport={"width": 1300, "height": 900}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{app_url}/backprop")
        expect(page.get_by_role("heading", name="Backprop explorer")).to_be_visible(timeout=30_000)
        settle(page)
        title = page.locator(".js-plotly-plot .gtitle").first  # the computation graph's title, drawn by plotly
        expect(title).to_contain_text("Computation graph", timeout=30_000)  # plotly's code loads on first use
        background = luminance(page.locator("[data-testid='stApp']"), "backgroundColor")
        text = luminance(title, "fill")
        if scheme == "dark":
            assert background < 0.2 and text > 0.7, (background, text)
        else:
            assert background > 0.9 and text < 0.4, (background, text)
    finally:
        context.close()
