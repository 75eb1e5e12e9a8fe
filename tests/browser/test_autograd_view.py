"""The autograd graph on the Train page, in Chromium: computed on demand, drawn, and a node expanded into its
operations (tests/test_autograd_view.py checks the same through AppTest; this one checks it renders)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.build_page import settle
from tests.browser.test_train_flow import open_train_page

pytestmark = pytest.mark.browser

FIRST_STEP_MS = 60_000  # the first graph imports the data and compiles the network on a loaded machine


def chart_text(page: Page) -> str:
    """Every label the chart draws, joined (SVG text has no innerText)."""
    return " ".join(page.locator(".js-plotly-plot text").evaluate_all("els => els.map(e => e.textContent)"))


CHART_HAS_LABELS = """labels => {
    const text = [...document.querySelectorAll('.js-plotly-plot text')].map(e => e.textContent).join(' ');
    return labels.every(label => text.includes(label));
}"""


def test_the_autograd_graph_renders_and_a_node_opens_into_its_operations(page: Page):
    open_train_page(page)  # the starter network: x -> fc1 -> relu -> fc2
    page.get_by_text("Autograd graph of one step", exact=True).click()
    page.get_by_role("button", name="Show the autograd graph of one step").click()
    expect(page.get_by_text(re.compile(r"on a batch of \d+"))).to_be_visible(timeout=FIRST_STEP_MS)
    settle(page)
    # plotly draws after the script run ends (its bundle loads lazily on a first chart): wait for the labels
    page.wait_for_function(CHART_HAS_LABELS, arg=["fc1", "relu", "fc2", "loss"], polling=200, timeout=30_000)
    text = chart_text(page)
    assert all(node in text for node in ("fc1", "relu", "fc2", "loss")), text  # one box per node of the network
    assert "Addmm" not in text  # collapsed to the nodes
    page.get_by_role("combobox", name="Nodes shown as their operations").click()
    page.get_by_role("option", name="fc1").click()
    page.keyboard.press("Escape")
    settle(page)
    expect(page.locator(".js-plotly-plot text", has_text="Addmm").first).to_be_visible(timeout=30_000)  # fc1's matmul
    page.wait_for_function(CHART_HAS_LABELS, arg=["fc1.weight", "fc1.bias"], polling=200, timeout=30_000)
    assert "fc1.weight" in chart_text(page) and "fc1.bias" in chart_text(page)  # and the parameters it uses
