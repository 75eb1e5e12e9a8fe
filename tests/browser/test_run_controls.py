"""Run controls in Chromium: a paused run shows no speed or time left, Resume shows running on the draw right
after the click, a stopped run's counter names the epoch and step of its message; Continue training is
hidden, with the reason, after an unrelated template is loaded on the Build page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.build_page import load_template, press, settle
from tests.browser.test_train_flow import set_epochs

pytestmark = pytest.mark.browser

STOPPED = re.compile(r"stopped on request at step (\d+)(?: in epoch [\d,]+)? \(([\d,]+ / [\d,]+) epochs done\)")


def open_train_page(page: Page) -> None:
    page.get_by_role("link", name="Train").click()
    expect(page.get_by_role("heading", name="Train")).to_be_visible(timeout=30_000)  # a first switch: seconds
    settle(page)


def metric(page: Page, label: str) -> str:
    """The value of the st.metric with this label (Epoch, Step, Steps per second, Time left...)."""
    box = page.locator("[data-testid='stMetric']").filter(has=page.get_by_text(label, exact=True))
    return box.locator("[data-testid='stMetricValue']").inner_text().strip()


def test_pause_resume_stop_counters_and_continue_hidden_for_an_unrelated_network(page: Page):
    load_template(page, "mlp_iris")
    open_train_page(page)
    expect(page.get_by_text("loss cross_entropy")).to_be_visible(timeout=30_000)
    set_epochs(page, 100_000)  # long enough to pause and stop it by hand
    press(page, "train_start")
    page.wait_for_url(re.compile(r"run=[\w-]+"))
    run_id = re.search(r"run=([\w-]+)", page.url).group(1)
    expect(page.locator(".st-key-train_pause button").first).to_be_visible(timeout=30_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.innerText.includes("
        "'Steps per second') && /\\d/.test(m.querySelector('[data-testid=stMetricValue]').innerText))",
        polling=200,
        timeout=30_000,
    )

    press(page, "train_pause")
    expect(page.get_by_text(re.compile(r"paused at step \d+"))).to_be_visible(timeout=30_000)
    expect(page.locator(".st-key-train_resume button").first).to_be_visible(timeout=30_000)
    settle(page)
    assert metric(page, "Steps per second") == "–" and metric(page, "Time left") == "–"

    press(page, "train_resume")
    settle(page)  # the draw that follows the click, before any poll: already running, with its Pause button
    assert page.locator("strong", has_text="running").first.is_visible()
    assert page.locator(".st-key-train_pause button").first.is_visible()
    assert not page.locator(".st-key-train_resume button").first.is_visible()

    press(page, "train_stop")
    stopped = page.get_by_text(STOPPED)
    expect(stopped).to_be_visible(timeout=30_000)
    settle(page)
    step, epoch = STOPPED.search(stopped.inner_text()).groups()
    assert metric(page, "Step").replace(",", "") == step
    assert metric(page, "Epochs") == epoch  # whole epochs done, as the message says (engine.train.counters)
    continue_button = page.locator(".st-key-train_continue button").first  # its own network and data: offered
    expect(continue_button).to_be_visible(timeout=30_000)  # once the page has redrawn its buttons

    page.get_by_role("link", name="Build").first.click()
    settle(page)
    load_template(page, "lenet")  # another network, on another dataset
    open_train_page(page)
    # the reason: the settings follow the template to its dataset (digits), or they keep iris and then no
    # node of LeNet keeps a weight of the MLP's; either way Continue is not offered and Train is
    why = re.compile(
        rf"Continue training is not offered for run {run_id}: (it was trained on dataset 'iris', and the settings "
        r"say dataset 'digits'|no node of this network would keep its trained weights)"
    )
    expect(page.get_by_text(why)).to_be_visible(timeout=30_000)
    assert page.locator(".st-key-train_continue button").count() == 0
    expect(page.locator(".st-key-train_start button").first).to_be_visible()
