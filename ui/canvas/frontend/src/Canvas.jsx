// The canvas: React Flow over the payload's nodes and edges. Python is the source of truth: local nodes and
// edges are replaced only when `rev` changes or a gesture is drawn or answered (useGestures.js: the payload with
// the gestures Python has not answered yet applied, optimistically); what the person does locally (select,
// drag, pan, zoom) stays here and only gestures that change the graph or the selection become one event each.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import {
  applyEdgeChanges,
  applyNodeChanges,
  Background,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  useNodesInitialized,
  useReactFlow,
} from "@xyflow/react";
import { edgeUnderPoint, edgeElementUnderPoint, makeDropHighlight } from "./edgeHit.js";
import { CARD_TYPE, SHAPE_EDGE, selectedIds, selectionKey, toFlowEdges, toFlowNodes } from "./flowData.js";
import { handleCanvasKey } from "./keys.js";
import { CanvasActions, NodeCard } from "./NodeCard.jsx";
import { Breadcrumb, MakeBlock, Note } from "./Overlays.jsx";
import { DRAG_MIME, Palette } from "./Palette.jsx";
import { ShapeEdge } from "./ShapeEdge.jsx";
import { cycleNotice, feeds, markPending } from "./pending.js";
import { useGestures } from "./useGestures.js";
import { useCanvasLayout } from "./useCanvasLayout.js";
import { legibleFit, useCompactCards } from "./legibleView.js";
import { CanvasNotice } from "./CanvasNotice.jsx";

const NODE_TYPES = { [CARD_TYPE]: NodeCard };
const EDGE_TYPES = { [SHAPE_EDGE]: ShapeEdge };
// Room kept free at the edges by a fit: the zoom controls sit top-right and the minimap bottom-right, so a fitted
// graph never lies under them; never above 1.2 (one node is not shown huge).
export const FIT_OPTIONS = { padding: { top: "64px", right: "48px", bottom: "140px", left: "48px" }, maxZoom: 1.2 };
// Read-only (the Train page): no minimap, so only the controls' strip is kept free.
const READ_ONLY_FIT = { padding: { top: "52px", right: "20px", bottom: "20px", left: "20px" }, maxZoom: 1.2 };
const fitOptions = (readOnly) => (readOnly ? READ_ONLY_FIT : FIT_OPTIONS);
const EDGE_OPTIONS = { markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 } };
const MULTI_SELECT_KEYS = ["Shift", "Meta", "Control"];

const round = (value) => Math.round(value * 10) / 10;

function hitTestRoot(hitRoot) {
  return hitRoot && typeof hitRoot.elementsFromPoint === "function" ? hitRoot : document;
}

// Local nodes and edges, reset from the picture (the payload with the pending gestures applied) when its key
// changes: a new `rev`, a gesture drawn or answered (during the render that brings it, so React Flow renders the
// new graph once, not the old one and then the new); fitted when the payload's `fit` counter changes.
function usePayloadGraph(data, gestures, flow, readOnly) {
  const [nodes, setNodes] = useState(() => markPending(toFlowNodes(gestures.picture())));
  const [edges, setEdges] = useState(() => markPending(toFlowEdges(gestures.picture())));
  const [key, setKey] = useState(gestures.pictureKey);
  const shown = useRef({ fit: data.fit, selection: selectionKey(data.selected || []) });
  if (gestures.pictureKey !== key) {
    const picture = gestures.picture();
    setKey(gestures.pictureKey);
    setNodes((previous) => markPending(toFlowNodes(picture, previous), previous));
    setEdges((previous) => markPending(toFlowEdges(picture, previous)));
    shown.current.selection = selectionKey(picture.selected);
  }
  // the payload's `fit` counter: the first view, once laid out (useCanvasLayout.js)
  return { nodes, setNodes, edges, setEdges, shown };
}

// Fit again when the pane changes size (a column laid out after the first fit, a window resized) until the person
// pans or zooms: a first fit made at the wrong size would otherwise leave the graph tiny in a corner.
function useFitUntilMoved(paneRef, flow, readOnly) {
  const moved = useRef(false);
  useEffect(() => {
    const pane = paneRef.current;
    if (!pane || typeof ResizeObserver === "undefined") return undefined;
    let last = "";
    const observer = new ResizeObserver(([entry]) => {
      const { width, height } = entry.contentRect;
      const size = `${Math.round(width)}x${Math.round(height)}`;
      if (size === last || width < 50 || height < 50) return;
      last = size;
      if (!moved.current) legibleFit(flow, pane, fitOptions(readOnly)); // legibleView.js
    });
    observer.observe(pane);
    return () => observer.disconnect();
  }, [paneRef, flow, readOnly]);
  return useCallback((event) => {
    if (event) moved.current = true; // a pan or zoom by the person (a programmatic fit has no event)
  }, []);
}

