"""The autograd graph of one step in Chromium, drawn by the canvas component (its read-only autograd mode).

On the Train page (the starter network): computed on demand, one card per node; a click on a node shows it as a
group of its operations, a click on an operation shows its statistics. On devtools/autograd_demo.py (the component
alone, with the same payload): ResNet-18's 69 nodes with every node expanded lay out with no two groups or cards
overlapping and every label whole and uncovered, legible in the first view; names that are markup stay text.
"""

from __future__ import annotations

import re
import subprocess
from contextlib import ExitStack

import pytest
from playwright.sync_api import Page, expect

from devtools.app_server import ROOT, free_port, stop, streamlit_command, wait_healthy
from tests.browser.build_page import settle
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_train_flow import open_train_page

pytestmark = pytest.mark.browser

FIRST_STEP_MS = 60_000  # the first graph imports the data and compiles the network on a loaded machine
LAYOUT_MS = 90_000  # ELK on ~200 compound nodes on a loaded 2-core machine, after the demo's own training step
GRAPH = "[data-testid='autograd-graph']"
LAID_OUT = f"{GRAPH} [data-layout='done']"
SMALLEST_TEXT_PX = 10  # a first view draws no text smaller (as issue 21 asks of the editor's canvas)

# Every group and card's box (an operation's card with its group's id), and every label's box, whether its text is
# whole (not cut by its box) and the group or card it belongs to. Run on the graph's root (in the component's
# shadow DOM, which document.querySelector does not reach).
BOXES = """(root) => {
    const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const scale = new DOMMatrixReadOnly(getComputedStyle(root.querySelector('.react-flow__viewport')).transform).a;
    const shapes = [...root.querySelectorAll('.ag-group, .ag-card')].map((el) => ({
        id: el.dataset.testid, group: el.dataset.group || null, box: box(el),
    }));
    const labels = [...root.querySelectorAll('.ag-label, .ag-meta')].map((el) => ({
        text: el.textContent, box: box(el), whole: el.scrollWidth <= el.clientWidth + 1,
        px: parseFloat(getComputedStyle(el).fontSize) * scale,
        shape: el.closest('.ag-group, .ag-card').dataset.testid,
    }));
    return { shapes, labels, scale };
}"""


def overlap(a: list[float], b: list[float], slack: float = 0.5) -> bool:
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def inside(a: list[float], b: list[float], slack: float = 0.5) -> bool:
    return a[0] >= b[0] - slack and a[1] >= b[1] - slack and a[2] <= b[2] + slack and a[3] <= b[3] + slack


def tidiness_problems(found: dict) -> list[str]:
    """No two groups or cards overlap, but an operation's card lies inside its own group; every label is whole,
    inside its own card or group, and lies on no other group or card (an operation's label on its group)."""
    shapes = {shape["id"]: shape for shape in found["shapes"]}
    home = {i: {i} | ({f"ag-group-{s['group']}"} if s["group"] is not None else set()) for i, s in shapes.items()}
    problems = []
    for i, a in shapes.items():
        if a["group"] is not None and not inside(a["box"], shapes[f"ag-group-{a['group']}"]["box"]):
            problems.append(f"{i} is outside its group")
        for j, b in shapes.items():
            if i < j and j not in home[i] and i not in home[j] and overlap(a["box"], b["box"]):
                problems.append(f"{i} overlaps {j}")
    for label in found["labels"]:
        own = label["shape"]
        if not label["whole"]:
            problems.append(f"label {label['text']!r} is cut")
        if not inside(label["box"], shapes[own]["box"]):
            problems.append(f"label {label['text']!r} leaves {own}")
        for j, shape in shapes.items():
            if j not in home[own] and overlap(label["box"], shape["box"]):
                problems.append(f"label {label['text']!r} of {own} is covered by {j}")
    return problems


