// ELK's layered layout (elkjs, the worker-less build: no second file to serve), for any graph the component draws.
//
// layoutGraph(nodes, edges, options) -> Promise<{ positions, relative, sizes, routes, width, height }>
//   nodes: [{ id, width, height, inputs?, outputs?, parent?, padding?, minWidth?, minHeight? }] (px; a node with
//          children is a group: its size is chosen by ELK around them, at least minWidth x minHeight when given;
//          `parent` names the group a node sits in)
//   edges: [{ id, source, target, port? }] (`port`: the target's input port, 0 first)
//   options: { direction ("RIGHT"), nodeGap, layerGap, elk: {raw ELK options} }
//   positions: id -> {x, y} top-left in the whole drawing; relative: id -> {x, y} in its parent group (what React
//   Flow's sub-flows use); sizes: id -> {width, height} (groups get theirs from ELK); routes: edge id ->
//   [{x, y}, ...] from the source port through every bend to the target port (orthogonal).
// Ports keep their order and place: input k of n at (k + 1) / (n + 1) of the left side, outputs likewise on the
// right, where the cards draw their handles, so a routed edge meets the handle it belongs to.
import ELK from "elkjs/lib/elk.bundled.js";

let engine = null;
const elk = () => (engine ??= new ELK());

export const LAYOUT_DEFAULTS = { direction: "RIGHT", nodeGap: 40, layerGap: 90 };
// Above this many nodes, the cheaper settings: network-simplex placement (straightest main lines) and thorough
// crossing minimisation cost seconds on the main thread at 200+ nodes on a busy 2-core machine; Brandes-Koepf
// placement with less thoroughness takes a fraction of that.
export const LARGE_GRAPH = 120;

function rootOptions({ direction, nodeGap, layerGap, elk: extra }, size) {
  const large = size > LARGE_GRAPH;
  return {
    "elk.algorithm": "layered",
    "elk.direction": direction,
    "elk.edgeRouting": "ORTHOGONAL",
    "elk.hierarchyHandling": "INCLUDE_CHILDREN",
    "elk.json.shapeCoords": "ROOT",
    "elk.json.edgeCoords": "ROOT",
    "elk.spacing.nodeNode": String(nodeGap),
    "elk.layered.spacing.nodeNodeBetweenLayers": String(layerGap),
    "elk.spacing.edgeNode": "20",
    "elk.spacing.edgeEdge": "12",
    "elk.layered.spacing.edgeNodeBetweenLayers": "20",
    "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
    "elk.layered.nodePlacement.strategy": large ? "BRANDES_KOEPF" : "NETWORK_SIMPLEX",
    "elk.layered.crossingMinimization.forceNodeModelOrder": "false",
    "elk.layered.thoroughness": large ? "3" : "7",
    ...(extra || {}),
  };
}

function ports(node) {
  const list = [];
  const inputs = Math.max(0, node.inputs ?? 1);
  const outputs = Math.max(0, node.outputs ?? 1);
  for (let k = 0; k < inputs; k += 1) {
    const y = (node.height * (k + 1)) / (inputs + 1);
    list.push({ id: `${node.id}::in-${k}`, x: 0, y, width: 0, height: 0, layoutOptions: { "elk.port.side": "WEST", "elk.port.index": String(k) } });
  }
  for (let k = 0; k < outputs; k += 1) {
    const y = (node.height * (k + 1)) / (outputs + 1);
    list.push({ id: `${node.id}::out-${k}`, x: node.width, y, width: 0, height: 0, layoutOptions: { "elk.port.side": "EAST", "elk.port.index": String(k) } });
  }
  return list;
}

function elkNode(node, isGroup) {
  if (isGroup) {
    const pad = node.padding ?? { top: 34, left: 16, bottom: 16, right: 16 };
    const layoutOptions = { "elk.padding": `[top=${pad.top},left=${pad.left},bottom=${pad.bottom},right=${pad.right}]` };
    if (node.minWidth || node.minHeight) {
      layoutOptions["elk.nodeSize.constraints"] = "MINIMUM_SIZE";
      layoutOptions["elk.nodeSize.minimum"] = `(${node.minWidth ?? 0}, ${node.minHeight ?? 0})`;
    }
    return { id: node.id, children: [], layoutOptions };
  }
  return {
    id: node.id,
    width: node.width,
    height: node.height,
    ports: ports(node),
    layoutOptions: { "elk.portConstraints": "FIXED_POS" },
  };
}

// The ELK graph: groups hold their children, every edge at the root (INCLUDE_CHILDREN lays the levels out together).
function toElk(nodes, edges, options) {
  const known = new Map(nodes.map((n) => [n.id, n]));
  const groups = new Set(nodes.filter((n) => n.parent && known.has(n.parent)).map((n) => n.parent));
  const built = new Map(nodes.map((n) => [n.id, elkNode(n, groups.has(n.id))]));
  const root = { id: "__root__", layoutOptions: rootOptions(options, nodes.length), children: [], edges: [] };
  for (const node of nodes) {
    const parent = node.parent && built.get(node.parent);
    (parent && groups.has(node.parent) ? parent.children : root.children).push(built.get(node.id));
  }
  const portOf = (id, kind, k) => (groups.has(id) ? id : `${id}::${kind}-${k}`);
  for (const edge of edges) {
    if (!known.has(edge.source) || !known.has(edge.target) || edge.source === edge.target) continue;
    const inputs = known.get(edge.target).inputs ?? 1;
    const port = Math.min(Math.max(0, edge.port ?? 0), Math.max(0, inputs - 1));
    root.edges.push({ id: edge.id, sources: [portOf(edge.source, "out", 0)], targets: [portOf(edge.target, "in", port)] });
  }
  return { root, built, groups };
}

function route(edge) {
  const points = [];
  for (const section of edge.sections || []) {
    if (points.length === 0) points.push(section.startPoint);
    points.push(...(section.bendPoints || []), section.endPoint);
  }
  return points.map((p) => ({ x: p.x, y: p.y }));
}

function collect(elkGraph, nodes) {
  const positions = {};
  const sizes = {};
  const walk = (children) => {
    for (const child of children || []) {
      positions[child.id] = { x: child.x, y: child.y };
      sizes[child.id] = { width: child.width, height: child.height };
      walk(child.children);
    }
  };
  walk(elkGraph.children);
  const relative = {};
  for (const node of nodes) {
    const at = positions[node.id];
    const parent = node.parent && positions[node.parent];
    if (at) relative[node.id] = parent ? { x: at.x - parent.x, y: at.y - parent.y } : { ...at };
  }
  const routes = Object.fromEntries((elkGraph.edges || []).map((edge) => [edge.id, route(edge)]));
  return { positions, relative, sizes, routes, width: elkGraph.width, height: elkGraph.height };
}

export async function layoutGraph(nodes, edges, options = {}) {
  const settings = { ...LAYOUT_DEFAULTS, ...options };
  const { root } = toElk(nodes, edges, settings);
  const laid = await elk().layout(root);
  return collect(laid, nodes);
}
