// After each picture from Python (a new `rev`), once every card is measured: lay out what the payload asks for
// (`layout`: "all" -> the whole graph by ELK, with its routed edges; [ids] -> those cards by ELK, room made after
// the card feeding them), then move apart any cards that overlap (the cards that are new or moved since the last
// picture first). The positions picked go back to Python as ONE move_end event marked `layout` (read-only: kept
// here). Then the first view, when the payload's `fit` counter asks for one (legibleView.js).
import { useCallback, useEffect, useLayoutEffect, useRef } from "react";
import { useNodesInitialized } from "@xyflow/react";
import { firstView, paneSize } from "./legibleView.js";
import { layoutGraph } from "./layout.js";
import { clearOverlaps, moveBoxes, overlappingPairs, placeFlagged } from "./placement.js";

const round = (value) => Math.round(value);

function measuredCards(flow, data) {
  const cards = [];
  for (const node of data.nodes || []) {
    const internal = flow.getInternalNode(node.id);
    const size = internal?.measured;
    if (!size?.width || !size?.height) return null; // not drawn yet: wait for the next measure
    const at = internal.position || internal.internals?.positionAbsolute;
    cards.push({ id: node.id, op: node.op, inputs: node.inputs ?? 1, outputs: node.outputs ?? 1, x: at.x, y: at.y, width: size.width, height: size.height });
  }
  return cards;
}

function edgeList(data) {
  return (data.edges || []).map((e) => ({ id: e.id, source: e.source, target: e.target, port: e.port ?? 0 }));
}

// {positions (id -> {x, y} for the cards that move), routes (edge id -> points) or null}
async function place(data, cards, previous) {
  const edges = edgeList(data);
  let boxes = new Map(cards.map((c) => [c.id, { x: c.x, y: c.y, width: c.width, height: c.height }]));
  let positions = {};
  let routes = null;
  if (data.layout === "all") {
    const laid = await layoutGraph(cards, edges);
    positions = Object.fromEntries(cards.map((c) => [c.id, laid.positions[c.id]]));
    routes = laid.routes;
  } else if (Array.isArray(data.layout) && data.layout.length) {
    positions = await placeFlagged(boxes, cards, edges, data.layout);
  }
  for (const at of Object.values(positions)) Object.assign(at, { x: round(at.x), y: round(at.y) });
  boxes = moveBoxes(boxes, positions);
  const fresh = cards.filter((c) => {
    const before = previous.get(c.id);
    return !before || before.x !== c.x || before.y !== c.y;
  });
  const flagged = Array.isArray(data.layout) ? data.layout : [];
  const cleared = clearOverlaps(boxes, [...flagged, ...fresh.map((c) => c.id)]);
  for (const [id, at] of Object.entries(cleared)) positions[id] = { x: round(at.x), y: round(at.y) };
  return { positions, routes, boxes: moveBoxes(boxes, positions) };
}

function withRoutes(edges, routes, boxes) {
  return edges.map((edge) => {
    const points = routes[edge.id];
    const source = boxes.get(edge.source);
    const target = boxes.get(edge.target);
    if (!points || !source || !target) return edge;
    const route = { points, at: [source.x, source.y, target.x, target.y] };
    return { ...edge, data: { ...edge.data, route } };
  });
}

function sendMoves(send, readOnly, positions, ids) {
  if (readOnly || ids.length === 0) return;
  send("move_end", { positions: Object.fromEntries(ids.map((id) => [id, [positions[id].x, positions[id].y]])), layout: true });
}

// The graph stays hidden until its first layout and view are on screen (at most PLACING_MS), so it does not
// jump from where Python put it to where ELK puts it.
const PLACING_MS = 4000;

// The pane's data-layout says whether a layout is running or done (for tests and tools waiting on the picture).
function markLayout(paneRef, stage) {
  if (paneRef.current) paneRef.current.dataset.layout = stage;
}

function usePlacing(paneRef) {
  const placing = useRef(true);
  useLayoutEffect(() => {
    const pane = paneRef.current;
    pane?.classList.add("nc-placing");
    const timer = setTimeout(() => pane?.classList.remove("nc-placing"), PLACING_MS);
    return () => clearTimeout(timer);
  }, [paneRef]);
  return useCallback(() => {
    placing.current = false;
    paneRef.current?.classList.remove("nc-placing");
  }, [paneRef]);
}

