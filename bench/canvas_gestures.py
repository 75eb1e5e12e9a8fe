"""Gesture -> frame and gesture -> confirmed shapes on the Build page's canvas at 200 nodes (issue 21), timed in
the page, for any checkout of NetCanvas (so today's numbers and a past commit's come from the same code):

    python -m bench.bench_canvas --gestures                      # this checkout
    python -m bench.bench_canvas --gestures --root /tmp/before   # another checkout's app.py, served from there

Each gesture's time starts at the browser event that ends it (`drop`, `keydown`, or `pointerup` for a handle
drag, a card drag and a click) and ends in a requestAnimationFrame callback after the DOM first shows:
- frame: the picture shows the gesture (a new card, a new edge, a card gone, the inspector filled);
- confirmed: the picture shows Python's answer (the new card under Python's id with its shape, nothing marked
  pending). Before the optimistic canvas both are the same moment. A move changes nothing Python draws: its
  "confirmed" is the component's queue empty (`data-waiting="0"`), which a checkout without it cannot show.
Between gestures the page is left to settle (no message to the server for 1.2 s) and the edit is undone.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import tempfile
from contextlib import contextmanager

from bench.big_graph import residual_mlp

GESTURE_JS = r"""
window.__ncArmed = null;
window.__ncGesture = 0;
for (const type of ["drop", "keydown", "pointerup"]) {
  document.addEventListener(type, () => {
    if (window.__ncArmed === type) { window.__ncGesture = performance.now(); window.__ncArmed = null; }
  }, true);
}
window.__ncWhen = (check) => new Promise((resolve) => {
  const root = window.__ncCanvasRoot();
  const holds = new Function("root", "doc", `try { return !!(${check}); } catch (e) { return false; }`);
  let over = false;
  const done = () => {
    over = true;
    observer.disconnect();
    requestAnimationFrame(() => resolve(performance.now() - window.__ncGesture));
  };
  const observer = new MutationObserver(() => {
    if (!over && window.__ncGesture && holds(root, document)) done();
  });
  const poll = () => {  // a picture that needs no DOM change (a move's own frame) is seen by the next frame
    if (over) return;
    if (window.__ncGesture && holds(root, document)) done(); else requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
  for (const target of [root, document.body]) {
    observer.observe(target, { subtree: true, childList: true, characterData: true, attributes: true });
  }
  setTimeout(() => { if (!over) { over = true; observer.disconnect(); resolve(null); } }, 30000);
});
"""
# A screen point of the pane with nothing but the pane under it (a grid scanned from the top-left, 30 px in).
EMPTY_SPOT_JS = """() => {
  const root = window.__ncCanvasRoot();
  const box = root.querySelector("[data-testid='canvas-pane']").getBoundingClientRect();
  for (let y = box.top + 60; y < box.bottom - 120; y += 24) {
    for (let x = box.left + 30; x < box.right - 200; x += 24) {
      const hit = root.elementsFromPoint(x, y)[0];
      if (hit && hit.classList.contains("react-flow__pane")) return [x, y];
    }
  }
  return [box.left + box.width / 2, box.top + box.height / 2];
}"""
CARDS = "root.querySelectorAll('.react-flow__node').length"
NO_PENDING = "!root.querySelector('.nc-pending')"
# Python's picture after relu_0 is deleted: add_0 (a merge op) has one wired input and one free port
ADD_0_HAS_ONE_INPUT = "root.querySelectorAll(\"[data-testid='node-add_0'] [data-handleid^='in-']\").length === 2"


def card(node_id: str) -> str:
    return f"root.querySelector(\"[data-testid='node-{node_id}']\")"


def edge(edge_id: str) -> str:
    return f"root.querySelector(\"[data-testid='rf__edge-{edge_id}']\")"


def inspector_shows(node_id: str) -> str:
    inputs = "[...doc.querySelectorAll('input')]"
    return f"{inputs}.some((i) => i.getAttribute('aria-label') === 'id' && i.value === '{node_id}')"


def measure(page, armed: str, frame: str, confirmed: str | None, gesture) -> tuple[float, float | None]:
    """(ms to the frame, ms to the confirmed picture) of one gesture."""
    page.evaluate("() => { window.__ncGesture = 0; }")
    watch = "([f, c]) => { window.__ncW = [window.__ncWhen(f), window.__ncWhen(c)]; }"
    page.evaluate(watch, [frame, confirmed or "false"])
    page.evaluate("(type) => { window.__ncArmed = type; }", armed)
    gesture()
    shown = page.evaluate("window.__ncW[0]")
    done = page.evaluate("window.__ncW[1]") if confirmed else None
    if shown is None or (confirmed and done is None):
        raise AssertionError(f"not seen within 30 s: {frame if shown is None else confirmed}")
    return shown, done


def zoom_to_input(page) -> None:
    """Zoom (the wheel, over the Input card, which stays where it is) until cards are drawn at about their size:
    the gestures need handles big enough to hit, whichever first view the checkout gives."""
    from tests.browser import canvas_driver as drive

    for _ in range(30):
        if drive.viewport(page)[2] >= 0.85:
            break
        page.mouse.move(*drive.centre(drive.node(page, "x")))
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(80)


def _gestures(page, settle, drive):
    """{name: (armed event, frame check, confirmed check, prepare, gesture)}; the caller undoes each."""
    empty = page.evaluate(EMPTY_SPOT_JS)  # a point of the pane with no card or wire under it

    def select(node_id, *keys):
        def prepare():
            drive.click_node(page, node_id)
            settle()
            drive.press(page, *keys) if keys else None

        return prepare

    def move():
        x0, y0 = drive.centre(drive.node(page, "fc_0").locator(".nc-card-id"))
        drive.mouse_drag(page, (x0, y0), (x0, y0 + 70), steps=6)

    nothing = lambda: None  # noqa: E731
    return {
        "add (palette -> pane)": (
            "drop", f"{CARDS} > N", f"{card('dropout')} && {NO_PENDING}", nothing,
            lambda: drive.drop_palette_item(page, "Dropout", *empty),
        ),
        "drop on edge": (
            "drop", f"{CARDS} > N", f"{card('dropout')} && {NO_PENDING}", nothing,
            lambda: drive.drop_palette_item_on_edge(page, "Dropout", "fc_0->relu_0:0"),
        ),
        "connect": (
            "pointerup", edge("x->relu_0:0"), f"{edge('x->relu_0:0')} && {NO_PENDING}", nothing,
            lambda: drive.connect(page, "x", "relu_0", 0),
        ),
        "delete": (
            "keydown", f"!{card('relu_0')}", f"{ADD_0_HAS_ONE_INPUT} && {NO_PENDING}", select("relu_0"),
            lambda: drive.press(page, "Delete"),
        ),
        "paste": (
            "keydown", f"{CARDS} > N", f"{card('fc_0_copy')} && {NO_PENDING}", select("fc_0", "Control+c"),
            lambda: drive.press(page, "Control+v"),
        ),
        "move": ("pointerup", "true", "root.querySelector(\"[data-waiting='0']\")", nothing, move),
    }  # fmt: skip


def run_gestures(page, repeats: int) -> dict[str, tuple[list[float], list[float]]]:
    from bench.bench_canvas import _quiet_reruns
    from tests.browser import canvas_driver as drive

    def settle():
        _quiet_reruns(page)

    has_queue = page.evaluate("() => !!window.__ncCanvasRoot().querySelector('[data-waiting]')")
    results: dict[str, tuple[list[float], list[float]]] = {}
    for name, (armed, frame, confirmed, prepare, gesture) in _gestures(page, settle, drive).items():
        frames, done = [], []
        for _ in range(repeats):
            settle()
            n = page.evaluate(f"() => {{ const root = window.__ncCanvasRoot(); return {CARDS}; }}")
            check = confirmed if (name != "move" or has_queue) else None
            try:
                prepare()
                shown, answered = measure(page, armed, frame.replace("N", str(n)), check, gesture)
            except Exception as err:  # noqa: BLE001 - told and counted; the table says how many were not seen
                print(f"  {name}: not measured ({str(err).splitlines()[0][:160]})", flush=True)
                page.screenshot(path=f"{tempfile.gettempdir()}/canvas_gestures_{name.split()[0]}.png")
                settle()
                if page.evaluate(f"() => {{ const root = window.__ncCanvasRoot(); return {CARDS}; }}") > n:
                    drive.press(page, "Escape", "Control+z")  # it added a card late: undone
                continue
            frames.append(shown)
            if answered is not None:
                done.append(answered)
            settle()
            if name != "move":
                drive.press(page, "Control+z")
        results[name] = (frames, done)
        print(f"  {name}: {len(frames)} of {repeats} measured", flush=True)
    results["click -> inspector"] = click_inspector(page, repeats, settle, drive)
    return results


def click_inspector(page, repeats, settle, drive) -> tuple[list[float], list[float]]:
    frames = []
    for k in range(repeats):
        settle()
        target = ("relu_0", "fc_0")[k % 2]
        try:
            drive.pan_to(page, target)  # earlier gestures may have left it off the view (a pan sends nothing)
            shown, _ = measure(
                page, "pointerup", inspector_shows(target), None, lambda t=target: drive.click_node(page, t)
            )
        except Exception as err:  # noqa: BLE001 - told and counted, as for the other gestures
            print(f"  click -> inspector: not measured ({str(err).splitlines()[0][:120]})", flush=True)
            continue
        frames.append(shown)
    print(f"  click -> inspector: {len(frames)} of {repeats} measured", flush=True)
    return frames, frames


@contextmanager
def served(root: pathlib.Path):
    """`streamlit run app.py` from `root` (this interpreter), on a free port; its URL."""
    from devtools.app_server import free_port, stop, streamlit_command, wait_healthy

    port = free_port()
    process = subprocess.Popen(streamlit_command(port), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield url
    finally:
        stop(process)


def bench_gestures(root: pathlib.Path, n_nodes: int, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    from bench.bench_canvas import PAGE_TIMING_JS
    from devtools.app_server import launch_chromium
    from tests.browser.build_page import open_file, settle, wait_for_canvas

    spec = json.loads(residual_mlp(n_nodes).to_json())
    for node in spec["nodes"]:  # positions only: an older checkout's loader knows no layout flag
        node["ui"] = {"x": node["ui"]["x"], "y": node["ui"]["y"]}
    spec_file = pathlib.Path(tempfile.mkdtemp()) / "big.json"
    spec_file.write_text(json.dumps(spec))
    with served(root) as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.set_default_timeout(60_000)
            page.add_init_script(PAGE_TIMING_JS + GESTURE_JS)
            page.goto(url)
            wait_for_canvas(page)
            open_file(page, spec_file)
            page.keyboard.press("Escape")
            settle(page)
            zoom_to_input(page)
            return run_gestures(page, repeats)
        finally:
            browser.close()
