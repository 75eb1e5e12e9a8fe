"""The Build page's real flows in Chromium: templates, palette, handle-to-handle wiring, inspector edits,
shape errors and their fixes, deleting, save/clear/open, bad files."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.build_page import (
    canvas,
    click_node,
    drag_handle,
    edge_label,
    load_template,
    node,
    node_ids,
    open_file,
    save_json,
    set_number,
    set_text,
    settle,
)

pytestmark = pytest.mark.browser

RED_BORDER = "rgb(211, 47, 47)"


def test_load_a_template(page):
    load_template(page, "lenet")
    expect(node(page, "conv1")).to_contain_text("Conv2d")
    expect(node(page, "fc2")).to_contain_text("[10]")
    expect(edge_label(page, "pool2", "flat")).to_have_text("[16, 2, 2]")
    assert len(node_ids(page)) == 11


def test_add_a_linear_from_the_palette_after_the_selected_node(page):
    click_node(page, "fc2")
    page.locator("[data-testid='stSidebar']").get_by_role("button", name="Linear", exact=True).click()
    settle(page)
    expect(node(page, "linear")).to_contain_text("out_features=16")
    expect(edge_label(page, "fc2", "linear")).to_have_text("[2]")
    expect(page.get_by_role("textbox", name="id")).to_have_value("linear")  # the new node is selected


def test_connect_two_nodes_by_dragging_handle_to_handle(page):
    click_node(page, "fc2")
    page.locator("[data-testid='stSidebar']").get_by_text("Wire it after the selected node").click()  # off
    settle(page)
    page.locator("[data-testid='stSidebar']").get_by_role("button", name="Sigmoid", exact=True).click()
    settle(page)
    expect(node(page, "sigmoid")).to_be_visible()
    expect(edge_label(page, "fc2", "sigmoid")).to_have_count(0)
    drag_handle(page, "fc2", "sigmoid")
    expect(edge_label(page, "fc2", "sigmoid")).to_have_text("[2]")
    expect(node(page, "sigmoid")).to_contain_text("[2]")


def test_change_a_parameter_and_see_the_edge_shape_change(page):
    click_node(page, "fc1")
    expect(edge_label(page, "fc1", "relu")).to_have_text("[16]")
    set_number(page, "out_features *", 64)
    expect(edge_label(page, "fc1", "relu")).to_have_text("[64]")
    expect(edge_label(page, "relu", "fc2")).to_have_text("[64]")
    expect(page.get_by_role("textbox", name="id")).to_have_value("fc1")  # the selection survived the reruns


def test_shape_error_is_red_with_its_message_and_the_fix_repairs_it(page):
    click_node(page, "x")
    set_text(page, "shape *", "1, 8, 8")
    fc1 = node(page, "fc1")
    expect(fc1).to_have_css("border-top-color", RED_BORDER)
    expect(fc1.locator("[title*='Linear expects [features]']")).to_have_count(1)  # the message on hover
    expect(fc1).to_contain_text("Linear expects")
    page.get_by_role("button", name="Fix: insert Flatten between x and this Linear").first.click()
    settle(page)
    expect(node(page, "flatten")).to_contain_text("[64]")
    expect(edge_label(page, "flatten", "fc1")).to_have_text("[64]")
    expect(fc1).not_to_have_css("border-top-color", RED_BORDER)
    expect(page.get_by_text("No problems: every shape fits.")).to_be_visible()


def test_delete_by_context_menu_and_keyboard_deletion_does_nothing(page):
    click_node(page, "relu")
    page.keyboard.press("Delete")
    page.keyboard.press("Backspace")
    page.wait_for_timeout(500)
    assert "relu" in node_ids(page)
    node(page, "relu").click(button="right")
    canvas(page).get_by_role("button", name="Delete Node").click()
    settle(page)
    expect(node(page, "relu")).to_have_count(0)
    expect(page.get_by_text("node 'fc2' is not connected to the input 'x'").first).to_be_visible()  # Python knows
    page.get_by_role("button", name="Undo").click()
    settle(page)
    expect(node(page, "relu")).to_be_visible()
    label = edge_label(page, "fc1", "relu")
    canvas(page).locator(".react-flow__edge[data-testid='rf__edge-fc1->relu'] .react-flow__edge-textbg").click(
        button="right"
    )  # the label's background belongs to the edge: its menu opens
    canvas(page).get_by_role("button", name="Delete Edge").click()
    settle(page)
    expect(label).to_have_count(0)
    expect(page.get_by_text("node 'relu' is not connected to the input 'x'").first).to_be_visible()


def test_save_clear_open_gives_the_same_graph(page, tmp_path):
    load_template(page, "resnet_mini")
    click_node(page, "fc")
    set_number(page, "out_features *", 7)
    saved = save_json(page, tmp_path / "saved.json")
    page.get_by_role("button", name="Clear").click()
    settle(page)
    assert node_ids(page) == []
    open_file(page, tmp_path / "saved.json")
    expect(node(page, "fc")).to_contain_text("[7]")
    assert sorted(node_ids(page)) == sorted(n["id"] for n in saved["nodes"])
    assert save_json(page, tmp_path / "again.json") == saved


def test_bad_files_get_a_clear_message_and_leave_the_graph_alone(page, tmp_path):
    before = node_ids(page)
    cases = {
        "notes.json": "this is not json",
        "list.json": "[1, 2, 3]",
        "banana.json": json.dumps({"version": 1, "name": "b", "nodes": [{"id": "a", "op": "Banana"}], "edges": []}),
    }
    expected = {
        "notes.json": "is not a JSON file",
        "list.json": "is not a NetCanvas network",
        "banana.json": "unknown op 'Banana'",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        open_file(page, path)
        expect(page.get_by_text(expected[name])).to_be_visible()
        page.keyboard.press("Escape")
        assert node_ids(page) == before
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (5 * 1024 * 1024 + 10))
    open_file(page, big)
    expect(page.get_by_text("File must be 5.0MB or smaller.")).to_be_visible()
    assert node_ids(page) == before