// A card dropped, pasted or moved onto others (no new layout asked for): moved clear of them, one move_end.
function useNoOverlap({ rev, nodes, state, previous, setNodes, send, readOnly }) {
  useEffect(() => {
    // not while a card is dragged, a gesture awaits Python's answer (its cards have temporary ids) or a card is unmeasured
    if (state.busy || state.rev !== rev || nodes.some((n) => n.dragging || n.data?.pending || !n.measured?.width)) return;
    const boxes = new Map(nodes.map((n) => [n.id, { x: n.position.x, y: n.position.y, width: n.measured.width, height: n.measured.height }]));
    if (overlappingPairs(boxes).length === 0) return;
    const movers = nodes.filter((n) => {
      const before = previous.current.get(n.id);
      return !before || before.x !== n.position.x || before.y !== n.position.y;
    });
    const cleared = clearOverlaps(boxes, movers.map((n) => n.id));
    const positions = Object.fromEntries(Object.entries(cleared).map(([id, at]) => [id, { x: round(at.x), y: round(at.y) }]));
    const ids = Object.keys(positions);
    if (!ids.length) return;
    setNodes((current) => current.map((n) => (positions[n.id] ? { ...n, position: { ...positions[n.id] } } : n)));
    sendMoves(send, readOnly, positions, ids);
  }, [rev, nodes, state, previous, setNodes, send, readOnly]);
}

export function useCanvasLayout({ data, nodes, flow, setNodes, setEdges, send, readOnly, paneRef, fitOptions }) {
  const initialized = useNodesInitialized();
  const done = useRef({ rev: null, fit: undefined, running: 0, busy: true });
  const previous = useRef(new Map());
  const placed = usePlacing(paneRef);
  useNoOverlap({ rev: data.rev, nodes, state: done.current, previous, setNodes, send, readOnly });
  // "running" from the commit that brings a new picture, before React Flow has measured its cards (the layout
  // below waits for that): a test or tool reading data-layout never sees the last picture's "done" meanwhile.
  useLayoutEffect(() => {
    if (done.current.rev !== data.rev) markLayout(paneRef, "running");
  }, [data.rev, paneRef]);
  useEffect(() => {
    const state = done.current;
    if (state.rev === data.rev && state.fit === data.fit) return;
    const cards = measuredCards(flow, data);
    if (!cards) return; // the effect runs again when React Flow has measured the new cards
    const wantsFit = state.fit !== data.fit;
    const sameRev = state.rev === data.rev;
    state.rev = data.rev;
    state.fit = data.fit;
    state.running += 1;
    state.busy = true;
    markLayout(paneRef, "running");
    const run = state.running;
    const work = sameRev ? Promise.resolve({ positions: {}, routes: null, boxes: null }) : place(data, cards, previous.current);
    work.then(({ positions, routes, boxes }) => {
      if (run !== state.running) return; // a newer picture came meanwhile
      const moved = Object.keys(positions).filter((id) => {
        const card = cards.find((c) => c.id === id);
        return card && (card.x !== positions[id].x || card.y !== positions[id].y);
      });
      state.busy = false;
      markLayout(paneRef, "done");
      if (moved.length) {
        setNodes((current) => current.map((n) => (positions[n.id] ? { ...n, position: { ...positions[n.id] } } : n)));
        sendMoves(send, readOnly, positions, moved);
      }
      if (routes) setEdges((current) => withRoutes(current, routes, boxes));
      const placedCards = cards.map((c) => ({ ...c, ...(positions[c.id] || {}) }));
      previous.current = new Map(placedCards.map((c) => [c.id, { x: c.x, y: c.y }]));
      if (wantsFit) {
        const view = firstView(placedCards, paneSize(paneRef.current), fitOptions);
        if (view) flow.setViewport(view);
      }
      placed();
    }).catch((error) => {
      console.error("NetCanvas layout", error); // the picture stays where Python placed it
      state.busy = false;
      markLayout(paneRef, "done");
      placed();
    });
  }, [data, flow, initialized, setNodes, setEdges, send, readOnly, paneRef, fitOptions, placed]);
}
