"""Speed of the Build page's canvas (our component, ui/canvas) on big graphs: issue 12's three measures.

    python -m bench.bench_canvas                 # AppTest server times, then the browser measures
    python -m bench.bench_canvas --server-only   # AppTest only
    python -m bench.bench_canvas --gestures [--root CHECKOUT]   # issue 21: gesture -> frame / confirmed, in the page

1. Server time of a structural edit on a 200-node graph (AppTest, the component's real trigger): each of add
   onto an edge, connect, delete, and a parameter edit in the inspector, --edits times each.
2. In a real `streamlit run` driven by the system Chromium (?debug=1 shows the server time of each run):
   - reruns caused by gestures that change nothing in the graph: panning (drag on the pane), zooming (wheel),
     dragging a node before it is dropped (the drop itself is a move: the canvas's run, then the page's); a
     rerun is a message from the browser to the server, counted on the page's WebSocket;
   - a structural edit on the 200-node graph, from the gesture to the new picture in the browser: a layer
     dropped onto an edge until its card shows its shape, then Delete until the card is gone and the next
     card shows it has no input ("?"); with the server time of each rerun. The times are taken in the page:
     from the `drop` or `keydown` event to the DOM change (a MutationObserver), then the next frame. (Polling
     with Playwright's `expect` added up to 500 ms of its own and ran queries on the page's main thread.)
   - first render of a 500-node graph: from choosing the file to every card drawn, and after a reload.
Goals (issue 12): no rerun for (a); server <= 100 ms and visible <= 400 ms for (b); first render <= 2 s.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile

from bench.big_graph import WIDTH, residual_mlp

ROOT = pathlib.Path(__file__).resolve().parents[1]
EDGE = "fc_30->relu_30:0"  # an edge in the middle of the 200-node graph
# Installed in the page before Streamlit loads: counts the browser's messages to the server (each gesture that
# reaches Python is one), notes when the last drop and key press happened, and `__ncSeen(check)` resolves with
# the ms from that gesture to the first frame after the canvas's DOM (inside its shadow root) satisfies `check`.
PAGE_TIMING_JS = r"""
window.__ncSends = 0;
window.__ncGesture = 0;
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  send(data) { window.__ncSends += 1; return super.send(data); }
};
for (const type of ["drop", "keydown"]) {
  document.addEventListener(type, () => { window.__ncGesture = performance.now(); }, true);
}
window.__ncCanvasRoot = () => {
  for (const el of document.querySelectorAll("*")) {
    if (el.shadowRoot && el.shadowRoot.querySelector("[data-testid='flow-canvas']")) return el.shadowRoot;
  }
  return document;
};
window.__ncSeen = (check) => new Promise((resolve) => {
  const root = window.__ncCanvasRoot();
  const holds = new Function("root", `return (${check});`);
  const seen = () => requestAnimationFrame(() => resolve(performance.now() - window.__ncGesture));
  const observer = new MutationObserver(() => { if (holds(root)) { observer.disconnect(); seen(); } });
  observer.observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
  setTimeout(() => { observer.disconnect(); resolve(null); }, 20000);
});
// performance.now() of the first frame with at least n cards drawn (polled once a frame); after a reload, for the
// count kept in sessionStorage (the page's clock starts with the navigation).
window.__ncCards = (n) => new Promise((resolve) => {
  const poll = () => {
    const root = window.__ncCanvasRoot();
    if (root.querySelectorAll("[data-testid^='node-']").length >= n) resolve(performance.now());
    else requestAnimationFrame(poll);
  };
  poll();
});
const expectedCards = Number(sessionStorage.getItem("ncCards") || 0);
if (expectedCards) window.__ncCardsDrawn = window.__ncCards(expectedCards);
"""


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):.0f} ms · p95 {p95:.0f} ms · max {ordered[-1]:.0f} ms (n={len(values)})"


def bench_server(n_nodes: int, edits: int) -> dict[str, list[float]]:
    from streamlit.testing.v1 import AppTest

    from builder.editor.session import EditorSession
    from tests.apptest_canvas import send_event

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["build_editor"] = EditorSession(spec=residual_mlp(n_nodes))
    at.run()
    at.run()  # warm: first-run imports are not what a user waits for on an edit
    times: dict[str, list[float]] = {"add onto an edge": [], "connect": [], "delete": [], "parameter edit": []}

    def last_ms() -> float:
        return at.session_state["run_times_ms"][-1]

    for k in range(edits):
        send_event(at, "add", op="Dropout", x=0.0, y=-300.0, on_edge=EDGE)
        times["add onto an edge"].append(last_ms())
        send_event(at, "delete", nodes=[], edges=["fc_30->dropout:0"])
        send_event(at, "connect", source="fc_30", target="dropout", port=None)
        times["connect"].append(last_ms())
        send_event(at, "delete", nodes=["dropout"], edges=[])
        times["delete"].append(last_ms())
        send_event(at, "undo")  # dropout back, wired
        send_event(at, "select", nodes=["fc_31"])
        next(w for w in at.number_input if w.label == "out_features *").set_value(WIDTH + 1 + k % 2).run()
        times["parameter edit"].append(last_ms())
        send_event(at, "delete", nodes=["dropout"], edges=[])
        send_event(at, "connect", source="fc_30", target="relu_30", port=None)
        assert not at.exception, at.exception
    return times


def _server_times(page) -> tuple[int, list[float]]:
    """(runs so far, server ms of the last ones) from the page's debug caption."""
    text = page.get_by_text("reruns:").inner_text()
    count, times = text.removeprefix("reruns: ").split(" · server ms: ")
    return int(count), [float(t) for t in times.split(", ")]


