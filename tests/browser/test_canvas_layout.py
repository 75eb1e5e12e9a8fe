"""The canvas's layout in Chromium (issue 21 items 2, 3): ELK's picture of Mini ResNet and of ResNet-18 opened into
a block, no two cards overlapping after any gesture, text at least 10 px on screen in the first view of every
template, compact cards when zoomed out, the first drop after Clear not re-zooming, a block card's ports and the
block banner under the breadcrumb. Card boxes, font sizes and the zoom are read from the DOM."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from builder.library.templates import TEMPLATES
from tests.browser import canvas_driver as drive
from tests.browser.build_page import canvas, click_node, load_template, node, settle

pytestmark = pytest.mark.browser

WAIT_S = 90.0  # longest wait for the layout's answer on a loaded 2-core machine; a quiet one answers at once
MIN_TEXT_PX = 10.0

BOXES_JS = """(root) => [...root.querySelectorAll('.react-flow__node')].map((n) => {
  const r = n.getBoundingClientRect();
  return [n.dataset.id, r.x, r.y, r.width, r.height];
})"""
# The smallest text drawn on a card that is on screen: [px on screen, "card: text", zoom] (hidden text skipped).
SMALLEST_TEXT_JS = """(root) => {
  const zoom = new DOMMatrix(getComputedStyle(root.querySelector('.react-flow__viewport')).transform).a;
  const pane = root.querySelector('.react-flow').getBoundingClientRect();
  let smallest = Infinity, where = null, shown = 0;
  for (const card of root.querySelectorAll('.react-flow__node')) {
    const r = card.getBoundingClientRect();
    if (r.right < pane.left || r.left > pane.right || r.bottom < pane.top || r.top > pane.bottom) continue;
    shown += 1;
    const walker = document.createTreeWalker(card, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const text = walker.currentNode.textContent.trim();
      const element = walker.currentNode.parentElement;
      const style = getComputedStyle(element);
      if (!text || style.visibility === 'hidden' || element.getClientRects().length === 0) continue;
      const px = parseFloat(style.fontSize) * zoom;
      if (px < smallest) { smallest = px; where = card.dataset.id + ': ' + text.slice(0, 40); }
    }
  }
  return [smallest, where, zoom, shown];
}"""
# Points along an edge's path (flow coordinates are not needed: screen points against screen card boxes).
PATH_POINTS_JS = """(edge) => {
  const path = edge.querySelector('.react-flow__edge-path');
  const m = path.getScreenCTM();
  const length = path.getTotalLength();
  const points = [];
  for (let k = 1; k < 60; k += 1) {
    const p = path.getPointAtLength((length * k) / 60);
    points.push([p.x * m.a + p.y * m.c + m.e, p.x * m.b + p.y * m.d + m.f]);
  }
  return [points, (path.getAttribute('d').match(/L/g) || []).length];
}"""


def card_boxes(page) -> dict[str, tuple[float, float, float, float]]:
    return {row[0]: tuple(row[1:]) for row in canvas(page).evaluate(BOXES_JS)}


def overlapping(page) -> list[tuple[str, str]]:
    boxes = sorted(card_boxes(page).items(), key=lambda item: item[1][0])
    pairs = []
    for i, (a, (ax, ay, aw, ah)) in enumerate(boxes):
        for b, (bx, by, bw, bh) in boxes[i + 1 :]:
            if bx >= ax + aw:
                break
            if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah:
                pairs.append((a, b))
    return pairs


def expect_no_overlaps(page, after: str) -> None:
    """Once the page has answered (Streamlit idle, the layout's move taken), no two cards overlap."""
    deadline = time.monotonic() + WAIT_S
    while True:
        settle(page)
        drive.next_frames(page)
        pairs = overlapping(page)
        if not pairs or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    assert pairs == [], f"after {after}: overlapping cards {pairs[:5]}"


def expect_card(page, node_id: str) -> None:
    """The card Python made (its own id, not the component's temporary one), once Python has answered."""
    expect(node(page, node_id)).to_be_visible(timeout=WAIT_S * 1000)


def test_every_gesture_on_mini_resnet_leaves_no_overlapping_cards(page):
    load_template(page, "resnet_mini")
    expect_no_overlaps(page, "loading Mini ResNet")
    stem = drive.centre(node(page, "stem_conv"))
    drive.drop_palette_item(page, "ReLU", *stem)  # onto a card (not an edge): the new card is moved clear
    expect_card(page, "relu")
    expect_no_overlaps(page, "a drop onto a card")
    drive.drop_palette_item(page, "Linear", *drive.edge_point(page, "x->stem_conv:0", 0.5))
    expect_card(page, "linear")
    expect_no_overlaps(page, "a drop onto an edge")
    page.get_by_role("button", name="Fix: insert Flatten between x and this Linear").first.click()
    expect_card(page, "flatten")
    expect_no_overlaps(page, "a Fix's insertion")
    drive.pan_to(page, "stem_bn")
    drive.connect(page, "stem_bn", "relu", 0)
    expect(page.locator(f"{drive.PANE} [data-testid^='rf__edge-stem_bn->relu:']")).to_have_count(1)
    expect_no_overlaps(page, "a connection")
    drive.pan_to(page, "stem_bn")
    click_node(page, "stem_bn")
    drive.press(page, "Control+c", "Control+v")  # the copy lands 40 px off the original: moved clear
    expect_card(page, "stem_bn_copy")
    expect_no_overlaps(page, "a paste")
    drive.pan_to(page, "stem_conv")
    grab = drive.centre(node(page, "stem_bn").locator(".nc-card-id"))
    drive.mouse_drag(page, grab, drive.centre(node(page, "stem_conv")))  # dropped onto stem_conv: moved clear
    expect_no_overlaps(page, "a card moved onto another")
    drive.pan_to(page, "relu")
    node(page, "relu").locator(".nc-card-x").click()
    expect(node(page, "relu")).to_have_count(0)
    expect_no_overlaps(page, "a delete")
    drive.pan_to(page, "stem_bn")
    click_node(page, "stem_bn")
    drive.click_node(page, "stem_bn_copy", shift=True)
    page.locator("[data-testid='make-block']").click()
    expect_card(page, "block")
    expect_no_overlaps(page, "making a block")
    drive.pan_to(page, "block")
    page.locator("[data-testid='block-expand-block']").click()
    expect(node(page, "block")).to_have_count(0)
    expect_no_overlaps(page, "expanding the block")
    page.get_by_role("button", name="Auto-layout").click()
    expect_no_overlaps(page, "auto-layout")


def test_resnet18_opened_into_a_block_and_expanded_leaves_no_overlapping_cards(page):
    load_template(page, "resnet18_blocks")
    expect_no_overlaps(page, "loading ResNet-18")
    drive.bring_into_view(page, "layer1")
    page.locator("[data-testid='block-open-layer1']").click()
    expect(page.locator("[data-testid='breadcrumb-1']")).to_be_visible()
    expect_no_overlaps(page, "opening layer1's body")
    first = sorted(card_boxes(page).items(), key=lambda item: item[1][0])[1][0]  # the card after the body's Input
    drive.drop_palette_item(page, "Dropout", *drive.centre(node(page, first)))
    expect_card(page, "dropout")
    expect_no_overlaps(page, "a drop onto a card in the body")
    page.locator("[data-testid='breadcrumb-0']").click()
    expect(page.locator("[data-testid='breadcrumb-1']")).to_have_count(0)
    expect_no_overlaps(page, "going back to the network")
    settle(page)
    drive.bring_into_view(page, "layer2")
    page.locator("[data-testid='block-expand-layer2']").click()
    expect(node(page, "layer2")).to_have_count(0)
    expect_no_overlaps(page, "expanding layer2")


def test_mini_resnets_skip_edges_are_routed_around_the_cards(page):
    load_template(page, "resnet_mini")
    expect_no_overlaps(page, "loading Mini ResNet")
    page.locator(".react-flow__controls-fitview").click()  # the whole graph on screen
    drive.next_frames(page)
    boxes = card_boxes(page)
    skip = page.locator(f"{drive.PANE} [data-testid='rf__edge-stem_relu->b1_add:0']")
    points, bends = skip.evaluate(PATH_POINTS_JS)
    assert bends >= 3  # routed (ELK's orthogonal bends), not one smoothstep
    crossed = {
        card
        for px, py in points
        for card, (x, y, w, h) in boxes.items()
        if card not in ("stem_relu", "b1_add") and x < px < x + w and y < py < y + h
    }
    assert crossed == set(), f"the skip edge runs through {sorted(crossed)}"


def test_auto_layout_puts_a_chain_on_one_row(page):
    load_template(page, "lenet")  # 11 layers in one chain
    page.get_by_role("button", name="Auto-layout").click()
    expect_no_overlaps(page, "auto-layout")
    boxes = card_boxes(page)
    middles = {card: round(y + h / 2) for card, (x, y, w, h) in boxes.items()}
    assert max(middles.values()) - min(middles.values()) <= 2, middles  # one row: every card on the main line


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_first_view_of_every_template_draws_card_text_at_least_10_px(shared_page, name):
    page = shared_page  # one session: each case loads its template over the last one
    load_template(page, name)
    expect_no_overlaps(page, f"loading {name}")
    smallest, where, zoom, shown = canvas(page).evaluate(SMALLEST_TEXT_JS)
    assert shown >= 1
    assert smallest >= MIN_TEXT_PX - 0.05, f"{name}: {where} is {smallest:.1f} px on screen (zoom {zoom:.2f})"


def test_zoomed_out_cards_are_compact_and_the_first_drop_after_clear_does_not_jump(page):
    load_template(page, "resnet_mini")
    expect_no_overlaps(page, "loading Mini ResNet")
    compact = node(page, "stem_conv").locator(".nc-card-compact")
    expect(compact).to_be_hidden()
    page.locator(".react-flow__controls-fitview").click()  # Fit: far below the legible zoom
    expect(compact).to_be_visible()
    expect(compact).to_contain_text("stem_conv")
    expect(node(page, "stem_conv").locator(".nc-card-params")).to_be_hidden()
    page.get_by_role("button", name="Clear").click()
    settle(page)
    expect(page.locator(f"{drive.PANE} .react-flow__node")).to_have_count(0)
    before = drive.viewport(page)
    pane = page.locator(drive.PANE).bounding_box()
    drive.drop_palette_item(page, "Linear", pane["x"] + pane["width"] / 2, pane["y"] + pane["height"] / 2)
    expect_card(page, "linear")
    settle(page)
    drive.next_frames(page)
    assert drive.viewport(page) == pytest.approx(before, abs=0.5)


def test_a_block_card_has_one_port_per_body_input_and_the_banner_sits_under_the_breadcrumb(page):
    load_template(page, "resnet18_blocks")
    expect_no_overlaps(page, "loading ResNet-18")
    ports = node(page, "layer1").locator(".react-flow__handle.target")
    expect(ports).to_have_count(1)
    drive.bring_into_view(page, "layer1")
    page.locator("[data-testid='block-open-layer1']").click()
    note = page.locator("[data-testid='canvas-note']")
    expect(note).to_contain_text("Editing block")
    crumbs = page.locator(f"{drive.PANE} .nc-breadcrumb")
    crumb_box, note_box = crumbs.bounding_box(), note.bounding_box()
    assert note_box["y"] >= crumb_box["y"] + crumb_box["height"], (crumb_box, note_box)
