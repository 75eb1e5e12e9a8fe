"""Nothing lost, in Chromium: a reload in the middle of a run keeps the graph, the settings and the run; a server
restart keeps the graph and the settings; an uploaded CSV survives a visit to the Build page, by its name; the
Train page's one-click fix of the Input shape."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from devtools.app_server import running_app
from tests.browser.build_page import canvas, click_node, edge_label, load_template, press, set_number, settle
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser
SLOW_MS = 30_000  # a reload or a restart on a loaded 2-core machine can take many seconds to draw the page

FIRST_CHECK_MS = 60_000  # the first data check of a fresh server loads the data and compiles the network


def wine_csv(path, n_features: int = 13, n_classes: int = 3, rows: int = 60):
    header = ",".join(f"f{j}" for j in range(n_features)) + ",kind\n"
    lines = [",".join(str((i * (j + 3)) % 11) for j in range(n_features)) + f",c{i % n_classes}\n" for i in range(rows)]
    path.write_text(header + "".join(lines))
    return path


def go(page: Page, name: str) -> None:
    page.get_by_test_id("stTopNav").get_by_role("link", name=name).click()
    heading = "Build a network" if name == "Build" else name
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=FIRST_CHECK_MS)  # a first visit
    settle(page)


def choose(page: Page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).first.click()
    settle(page)


def owner_in(url: str) -> str:
    return parse_qs(urlparse(url).query)["owner"][0]


def edit_mlp_iris(page: Page) -> None:
    """mlp_iris with fc1 widened to 24 (x -> fc1 -> act1 -> fc2)."""
    load_template(page, "mlp_iris")
    click_node(page, "fc1")
    set_number(page, "out_features *", 24)
    expect(edge_label(page, "fc1", "act1")).to_have_text("[24]", timeout=SLOW_MS)


def upload_csv(page: Page, path) -> None:
    choose(page, "Dataset", "CSV file (upload)")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    settle(page)


def test_a_reload_mid_run_keeps_the_graph_the_settings_and_the_run(page: Page):
    edit_mlp_iris(page)
    assert owner_in(page.url)  # the key is in the Build page's URL from the first visit
    go(page, "Train")
    expect(page.get_by_text("loss cross_entropy")).to_be_visible(timeout=FIRST_CHECK_MS)
    set_number(page, "Epochs", 5000)
    press(page, "train_start")
    page.wait_for_url(re.compile(r"run=[\w-]+"))
    run_id = re.search(r"run=([\w-]+)", page.url).group(1)

    page.reload()
    expect(page.locator("code", has_text=run_id)).to_be_visible(timeout=30_000)
    expect(page.get_by_role("spinbutton", name="Epochs")).to_have_value("5000", timeout=SLOW_MS)
    expect(page.get_by_text("Network mlp_iris from the Build page")).to_be_visible(timeout=SLOW_MS)
    press(page, "train_stop")
    expect(page.get_by_text(re.compile(r"stopped on request at step \d+"))).to_be_visible(timeout=30_000)
    go(page, "Build")
    expect(edge_label(page, "fc1", "act1")).to_have_text("[24]", timeout=SLOW_MS)


def test_a_server_restart_keeps_the_graph_and_the_settings(browser, tmp_path):
    log = ARTIFACTS / "streamlit-restart.log"
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        with running_app(runs_dir=tmp_path, log_path=log) as app:
            page.goto(app.url)
            canvas(page).locator("[data-testid^='node-']").first.wait_for(timeout=FIRST_CHECK_MS)  # the first render
            edit_mlp_iris(page)
            go(page, "Train")
            set_number(page, "Epochs", 17)
            key = owner_in(page.url)
        with running_app(runs_dir=tmp_path, log_path=log) as app:
            page.goto(f"{app.url}/train?owner={key}")
            expect(page.get_by_text("Network mlp_iris from the Build page")).to_be_visible(timeout=FIRST_CHECK_MS)
            expect(page.get_by_role("spinbutton", name="Epochs")).to_have_value("17", timeout=SLOW_MS)
            go(page, "Build")
            expect(edge_label(page, "fc1", "act1")).to_have_text("[24]", timeout=SLOW_MS)
            assert owner_in(page.url) == key
    finally:
        context.close()


def test_an_upload_survives_a_visit_to_the_build_page_by_its_name(page: Page, tmp_path):
    load_template(page, "mlp_iris")
    go(page, "Train")
    upload_csv(page, wine_csv(tmp_path / "wine.csv", n_features=4))
    expect(page.get_by_role("combobox", name="Uploaded file")).to_have_value("wine.csv", timeout=SLOW_MS)
    go(page, "Build")
    go(page, "Train")
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value("CSV file (upload)", timeout=SLOW_MS)
    expect(page.get_by_role("combobox", name="Uploaded file")).to_have_value("wine.csv", timeout=SLOW_MS)
    expect(page.get_by_text("Task classification, 3 classes")).to_be_visible(timeout=FIRST_CHECK_MS)


def test_the_train_page_fixes_the_input_shape_in_one_click(page: Page, tmp_path):
    load_template(page, "mlp_iris")
    go(page, "Train")
    upload_csv(page, wine_csv(tmp_path / "wine.csv", n_features=13))
    expect(page.get_by_text("set Input shape to [13]")).to_be_visible(timeout=FIRST_CHECK_MS)
    press(page, "train_fix_0")
    expect(page.get_by_text("Task classification, 3 classes")).to_be_visible(timeout=FIRST_CHECK_MS)
    go(page, "Build")
    expect(edge_label(page, "x", "fc1")).to_have_text("[13]", timeout=SLOW_MS)
    page.get_by_role("button", name="Undo").click()  # the fix is one step of the Build page's history
    settle(page)
    expect(edge_label(page, "x", "fc1")).to_have_text("[4]", timeout=SLOW_MS)