def _quiet_reruns(page, quiet_ms: int = 1200) -> int:
    """The browser's messages to the server so far, once none came for `quiet_ms`."""
    last = page.evaluate("window.__ncSends")
    while True:
        page.wait_for_timeout(quiet_ms)
        now = page.evaluate("window.__ncSends")
        if now == last:
            return now
        last = now


def _card(node_id: str) -> str:
    return f"root.querySelector(\"[data-testid='node-{node_id}']\")"


def _watch(page, check: str) -> None:
    page.evaluate(f"() => {{ window.__ncWatch = window.__ncSeen({check!r}); }}")


def _seen_ms(page) -> float:
    ms = page.evaluate("window.__ncWatch")
    if ms is None:
        raise AssertionError("the canvas did not show the expected picture within 20 s")
    return ms


def no_change_gestures(page) -> dict[str, int]:
    """Reruns caused by dragging a card (before and at the drop), panning and zooming, in that order (the drag
    first, while the fitted view still shows the card)."""
    from tests.browser import canvas_driver as drive

    counts = {}
    before = _quiet_reruns(page)
    start = drive.centre(drive.node(page, "fc_30").locator(".nc-card-id"))
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 30, start[1] + 40, steps=15)
    counts["drag before the drop"] = _quiet_reruns(page) - before
    page.mouse.up()
    counts["the drop (a move)"] = _quiet_reruns(page) - before - counts["drag before the drop"]
    before = _quiet_reruns(page)
    pane = page.locator(drive.PANE).bounding_box()
    empty = (pane["x"] + pane["width"] - 40, pane["y"] + 60)  # the pane's top-right corner: no card there
    drive.mouse_drag(page, empty, (empty[0] - 200, empty[1] + 120), steps=20)
    counts["pan"] = _quiet_reruns(page) - before
    before = _quiet_reruns(page)
    page.mouse.move(*empty)
    for _ in range(6):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(60)
    counts["zoom"] = _quiet_reruns(page) - before
    return counts


def structural_edits(page, edits: int) -> tuple[list[float], list[float], list[float]]:
    from playwright.sync_api import expect

    from tests.browser import canvas_driver as drive
    from tests.browser.build_page import edge_label

    added, deleted, server = [], [], []
    shape_shown = f"({_card('dropout')}?.textContent || '').includes('[{WIDTH}]')"
    unfed = (
        f"!{_card('dropout')} && ({_card('relu_30')}?.querySelector('.nc-card-meta')?.textContent || '').includes('?')"
    )
    for _ in range(edits):
        _quiet_reruns(page)
        before = _server_times(page)[0]
        _watch(page, shape_shown)
        drive.drop_palette_item_on_edge(page, "Dropout", EDGE)
        added.append(_seen_ms(page))
        _quiet_reruns(page)
        count, times = _server_times(page)
        server += times[-(count - before) :] if count > before else []
        before = count
        _watch(page, unfed)
        drive.press(page, "Delete")  # the new card is selected
        deleted.append(_seen_ms(page))
        _quiet_reruns(page)
        count, times = _server_times(page)
        server += times[-(count - before) :] if count > before else []
        drive.press(page, "Control+z", "Control+z")  # the delete, then the add: the edge is back as it was
        expect(edge_label(page, "fc_30", "relu_30")).to_have_text(f"[{WIDTH}]", timeout=20_000)
    return added, deleted, server


