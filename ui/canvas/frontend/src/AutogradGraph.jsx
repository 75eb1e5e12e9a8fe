// The Train page's autograd graph of one step, read-only (payload mode "autograd", built by
// ui/train/autograd_picture.py): one group per user node holding its operations and parameters, or one card for a
// collapsed node, laid out by ELK (autogradLayout.js), each card tinted by its gradient norm. Nothing can be moved,
// connected or deleted. A click on a card shows its statistics in the strip under the graph (no rerun); a click on a
// collapsed node also asks Python to show its operations ({kind: "expand", node}), a group's "Collapse" button asks
// for the opposite ({kind: "collapse", node}). Those are the only events it sends.
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { BaseEdge, Background, Controls, Handle, MarkerType, Position, ReactFlow, useReactFlow } from "@xyflow/react";
import { canvasMeasure, layoutAutograd } from "./autogradLayout.js";
import "./autograd.css";

const MIN_ZOOM = 0.91; // first view: no text (11 px at the least) drawn below 10 px; a wider graph opens at its input
const MARGIN = 16; // px kept free around the graph in the first view
const EDGE_OPTIONS = { markerEnd: { type: MarkerType.ArrowClosed, width: 14, height: 14 } };

function Ports() {
  return (
    <>
      <Handle type="target" position={Position.Left} isConnectable={false} className="ag-port" />
      <Handle type="source" position={Position.Right} isConnectable={false} className="ag-port" />
    </>
  );
}

// The node's op after its id, unless it says the same ("loss").
function OpName({ group }) {
  return group.op && group.op !== group.id ? <span className="ag-op-name">{group.op}</span> : null;
}

const fillStyle = (fill) => (fill ? { background: fill } : undefined);

function OpCardView({ data }) {
  const { op, picked } = data;
  const classes = `ag-card ag-op${op.param ? " ag-param" : ""}${op.fill ? "" : " ag-unlit"}${picked ? " ag-picked" : ""}`;
  return (
    <div className={classes} style={fillStyle(op.fill)} title={op.stats.join("\n")} data-testid={`ag-op-${op.id}`} data-group={op.group}>
      <Ports />
      <div className="ag-label">{op.label}</div>
      <div className="ag-meta">{op.meta}</div>
    </div>
  );
}

function NodeCardView({ data }) {
  const { group, picked } = data;
  const classes = `ag-card ag-node${group.fill ? "" : " ag-unlit"}${picked ? " ag-picked" : ""}`;
  return (
    <div className={classes} style={fillStyle(group.fill)} title="Click to show its operations" data-testid={`ag-node-${group.id}`}>
      <Ports />
      <div className="ag-label ag-title">
        {group.id}
        <OpName group={group} />
      </div>
      <div className="ag-meta">{group.meta}</div>
    </div>
  );
}

function GroupView({ data }) {
  const { group, picked, send } = data;
  const collapse = (event) => {
    event.stopPropagation();
    send("collapse", { node: group.id });
  };
  return (
    <div className={`ag-group${picked ? " ag-picked" : ""}`} data-testid={`ag-group-${group.id}`}>
      <Ports />
      <div className="ag-group-head" style={fillStyle(group.fill)}>
        <span className="ag-label ag-title">
          {group.id}
          <OpName group={group} />
        </span>
        <span className="ag-meta">{group.meta}</span>
        <button className="ag-collapse nodrag" title="Show this node as one card" onClick={collapse}>
          −
        </button>
      </div>
    </div>
  );
}

function RouteEdgeView({ id, sourceX, sourceY, targetX, targetY, markerEnd, data }) {
  const points = data.points && data.points.length >= 2 ? data.points : [{ x: sourceX, y: sourceY }, { x: targetX, y: targetY }];
  const path = points.map((p, k) => `${k ? "L" : "M"}${p.x},${p.y}`).join(" ");
  return <BaseEdge id={id} path={path} markerEnd={markerEnd} className="ag-edge" interactionWidth={0} />;
}

const NODE_TYPES = { agOp: memo(OpCardView), agNode: memo(NodeCardView), agGroup: memo(GroupView) };
const EDGE_TYPES = { agRoute: memo(RouteEdgeView) };

function boxed(node, box) {
  const size = { width: box.width, height: box.height };
  return { ...node, position: { x: box.x, y: box.y }, ...size, style: size, draggable: false, connectable: false };
}

// React Flow's nodes (groups before their operations) and edges from the payload and its layout.
function flowGraph(data, laid, picked, send) {
  const nodes = [];
  for (const group of data.groups || []) {
    const id = `g:${group.id}`;
    const box = laid.boxes.get(id);
    if (!box) continue;
    const type = group.expanded ? "agGroup" : "agNode";
    nodes.push(boxed({ id, type, data: { group, picked: picked === id, send }, zIndex: group.expanded ? 0 : 1 }, box));
  }
  for (const op of data.ops || []) {
    const id = `o:${op.id}`;
    const box = laid.boxes.get(id);
    if (!box) continue;
    nodes.push(boxed({ id, type: "agOp", parentId: box.parent, data: { op, picked: picked === id }, zIndex: 1 }, box));
  }
  const edges = (data.edges || []).map((edge) => ({
    id: edge.id,
    source: edge.source,
    target: edge.target,
    type: "agRoute",
    zIndex: 2,
    data: { points: laid.routes.get(edge.id) || [], shape: edge.shape },
  }));
  return { nodes, edges };
}

