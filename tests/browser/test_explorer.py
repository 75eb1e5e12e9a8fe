"""The Backprop explorer in Chromium: open it from the navigation, type an expression, step forward and back,
read the values off the chart's edges, see a parse error point at its column, and reload to the same expression."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.build_page import press, settle

pytestmark = pytest.mark.browser

EDGE_TEXTS = """() => {
    const plot = [...document.querySelectorAll('.js-plotly-plot')]
        .find(p => p.layout && p.layout.title && String(p.layout.title.text).includes('Computation graph'));
    if (!plot) return null;
    return (plot.layout.annotations || []).filter(a => (a.name || '').startsWith('edge_')).map(a => a.text).sort();
}"""


def open_explorer(page: Page) -> None:
    page.get_by_role("link", name="Backprop").click()
    expect(page.get_by_role("heading", name="Backprop explorer")).to_be_visible()
    settle(page)


def press_and_settle(page: Page, key: str) -> None:
    press(page, key)
    settle(page)


def type_expression(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Expression")
    box.fill(text)
    box.press("Enter")
    settle(page)


def set_value(page: Page, name: str, value: float) -> None:
    box = page.get_by_role("spinbutton", name=name, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page)


def test_step_through_a_typed_expression_and_see_a_parse_error(page: Page):
    open_explorer(page)
    type_expression(page, "(a + b) * c")
    for name, value in (("a", -2), ("b", 5), ("c", 4)):
        set_value(page, name, value)
    expect(page.get_by_text(re.compile(r"Step 0 of 4"))).to_be_visible()
    assert page.evaluate(EDGE_TEXTS) == []

    press_and_settle(page, "bp_forward")
    expect(page.get_by_text("q = a + b = 3.00")).to_be_visible()
    assert page.evaluate(EDGE_TEXTS) == ["-2.00", "5.00"]
    press_and_settle(page, "bp_forward")
    assert page.evaluate(EDGE_TEXTS) == ["-2.00", "3.00", "4.00", "5.00"]

    set_value(page, "Upstream gradient", 1.5)
    press_and_settle(page, "bp_backward")
    expect(page.get_by_text(re.compile(r"Step 3 of 4"))).to_be_visible()
    assert "∂: 4.00 · grad 6.00" in page.evaluate(EDGE_TEXTS) and "∂: 3.00 · grad 4.50" in page.evaluate(EDGE_TEXTS)
    press_and_settle(page, "bp_backward")
    assert page.evaluate(EDGE_TEXTS).count("∂: 1.00 · grad 6.00") == 2  # q = a + b passes 6 to a and to b
    expect(page.get_by_text("∂L/∂a = 6.00 · ∂L/∂b = 6.00 · ∂L/∂c = 4.50")).to_be_visible()

    page.reload()
    expect(page.get_by_role("textbox", name="Expression")).to_have_value("(a + b) * c")

    type_expression(page, "a + b @ c")
    expect(page.get_by_text("unexpected '@' at column 7")).to_be_visible()
    expect(page.locator("[data-testid='stAlert'] code")).to_contain_text("a + b @ c")
    assert page.evaluate(EDGE_TEXTS) is None  # no chart for an expression that does not parse
