"""The Train page in Chromium: load a template, train two epochs, see the loss curve and the coloured network,
stop, reload the page and find the run again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.build_page import load_template, press, settle

pytestmark = pytest.mark.browser

PLOT = ".js-plotly-plot"
CURVE_POINTS = """title => {
    const plot = [...document.querySelectorAll('.js-plotly-plot')]
        .find(p => p.layout && p.layout.title && String(p.layout.title.text).includes(title));
    if (!plot) return -1;
    const trace = plot.data.find(t => t.name === 'train loss (epoch)');
    return trace && trace.x ? trace.x.length : 0;
}"""
LIT_CARDS = "[data-testid='flow-canvas'] [data-testid^='node-'] .nc-card-badge"  # the Train page's read-only canvas


def open_train_page(page: Page) -> None:
    page.get_by_role("link", name="Train").click()
    expect(page.get_by_role("heading", name="Train")).to_be_visible(timeout=30_000)  # a first visit loads torch
    settle(page)


def set_epochs(page: Page, epochs: int) -> None:
    box = page.get_by_role("spinbutton", name="Epochs")
    box.fill(str(epochs))
    box.press("Enter")
    settle(page)


def test_train_watch_stop_reload_and_find_the_run(page: Page):
    load_template(page, "mlp_digits")
    open_train_page(page)
    # the first data check of a fresh server loads the dataset and compiles the network: seconds on 2 cores
    expect(page.get_by_text("loss cross_entropy")).to_be_visible(timeout=30_000)
    set_epochs(page, 5000)  # long enough to stop it by hand
    press(page, "train_start")
    page.wait_for_url(re.compile(r"run=[\w-]+"))
    run_id = re.search(r"run=([\w-]+)", page.url).group(1)

    page.wait_for_function(CURVE_POINTS, arg="Loss and accuracy", polling=200, timeout=30_000)
    page.wait_for_function(f"({CURVE_POINTS})('Loss and accuracy') >= 2", polling=200, timeout=30_000)
    expect(page.locator(LIT_CARDS)).to_have_count(2, timeout=30_000)  # fc1 and fc2 tinted by their gradient norm
    cards = page.locator("[data-testid='flow-canvas'] [data-testid^='node-']")
    expect(cards).to_have_count(4)  # the network as drawn on the Build page: x, fc1, act1, fc2

    press(page, "train_stop")
    expect(page.get_by_text(re.compile(r"stopped on request at step \d+"))).to_be_visible(timeout=30_000)

    page.reload()
    expect(page.locator("code", has_text=run_id)).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile(r"stopped on request at step \d+"))).to_be_visible()
    page.wait_for_function(f"({CURVE_POINTS})('Loss and accuracy') >= 2", polling=200, timeout=30_000)
    page.get_by_role("tab", name="Your runs").click()
    expect(page.get_by_role("combobox", name="Show run")).to_have_value(f"{run_id} · mlp_digits · digits · stopped")
