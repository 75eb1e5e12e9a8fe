"""One template per learning-rule family in Chromium (issue 22): load it, train a short run, take a screenshot,
and open every tab of "Inside the network" that the page offers: each draws a chart (none only says it does
not apply, or waits for data that never comes)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.build_page import load_template, press, set_number, settle
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

FAMILIES = {  # family: (template, {sidebar label: value}, the tabs the page must offer)
    "perceptron": ("perceptron_xor", {"Epochs": 3}, ["Live views", "Weights", "Decision surface", "Confusion matrix"]),
    "rbm": ("rbm_digits", {"Epochs": 1, "Batch size": 200}, ["Live views", "Weights"]),
    "dbn": (
        "dbn_digits",
        {"Pretraining epochs per RBM": 1, "Fine-tuning epochs": 1, "Batch size": 256},
        ["Live views", "Weights", "Confusion matrix"],
    ),
    "dsn": ("dsn_digits", {"Epochs per module": 1, "Batch size": 256}, ["Weights", "Confusion matrix"]),
    "som": ("som_iris", {"Epochs": 2}, ["Live views", "Weights"]),
    "backprop": (
        "mlp_xor",
        {"Epochs": 5},
        ["Gradients", "Activations", "Weights", "Decision surface", "Confusion matrix"],
    ),
}
PLOTS_BELOW = """key => {
    const control = document.querySelector('.st-key-' + key);
    if (!control) return -1;
    const top = control.getBoundingClientRect().bottom;
    return [...document.querySelectorAll('.js-plotly-plot')]
        .filter(p => p.getBoundingClientRect().top >= top && p.data && p.data.length > 0).length;
}"""
WAITING = re.compile(r"does not apply|appear with the first probe snapshot|comes at the end|come at the end")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_rule_family_trains_and_every_offered_tab_draws(page: Page, family: str):
    template, settings, expected_tabs = FAMILIES[family]
    load_template(page, template)
    page.get_by_role("link", name="Train").click()
    expect(page.get_by_role("heading", name="Train")).to_be_visible(timeout=60_000)
    settle(page)
    for label, value in settings.items():
        set_number(page, label, value)
    expect(page.get_by_text("Learning rule ·").first).to_be_visible()
    press(page, "train_start")
    expect(page.get_by_text(re.compile(r"^trained [\d,]+ epochs?")).first).to_be_visible(timeout=240_000)
    settle(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"rule_family_{family}.png"), full_page=True)
    tabs = page.locator(".st-key-train_panel button")
    expect(tabs).to_have_count(len(expected_tabs))
    assert [t.strip() for t in tabs.all_inner_texts()] == expected_tabs
    for label in expected_tabs:
        page.locator(".st-key-train_panel button", has_text=label).first.click()
        settle(page)
        page.wait_for_function(f"({PLOTS_BELOW})('train_panel') >= 1", polling=250, timeout=30_000)
        expect(page.get_by_text(WAITING)).to_have_count(0)