def test_the_autograd_graph_draws_a_node_opens_into_its_operations_and_a_click_shows_statistics(page: Page):
    open_train_page(page)  # the starter network: x -> fc1 -> relu -> fc2
    page.get_by_text("Autograd graph of one step", exact=True).click()
    page.get_by_role("button", name="Show the autograd graph of one step").click()
    expect(page.get_by_text(re.compile(r"on a batch of \d+"))).to_be_visible(timeout=FIRST_STEP_MS)
    settle(page)
    expect(page.locator(LAID_OUT)).to_be_visible(timeout=LAYOUT_MS)
    cards = page.locator(f"{GRAPH} [data-testid^='ag-node-']")
    expect(cards).to_have_count(4)  # fc1, act1, fc2 and the loss, one card each
    assert page.locator(f"{GRAPH} [data-testid^='ag-op-']").count() == 0  # collapsed to the nodes
    assert page.locator(".js-plotly-plot").count() == 0

    page.locator(f"{GRAPH} [data-testid='ag-node-fc1']").click()  # asks Python for fc1's operations
    group = page.locator(f"{GRAPH} [data-testid='ag-group-fc1']")
    expect(group).to_be_visible(timeout=30_000)
    expect(page.locator(LAID_OUT)).to_be_visible(timeout=LAYOUT_MS)
    for label in ("fc1.weight", "fc1.bias", "Addmm"):  # its operations' cards (React Flow's siblings of the group)
        expect(page.locator(f"{GRAPH} [data-group='fc1'] .ag-label", has_text=label)).to_be_visible()
    details = page.locator(f"{GRAPH} [data-testid='autograd-details']")
    page.locator(f"{GRAPH} .ag-op .ag-label", has_text="Addmm").click()
    expect(details).to_contain_text("AddmmBackward0 in fc1")
    expect(details).to_contain_text(re.compile(r"gradient norm [\d.e+-]+, mean"))
    expect(details).to_contain_text(re.compile(r"value \d+×16: mean"))
    assert tidiness_problems(page.locator(GRAPH).evaluate(BOXES)) == []

    group.get_by_role("button", name="−").click()  # Collapse: fc1 is one card again
    expect(page.locator(f"{GRAPH} [data-testid='ag-node-fc1']")).to_be_visible(timeout=30_000)
    expect(page.locator(f"{GRAPH} [data-testid^='ag-op-']")).to_have_count(0)


@pytest.fixture(scope="module")
def demo_url():
    """devtools/autograd_demo.py on a free port, like the app in conftest.py."""
    port = free_port()
    command = streamlit_command(port)
    command[command.index("app.py")] = "devtools/autograd_demo.py"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        log = stack.enter_context(open(ARTIFACTS / "autograd_demo.log", "w"))
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(stop, process)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield url


def test_resnet18_expanded_has_no_overlaps_no_hidden_labels_and_a_legible_first_view(page: Page, demo_url):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{demo_url}/?net=resnet18&expanded=all")
    expect(page.locator(LAID_OUT)).to_be_visible(timeout=LAYOUT_MS)
    groups = page.locator(f"{GRAPH} [data-testid^='ag-group-']")
    expect(groups).to_have_count(69)  # its 69 nodes but the input, and the loss
    assert page.locator(f"{GRAPH} [data-testid^='ag-op-']").count() == 133
    found = page.locator(GRAPH).evaluate(BOXES)
    smallest = min(label["px"] for label in found["labels"])
    assert smallest >= SMALLEST_TEXT_PX - 1e-6, f"text drawn {smallest:.1f} px high at scale {found['scale']:.2f}"
    assert len(found["labels"]) == 2 * 69 + 2 * 133
    assert tidiness_problems(found) == []
    page.locator(f"{GRAPH} .ag-op .ag-label", has_text="stem_conv.weight").click()
    details = page.locator(f"{GRAPH} [data-testid='autograd-details']")
    expect(details).to_contain_text("AccumulateGrad in stem_conv, parameter stem_conv.weight")
    expect(details).to_contain_text("value 64×3×3×3: mean")
    layout_ms = page.locator(f"{GRAPH} [data-layout-ms]").get_attribute("data-layout-ms")
    print(f"ELK layout of ResNet-18 expanded: {layout_ms} ms")


def test_names_that_are_markup_are_shown_as_text(page: Page, demo_url):
    page.goto(f"{demo_url}/?net=hostile")
    expect(page.locator(LAID_OUT)).to_be_visible(timeout=LAYOUT_MS)
    hostile = "<img src=x onerror=\"document.title='pwned'\">"
    card = page.locator(f"{GRAPH} [data-testid^='ag-node-']").first
    expect(card.locator(".ag-title")).to_contain_text(hostile)
    card.click()  # expanded: its parameter and its operation are named by markup too
    expect(page.locator(f"{GRAPH} .ag-op .ag-label", has_text="<script>")).to_be_visible(timeout=30_000)
    expect(page.locator(f"{GRAPH} .ag-op .ag-label", has_text=hostile)).to_be_visible()
    assert page.locator(f"{GRAPH} img, {GRAPH} script, {GRAPH} b").count() == 0
    assert page.title() != "pwned"
