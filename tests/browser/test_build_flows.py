"""The Build page's real flows in Chromium: templates, the palette dragged onto the canvas and onto an edge,
handle-to-port wiring (a Concat's order), inspector edits, shape errors and their fixes, the keyboard (delete,
undo, redo, copy and paste), box selection, save/clear/open, bad files."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser import canvas_driver as drive
from tests.browser.build_page import (
    click_node,
    connect,
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


def inspector_shows(page, node_id: str) -> None:
    expect(page.get_by_role("textbox", name="id")).to_have_value(node_id)


def test_load_a_template(page):
    load_template(page, "lenet")
    expect(node(page, "conv1")).to_contain_text("Conv2d")
    expect(node(page, "fc2")).to_contain_text("[10]")
    expect(edge_label(page, "pool2", "flat")).to_have_text("[16, 2, 2]")
    assert len(node_ids(page)) == 11


def test_drag_a_layer_from_the_palette_onto_the_canvas_and_onto_an_edge(page):
    drive.pan_to(page, "fc2")  # the first view opens at the input end, fc2 beyond the pane's right edge
    x, y = drive.screen_to_flow(page, *drive.centre(node(page, "fc2")))
    drive.drop_palette_item_at(page, "Linear", x, y + 220)  # below fc2, on the empty pane
    settle(page)
    expect(node(page, "linear")).to_contain_text("out_features=16")
    inspector_shows(page, "linear")  # the new node is selected
    expect(edge_label(page, "fc2", "linear")).to_have_count(0)  # dropped on the pane: not wired
    drive.pan_to(page, "fc1", "relu")
    drive.drop_palette_item_on_edge(page, "Dropout", "fc1->relu:0")
    settle(page)
    expect(edge_label(page, "fc1", "dropout")).to_have_text("[16]")
    expect(edge_label(page, "dropout", "relu")).to_have_text("[16]")
    expect(edge_label(page, "fc1", "relu")).to_have_count(0)


def test_connect_to_port_2_of_a_concat_sets_its_order(page):
    x, y = drive.screen_to_flow(page, *drive.centre(node(page, "relu")))
    drive.drop_palette_item_at(page, "Concat", x, y + 260)  # below the middle: clear of the minimap (bottom right)
    settle(page)
    drive.pan_to(page, "x", "concat")  # the first view is too narrow for the whole row: each pair in view
    connect(page, "x", "concat", 0)
    drive.pan_to(page, "fc1", "concat")
    connect(page, "fc1", "concat", 1)
    expect(node(page, "concat")).to_contain_text("[18]")
    drive.pan_to(page, "fc2", "concat")
    connect(page, "fc2", "concat", 1)  # port 2 on the card (numbered from 1): between x and fc1
    expect(node(page, "concat")).to_contain_text("[20]")
    expect(edge_label(page, "fc2", "concat")).to_have_text("[2]")
    expect(node(page, "concat").locator(".nc-port-label")).to_have_text(["1", "2", "3", "4"])
    page.get_by_role("button", name="Save JSON").wait_for()
    click_node(page, "concat")
    expect(page.get_by_text("in [2], [2], [16] → out [20]")).to_be_visible()


def test_change_a_parameter_and_see_the_edge_shape_change(page):
    click_node(page, "fc1")
    expect(edge_label(page, "fc1", "relu")).to_have_text("[16]")
    set_number(page, "out_features *", 64)
    expect(edge_label(page, "fc1", "relu")).to_have_text("[64]")
    expect(edge_label(page, "relu", "fc2")).to_have_text("[64]")
    inspector_shows(page, "fc1")  # the selection survived the reruns


def test_shape_error_is_red_with_its_message_and_the_fix_repairs_it(page):
    click_node(page, "x")
    set_text(page, "shape *", "1, 8, 8")
    fc1 = node(page, "fc1")
    expect(fc1).to_have_class(re.compile("nc-card-problem"))
    expect(fc1).to_have_attribute("title", re.compile(r"Linear expects \[features\]"))  # the message on hover
    expect(fc1).to_contain_text("Linear expects")
    page.get_by_role("button", name="Fix: insert Flatten between x and this Linear").first.click()
    settle(page)
    expect(node(page, "flatten")).to_contain_text("[64]")
    expect(edge_label(page, "flatten", "fc1")).to_have_text("[64]")
    expect(fc1).not_to_have_class(re.compile("nc-card-problem"))
    expect(page.get_by_text("No problems: every shape fits.")).to_be_visible()


def test_keyboard_delete_undo_redo_and_edge_delete(page):
    click_node(page, "relu")
    drive.press(page, "Delete")
    expect(node(page, "relu")).to_have_count(0)
    expect(page.get_by_text("node 'fc2' is not connected to the input 'x'").first).to_be_visible()  # Python knows
    drive.press(page, "Control+z")
    expect(node(page, "relu")).to_be_visible()
    drive.press(page, "Control+Shift+z")
    expect(node(page, "relu")).to_have_count(0)
    drive.press(page, "Control+y")  # nothing left to redo: nothing changes
    drive.press(page, "Control+z")
    expect(node(page, "relu")).to_be_visible()
    settle(page)
    drive.click_edge(page, "fc1->relu:0")
    drive.press(page, "Backspace")
    expect(edge_label(page, "fc1", "relu")).to_have_count(0)
    expect(page.get_by_text("node 'relu' is not connected to the input 'x'").first).to_be_visible()


def test_copy_paste_and_box_select_then_delete(page):
    click_node(page, "fc1")
    drive.click_node(page, "relu", shift=True)
    settle(page)
    drive.press(page, "Control+c", "Control+v")
    expect(node(page, "fc1_copy")).to_contain_text("out_features=16")
    expect(node(page, "relu_copy")).to_be_visible()
    expect(edge_label(page, "fc1_copy", "relu_copy")).to_have_count(1)  # the edge between them came too
    settle(page)
    drive.box_select(page, *drive.box_around(page, ["fc1_copy", "relu_copy"]))
    settle(page)
    drive.press(page, "Delete")
    expect(node(page, "fc1_copy")).to_have_count(0)
    expect(node(page, "relu_copy")).to_have_count(0)
    assert sorted(node_ids(page)) == ["fc1", "fc2", "relu", "x"]


def test_save_clear_open_gives_the_same_graph(page, tmp_path):
    load_template(page, "resnet_mini")
    click_node(page, "fc")
    set_number(page, "out_features *", 7)
    saved = save_json(page, tmp_path / "saved.json")
    settle(page)
    page.get_by_role("button", name="Clear").click()
    settle(page)
    expect(page.get_by_text("one Undo away")).to_have_count(0)  # saved to a file: nothing unsaved was replaced
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
