// Optimistic gestures, as pure functions. A picture is the payload's {nodes, edges, selected}; a gesture is the
// event sent to Python ({client, seq, kind, ...}). What the canvas draws is the last payload (confirmed) with the
// gestures Python has not answered yet (pending) applied in order: a new card shows its op and "…" for its shape,
// a deleted card is gone, a new edge is drawn. Python's answer (the payload's `acked`, `refused`, `id_map`)
// removes gestures from the queue; a refused one is dropped with its notice, so the picture rolls back.

export const PENDING_SHAPE = "…";
const PENDING_TIP = "Not confirmed by Python yet";
const BLOCK_COLOUR = "#607d8b";

export const tempId = (seq, k = null) => (k == null ? `tmp~${seq}` : `tmp~${seq}~${k}`); // never a Python id

// The payload's picture: its cards, wires and selection (and read_only, which toFlowNodes reads).
export function pictureOf(data) {
  return { nodes: data.nodes || [], edges: data.edges || [], selected: data.selected || [], read_only: !!data.read_only };
}

export const edgeId = (source, target, port) => `${source}->${target}:${port}`;

// [source, target, rest] of an edge id `source->target:port[#k]`, or null.
export function splitEdgeId(id) {
  const match = /^(.*)->(.*)(:\d+(?:#\d+)?)$/.exec(String(id));
  return match ? [match[1], match[2], match[3]] : null;
}

// {op: {colour, inputs, labels}} from the payload's palette (the look of a card before Python describes it).
export function paletteLooks(palette) {
  const looks = {};
  for (const group of palette || []) {
    for (const op of group.ops || []) {
      const merge = group.group === "merge";
      looks[op.name] = { colour: group.colour, inputs: op.name === "Input" ? 0 : 1, labels: merge ? ["1"] : null };
    }
  }
  return looks;
}

function pendingNode(id, op, x, y, look) {
  return {
    id, op, colour: look.colour || BLOCK_COLOUR, params: "", shape: PENDING_SHAPE, count: "", problem: null,
    tooltip: PENDING_TIP, inputs: look.inputs ?? 1, port_labels: look.labels ?? null, outputs: 1, block: false,
    x, y, fill: null, badge: null, pending: true,
  }; // prettier-ignore
}

function pendingEdge(source, target, port) {
  return { id: edgeId(source, target, port), source, target, port, label: PENDING_SHAPE, pending: true };
}

const isMergeCard = (node) => Array.isArray(node?.port_labels);
const numbered = (count) => Array.from({ length: count }, (_, k) => String(k + 1));

function add(picture, event, ctx) {
  const [dx, dy] = ctx.dropOffset;
  const look = ctx.looks[event.op] || {};
  const node = pendingNode(event.temp, event.op, Math.round(event.x - dx), Math.round(event.y - dy), look);
  let edges = picture.edges;
  if (event.on_edge) {
    const old = edges.find((edge) => edge.id === event.on_edge);
    if (!old || event.op === "Input") return picture; // Python refuses it: nothing to draw
    const into = [pendingEdge(old.source, event.temp, 0), pendingEdge(event.temp, old.target, old.port ?? 0)];
    edges = edges.flatMap((edge) => (edge.id === event.on_edge ? into : [edge]));
  }
  return { nodes: [...picture.nodes, node], edges, selected: [event.temp] };
}

// A merge card: inserted at `port` (later inputs move down one). Any other card: the new input replaces its one.
function connect(picture, event) {
  const { source, target } = event;
  const node = picture.nodes.find((n) => n.id === target);
  if (!node || source === target || !picture.nodes.some((n) => n.id === source)) return picture;
  if (!isMergeCard(node)) {
    const edges = picture.edges.filter((edge) => edge.target !== target);
    return { ...picture, edges: [...edges, pendingEdge(source, target, 0)] };
  }
  const wired = picture.edges.filter((edge) => edge.target === target).length;
  const k = event.port == null ? wired : Math.max(0, Math.min(event.port, wired));
  const edges = picture.edges.map((edge) => {
    if (edge.target !== target || (edge.port ?? 0) < k) return edge;
    const port = (edge.port ?? 0) + 1;
    return { ...edge, id: edgeId(edge.source, target, port), port };
  });
  const nodes = picture.nodes.map((n) => (n.id === target ? { ...n, inputs: wired + 2, port_labels: numbered(wired + 2) } : n));
  return { ...picture, nodes, edges: [...edges, pendingEdge(source, target, k)] };
}

function remove(picture, event) {
  const gone = new Set(event.nodes || []);
  const cut = new Set(event.edges || []);
  return {
    nodes: picture.nodes.filter((n) => !gone.has(n.id)),
    edges: picture.edges.filter((e) => !cut.has(e.id) && !gone.has(e.source) && !gone.has(e.target)),
    selected: picture.selected.filter((id) => !gone.has(id)),
  };
}

function move(picture, event) {
  const to = event.positions || {};
  const nodes = picture.nodes.map((n) => (to[n.id] ? { ...n, x: to[n.id][0], y: to[n.id][1] } : n));
  return { ...picture, nodes };
}

function paste(picture, event) {
  const temps = event.temps || {};
  const copies = picture.nodes
    .filter((n) => temps[n.id])
    .map((n) => ({ ...n, id: temps[n.id], x: n.x + event.dx, y: n.y + event.dy, shape: PENDING_SHAPE, pending: true }));
  const edges = picture.edges
    .filter((e) => temps[e.source] && temps[e.target])
    .map((e) => pendingEdge(temps[e.source], temps[e.target], e.port ?? 0));
  return { nodes: [...picture.nodes, ...copies], edges: [...picture.edges, ...edges], selected: copies.map((n) => n.id) };
}

// The selection becomes one block card at its centre; wires from outside come into its ports (one per producer),
// wires going out leave from it.
function group(picture, event) {
  const members = new Set((event.nodes || []).filter((id) => picture.nodes.some((n) => n.id === id)));
  if (members.size < 2) return picture;
  const inside = picture.nodes.filter((n) => members.has(n.id));
  const x = inside.reduce((sum, n) => sum + n.x, 0) / inside.length;
  const y = inside.reduce((sum, n) => sum + n.y, 0) / inside.length;
  const producers = [];
  const edges = [];
  for (const edge of picture.edges) {
    const fromIn = members.has(edge.source);
    const toIn = members.has(edge.target);
    if (fromIn && toIn) continue;
    if (toIn) {
      if (!producers.includes(edge.source)) producers.push(edge.source);
      edges.push(pendingEdge(edge.source, event.temp, producers.indexOf(edge.source)));
    } else if (fromIn) edges.push(pendingEdge(event.temp, edge.target, edge.port ?? 0));
    else edges.push(edge);
  }
  const look = { colour: BLOCK_COLOUR, inputs: Math.max(1, producers.length), labels: null };
  const card = pendingNode(event.temp, "Block", Math.round(x), Math.round(y), look);
  const unique = [...new Map(edges.map((edge) => [edge.id, edge])).values()];
  return { nodes: [...picture.nodes.filter((n) => !members.has(n.id)), card], edges: unique, selected: [event.temp] };
}

const APPLY = {
  add,
  connect,
  delete: remove,
  move_end: move,
  select: (picture, event) => ({ ...picture, selected: event.nodes || [] }),
  paste,
  group,
};

// The picture with one gesture applied (kinds that change nothing locally: the picture as it was).
export function applyGesture(picture, event, ctx) {
  const apply = APPLY[event.kind];
  const next = apply ? apply(picture, event, ctx) : picture;
  return next === picture ? picture : { ...picture, ...next }; // what a gesture does not touch is kept
}

export function applyAll(picture, events, ctx) {
  return events.reduce((shown, event) => applyGesture(shown, event, ctx), picture);
}

const key = (client, seq) => `${client}|${seq}`;

function renameEdge(id, ids) {
  const parts = splitEdgeId(id);
  if (!parts) return id;
  const [source, target, rest] = parts;
  return `${ids[source] ?? source}->${ids[target] ?? target}${rest}`;
}

// The event with the temporary ids Python has answered replaced by Python's ids (a gesture queued behind an add
// may name the new card).
export function renameIds(event, ids) {
  if (!ids || !Object.keys(ids).length) return event;
  const one = (id) => ids[id] ?? id;
  const out = { ...event };
  for (const field of ["source", "target", "node"]) if (typeof out[field] === "string") out[field] = one(out[field]);
  for (const field of ["nodes", "path"]) if (Array.isArray(out[field])) out[field] = out[field].map(one);
  if (Array.isArray(out.edges)) out.edges = out.edges.map((id) => renameEdge(id, ids));
  if (typeof out.on_edge === "string") out.on_edge = renameEdge(out.on_edge, ids);
  for (const field of ["positions", "temps"]) {
    if (out[field] && typeof out[field] === "object") {
      out[field] = Object.fromEntries(Object.entries(out[field]).map(([id, value]) => [one(id), value]));
    }
  }
  return out;
}

// The queue ({event, sentAt}[]) after a payload: answered gestures leave it, the rest get Python's ids.
// Returns {queue, notices (of the refused gestures that were waiting), changed}.
export function reconcile(queue, data) {
  const acked = new Set((data.acked || []).map(([client, seq]) => key(client, seq)));
  const refused = new Map((data.refused || []).map((r) => [key(r.client, r.seq), r.notice]));
  const notices = [];
  const kept = [];
  for (const entry of queue) {
    const k = key(entry.event.client, entry.event.seq);
    if (refused.has(k)) notices.push(refused.get(k));
    else if (!acked.has(k)) kept.push(entry);
  }
  const changed = kept.length !== queue.length;
  const ids = data.id_map || {};
  const renamed = changed ? kept.map((entry) => ({ ...entry, event: renameIds(entry.event, ids) })) : kept;
  return { queue: renamed, notices, changed };
}

// Whether a path of edges leads from `start` to `goal` (a connection goal -> start would close a cycle).
export function feeds(edges, start, goal) {
  const after = new Map();
  for (const edge of edges) {
    if (!after.has(edge.source)) after.set(edge.source, []);
    after.get(edge.source).push(edge.target);
  }
  const seen = new Set([start]);
  const todo = [start];
  while (todo.length) {
    for (const next of after.get(todo.pop()) || []) {
      if (next === goal) return true;
      if (!seen.has(next)) {
        seen.add(next);
        todo.push(next);
      }
    }
  }
  return start === goal;
}

// Python's words for the same refusal (builder/editor/canvas_edit.py, connect).
export function cycleNotice(source, target) {
  return `Not connected: '${source}' -> '${target}' would close a cycle: '${target}' already feeds '${source}'`;
}

const PENDING_NODE_STYLE = { opacity: 0.6 };
const PENDING_EDGE_STYLE = { strokeDasharray: "5 4" };

// React Flow's nodes or edges with the unconfirmed ones marked (class nc-pending, faded or dashed); a card being
// dragged keeps its object from `previous` (a picture drawn mid-drag does not pull it back).
export function markPending(items, previous = null) {
  const dragging = previous ? new Map(previous.filter((n) => n.dragging).map((n) => [n.id, n])) : null;
  return items.map((item) => {
    if (dragging && dragging.has(item.id)) return dragging.get(item.id);
    const pending = item.data?.pending || item.label === PENDING_SHAPE;
    if (!pending || item.className === "nc-pending") return item;
    const style = item.source ? PENDING_EDGE_STYLE : PENDING_NODE_STYLE;
    return { ...item, className: "nc-pending", style };
  });
}