// One `select` event per change of the selected node set, held back while a box selection is being drawn.
function useSelectionReport(nodes, shown, send) {
  const boxSelecting = useRef(false);
  const [boxDone, setBoxDone] = useState(0);
  useEffect(() => {
    if (boxSelecting.current) return;
    const ids = selectedIds(nodes);
    const key = selectionKey(ids);
    if (key === shown.current.selection) return;
    shown.current.selection = key;
    send("select", { nodes: ids });
  }, [nodes, boxDone, shown, send]);
  const onSelectionStart = useCallback(() => {
    boxSelecting.current = true;
  }, []);
  const onSelectionEnd = useCallback(() => {
    boxSelecting.current = false;
    setBoxDone((n) => n + 1);
  }, []);
  return { onSelectionStart, onSelectionEnd };
}

// Once a payload with a new `refresh` counter is on screen (the frame after it was drawn), ask Python for a rerun
// of the whole page: the canvas is a fragment that reruns alone after a gesture, so the page's other elements
// (inspector, problems, summary) follow it instead of delaying it. Returns whether that ask is still to come (the
// pane's data-refresh, for tests and tools waiting until the page has answered everything).
function usePageRefresh(refresh, send) {
  const asked = useRef(refresh);
  const pending = refresh != null && refresh !== asked.current;
  useEffect(() => {
    if (refresh == null || refresh === asked.current) return undefined;
    let timer;
    const frame = requestAnimationFrame(() => {
      timer = setTimeout(() => {
        asked.current = refresh;
        send("refresh", { n: refresh });
      }, 0);
    });
    return () => {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, [refresh, send]);
  return pending;
}

// The time from the bundle's first call to the first frame with every node measured, on the root as
// data-first-render-ms (read by the demo's speed check).
function useFirstRenderTime(startedAt, rootRef) {
  const initialized = useNodesInitialized();
  const done = useRef(false);
  useEffect(() => {
    if (!initialized || done.current) return;
    done.current = true;
    requestAnimationFrame(() => {
      if (rootRef.current) rootRef.current.dataset.firstRenderMs = String(Math.round(performance.now() - startedAt));
    });
  }, [initialized, startedAt, rootRef]);
}

function usePaletteDrop(flow, send, hitRoot, paneRef, readOnly) {
  const highlight = useMemo(makeDropHighlight, []);
  const onDragOver = useCallback(
    (event) => {
      if (readOnly || !event.dataTransfer.types.includes(DRAG_MIME)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      highlight.show(edgeElementUnderPoint(hitTestRoot(hitRoot), event.clientX, event.clientY));
    },
    [readOnly, hitRoot, highlight],
  );
  const onDragLeave = useCallback(() => highlight.clear(), [highlight]);
  const onDrop = useCallback(
    (event) => {
      highlight.clear();
      const op = event.dataTransfer.getData(DRAG_MIME);
      if (readOnly || !op) return;
      event.preventDefault();
      const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      const onEdge = edgeUnderPoint(hitTestRoot(hitRoot), event.clientX, event.clientY);
      send("add", { op, x: round(at.x), y: round(at.y), on_edge: onEdge });
    },
    [flow, send, hitRoot, readOnly, highlight],
  );
  const addAtCentre = useCallback(
    (op) => {
      const box = paneRef.current.getBoundingClientRect(); // [screen px]
      const at = flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 });
      send("add", { op, x: round(at.x), y: round(at.y), on_edge: null });
    },
    [flow, send, paneRef],
  );
  return { onDragOver, onDragLeave, onDrop, addAtCentre };
}

// A connection that would close a cycle is refused before it is drawn (React Flow draws the line as invalid and
// makes no edge); when it is dropped there, the notice names both nodes, in Python's words.
function useConnectionCheck(edgesRef, setNotice) {
  const closesCycle = useCallback(
    (source, target) => source === target || feeds(edgesRef.current, target, source),
    [edgesRef],
  );
  const isValid = useCallback((c) => !closesCycle(c.source, c.target), [closesCycle]);
  const onConnectEnd = useCallback(
    (_event, state) => {
      if (!state || !state.fromNode || !state.toNode || state.isValid !== false) return;
      const forward = state.fromHandle?.type !== "target";
      const source = forward ? state.fromNode.id : state.toNode.id;
      const target = forward ? state.toNode.id : state.fromNode.id;
      if (source !== target && closesCycle(source, target)) setNotice(cycleNotice(source, target));
    },
    [closesCycle, setNotice],
  );
  return { isValid, onConnectEnd };
}

export function Canvas({ data, send: sendNow, hitRoot, startedAt, theme }) {
  const readOnly = !!data.read_only;
  const flow = useReactFlow();
  const paneRef = useRef(null);
  const gestures = useGestures(data, sendNow);
  const send = gestures.send; // drawn at once, sent in its turn
  const { nodes, setNodes, edges, setEdges, shown } = usePayloadGraph(data, gestures, flow, readOnly);
  const onMoveStart = useFitUntilMoved(paneRef, flow, readOnly);
  const selection = useSelectionReport(nodes, shown, send);
  const drop = usePaletteDrop(flow, send, hitRoot, paneRef, readOnly);
  useFirstRenderTime(startedAt, paneRef);
  const refreshPending = usePageRefresh(data.refresh, send);
  // ELK layout when the payload asks, no overlapping cards, the legible first view; compact cards when zoomed out
  useCanvasLayout({ data, nodes, flow, setNodes, setEdges, send, readOnly, paneRef, fitOptions: fitOptions(readOnly) });
  useCompactCards(paneRef);

  const nodesRef = useRef(nodes);
  const edgesRef = useRef(edges);
  nodesRef.current = nodes;
  edgesRef.current = edges;
  const clipboard = useRef({ ids: [], pastes: 0 });

  const onNodesChange = useCallback(
    (changes) => setNodes((current) => applyNodeChanges(changes.filter((c) => c.type !== "remove"), current)),
    [setNodes],
  );
  const onEdgesChange = useCallback(
    (changes) => setEdges((current) => applyEdgeChanges(changes.filter((c) => c.type !== "remove"), current)),
    [setEdges],
  );
  const onConnect = useCallback(
    ({ source, target, targetHandle }) => {
      const port = Number(String(targetHandle || "in-0").slice(3)); // "in-2" -> 2
      const ports = flow.getNode(target)?.data?.inputs ?? 1;
      send("connect", { source, target, port: ports > 1 ? port : null });
    },
    [flow, send],
  );
  const connection = useConnectionCheck(edgesRef, gestures.setNotice);
  const onNodeDragStop = useCallback(
    (_event, _node, dragged) => {
      const positions = Object.fromEntries(dragged.map((n) => [n.id, [round(n.position.x), round(n.position.y)]]));
      send("move_end", { positions });
    },
    [send],
  );
  const selectAll = useCallback(() => setNodes((current) => current.map((n) => ({ ...n, selected: true }))), [setNodes]);
  const onKey = useCallback(
    (event) => handleCanvasKey(event, { readOnly, send, nodesRef, edgesRef, selectAll, clipboard }),
    [readOnly, send, selectAll],
  );
  const focusPane = useCallback((event) => {
    if (event.target.closest && event.target.closest("input, textarea, button")) return;
    paneRef.current?.focus({ preventScroll: true });
  }, []);

  const actions = useMemo(() => ({ send, readOnly }), [send, readOnly]);
  const paletteText = JSON.stringify(data.palette || []);
  const paletteGroups = useMemo(() => JSON.parse(paletteText), [paletteText]); // same object while unchanged
  const selected = useMemo(() => selectedIds(nodes), [nodes]);
  const minimapColour = useCallback((node) => node.data.fill || node.data.colour || "#888", []);

  return (
    <CanvasActions.Provider value={actions}>
      <div className="nc-layout">
        {readOnly ? null : <Palette groups={paletteGroups} onAdd={drop.addAtCentre} />}
        <div
          className="nc-pane"
          ref={paneRef}
          tabIndex={0}
          data-testid="canvas-pane"
          data-waiting={gestures.waiting}
          data-refresh={refreshPending ? 1 : 0}
          onKeyDown={onKey}
          onKeyUp={onKey}
          onKeyPress={onKey}
          onPointerDownCapture={focusPane}
          onDragOver={drop.onDragOver}
          onDragLeave={drop.onDragLeave}
          onDrop={drop.onDrop}
        >
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={NODE_TYPES}
            edgeTypes={EDGE_TYPES}
            defaultEdgeOptions={EDGE_OPTIONS}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            isValidConnection={connection.isValid}
            onConnectEnd={connection.onConnectEnd}
            onNodeDragStop={onNodeDragStop}
            onSelectionStart={selection.onSelectionStart}
            onSelectionEnd={selection.onSelectionEnd}
            onMoveStart={onMoveStart}
            fitViewOptions={fitOptions(readOnly)}
            minZoom={0.1}
            maxZoom={2}
            deleteKeyCode={null}
            selectionKeyCode="Shift"
            multiSelectionKeyCode={MULTI_SELECT_KEYS}
            selectNodesOnDrag={false}
            nodesDraggable={!readOnly}
            nodesConnectable={!readOnly}
            elementsSelectable
            disableKeyboardA11y
            connectionRadius={28}
            colorMode={theme}
            attributionPosition="bottom-left"
          >
            <Background gap={20} size={1} />
            <Controls position="top-right" orientation="horizontal" showInteractive={false} fitViewOptions={fitOptions(readOnly)} />
            {readOnly ? null : (
              <MiniMap position="bottom-right" pannable zoomable nodeColor={minimapColour} style={{ width: 160, height: 100 }} />
            )}
          </ReactFlow>
          <Breadcrumb crumbs={data.breadcrumb} send={send} />
          <Note text={data.note} />
          <CanvasNotice text={gestures.notice} onClose={() => gestures.setNotice(null)} />
          {!readOnly && data.can_group && selected.length >= 2 ? <MakeBlock ids={selected} send={send} /> : null}
        </div>
      </div>
    </CanvasActions.Provider>
  );
}