def first_render(page, n_nodes: int) -> tuple[float, float]:
    """ms from choosing the file to the first frame with every card drawn, then from a reload's start to that."""
    spec = residual_mlp(n_nodes)
    path = pathlib.Path(tempfile.mkdtemp()) / "big.json"
    path.write_text(spec.to_json())
    page.get_by_role("button", name="Open a saved network").click()
    chosen = page.evaluate("performance.now()")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    opened = page.evaluate(f"window.__ncCards({len(spec.nodes)})") - chosen
    page.keyboard.press("Escape")
    _quiet_reruns(page)
    page.evaluate(f"sessionStorage.setItem('ncCards', '{len(spec.nodes)}')")
    page.reload()
    page.wait_for_function("window.__ncCardsDrawn !== undefined")
    reloaded = page.evaluate("window.__ncCardsDrawn")
    page.evaluate("sessionStorage.removeItem('ncCards')")
    return opened, reloaded


def bench_browser(n_nodes: int, edits: int) -> None:
    from devtools.app_server import app_page
    from tests.browser.build_page import open_file, settle, wait_for_canvas

    spec_file = pathlib.Path(tempfile.mkdtemp()) / "big.json"
    spec_file.write_text(residual_mlp(n_nodes).to_json())
    with app_page({"width": 1500, "height": 1000}, timeout_ms=60_000) as (app, page):
        page.add_init_script(PAGE_TIMING_JS)
        page.goto(f"{app.url}/?debug=1")
        wait_for_canvas(page)
        open_file(page, spec_file)
        page.keyboard.press("Escape")
        settle(page)
        added, deleted, server = structural_edits(page, edits)  # at the fitted view, before any pan or zoom
        size = len(residual_mlp(n_nodes).nodes)
        print(f"browser, {size} nodes, drop onto an edge -> card with its shape: {_stats(added)}")
        print(f"browser, Delete -> card gone and the next card's shape '?': {_stats(deleted)}")
        print(f"browser, server time of those reruns: {_stats(server)}")
        counts = no_change_gestures(page)
        print("browser, reruns asked for (messages to the server): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        opened, reloaded = first_render(page, 500)
        print(f"browser, 500 nodes: file chosen -> every card drawn {opened:.0f} ms; reload -> {reloaded:.0f} ms")


def print_gestures(root: pathlib.Path, n_nodes: int, repeats: int) -> None:
    from bench.canvas_gestures import bench_gestures

    print(f"gestures on {len(residual_mlp(n_nodes).nodes)} nodes, app served from {root}")
    for name, (frames, confirmed) in bench_gestures(root, n_nodes, repeats).items():
        shown = _stats(confirmed) if confirmed else "not seen (nothing in the page tells)"
        print(f"{name}: gesture -> frame {_stats(frames) if frames else 'none measured'}; gesture -> confirmed {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--server-only", action="store_true")
    parser.add_argument("--gestures", action="store_true", help="gesture -> frame / confirmed (bench/canvas_gestures)")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT, help="with --gestures: the checkout to serve")
    parser.add_argument("--repeats", type=int, default=10, help="with --gestures: times each gesture is made")
    args = parser.parse_args()
    if args.gestures:
        print_gestures(args.root, args.nodes, args.repeats)
        return
    print(f"graph: {len(residual_mlp(args.nodes).nodes)} nodes ({residual_mlp(args.nodes).name})")
    for what, times in bench_server(args.nodes, args.edits).items():
        print(f"server, AppTest, rerun after {what}: {_stats(times)}")
    if not args.server_only:
        bench_browser(args.nodes, args.edits)


if __name__ == "__main__":
    main()