function useLayout(data) {
  const [laid, setLaid] = useState(null);
  const measure = useMemo(() => canvasMeasure(), []);
  const key = data.layout_key;
  const dataRef = useRef(data);
  dataRef.current = data;
  useEffect(() => {
    let live = true;
    const started = performance.now();
    layoutAutograd(dataRef.current, measure).then(
      (result) => live && setLaid({ key, ms: Math.round(performance.now() - started), ...result }),
      (error) => live && setLaid({ key, error: String(error && error.message ? error.message : error) }),
    );
    return () => {
      live = false;
    };
  }, [key, measure]);
  return laid && laid.key === key ? laid : null;
}

// The first view of a layout: fitted when that keeps labels legible, otherwise at MIN_ZOOM from the graph's input
// (its left end), centred vertically when it fits in height. The person's pan and zoom are theirs afterwards.
function useFirstView(laid, paneRef) {
  const flow = useReactFlow();
  const [shown, setShown] = useState(null);
  useEffect(() => {
    if (!laid || laid.error || shown === laid.key || !paneRef.current) return undefined;
    const frame = requestAnimationFrame(() => {
      const { width, height } = paneRef.current.getBoundingClientRect();
      const fit = Math.min((width - 2 * MARGIN) / laid.width, (height - 2 * MARGIN) / laid.height, 1.2);
      const zoom = Math.max(fit, MIN_ZOOM);
      const y = Math.max(MARGIN, (height - laid.height * zoom) / 2);
      const x = fit >= MIN_ZOOM ? (width - laid.width * zoom) / 2 : MARGIN;
      flow.setViewport({ x, y, zoom });
      setShown(laid.key);
    });
    return () => cancelAnimationFrame(frame);
  }, [laid, shown, flow, paneRef]);
  return laid !== null && shown === laid.key;
}

function Legend({ legend }) {
  if (!legend) return null;
  const gradient = `linear-gradient(90deg, ${(legend.stops || []).join(", ")})`;
  return (
    <div className="ag-legend" data-testid="autograd-legend">
      <span>
        {legend.what}: {legend.low}
      </span>
      <span className="ag-scale" style={{ background: gradient }} />
      <span>
        {legend.high} ({legend.note})
      </span>
    </div>
  );
}

function Details({ lines }) {
  return (
    <div className="ag-details" data-testid="autograd-details">
      {lines ? (
        lines.map((line, k) => (
          <div key={k} className={k === 0 ? "ag-details-head" : undefined}>
            {line}
          </div>
        ))
      ) : (
        <div className="ag-hint">Click an operation or a node to see its statistics here.</div>
      )}
    </div>
  );
}

function statsOf(data, picked) {
  if (!picked) return null;
  const [kind, id] = [picked.slice(0, 2), picked.slice(2)];
  const found = kind === "o:" ? (data.ops || []).find((op) => op.id === id) : (data.groups || []).find((g) => g.id === id);
  return found ? found.stats : null;
}

export function AutogradGraph({ data, send, theme }) {
  const laid = useLayout(data);
  const paneRef = useRef(null);
  const [picked, setPicked] = useState(null);
  const viewed = useFirstView(laid, paneRef);
  const { nodes, edges } = useMemo(
    () => (laid && !laid.error ? flowGraph(data, laid, picked, send) : { nodes: [], edges: [] }),
    [data, laid, picked, send],
  );
  const onNodeClick = useCallback(
    (_event, node) => {
      setPicked(node.id);
      if (node.type === "agNode") send("expand", { node: node.data.group.id });
    },
    [send],
  );
  const count = (data.groups || []).length + (data.ops || []).length;
  return (
    <div className="ag-root" data-testid="autograd-graph">
      <div className="ag-pane" ref={paneRef} data-layout={viewed ? "done" : "running"} data-layout-ms={laid ? laid.ms : ""}>
        <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={NODE_TYPES}
          edgeTypes={EDGE_TYPES}
          defaultEdgeOptions={EDGE_OPTIONS}
          onNodeClick={onNodeClick}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable={false}
          edgesFocusable={false}
          nodesFocusable={false}
          deleteKeyCode={null}
          selectionKeyCode={null}
          multiSelectionKeyCode={null}
          disableKeyboardA11y
          minZoom={0.05}
          maxZoom={2}
          colorMode={theme}
          attributionPosition="bottom-left"
        >
          <Background gap={20} size={1} />
          <Controls position="top-right" orientation="horizontal" showInteractive={false} />
        </ReactFlow>
        {laid ? null : <div className="ag-waiting">Laying out {count} cards…</div>}
        {laid && laid.error ? <div className="ag-waiting">The layout of {count} cards failed: {laid.error}</div> : null}
      </div>
      <div className="ag-strip">
        <div className="ag-caption">{data.title}</div>
        <Legend legend={data.legend} />
        <Details lines={statsOf(data, picked)} />
      </div>
    </div>
  );
}
