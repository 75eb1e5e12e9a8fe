// The payload's nodes and edges as React Flow's nodes and edges.

export const CARD_TYPE = "card";
export const SHAPE_EDGE = "shape";

// A node whose card, position and selection are unchanged keeps its previous object, so React Flow keeps its
// measured size (no new layout) and the memoised card does not render again: after an edit of a big graph only
// the cards that changed are touched.
export function toFlowNodes(data, previous = []) {
  const selected = new Set(data.selected || []);
  const readOnly = !!data.read_only;
  const before = new Map(previous.map((node) => [node.id, node]));
  return (data.nodes || []).map((node) => {
    const x = node.x ?? 0;
    const y = node.y ?? 0;
    const isSelected = selected.has(node.id);
    const old = before.get(node.id);
    const unchanged =
      old &&
      old.selected === isSelected &&
      old.draggable === !readOnly &&
      old.position.x === x &&
      old.position.y === y &&
      sameCard(old.data, node);
    if (unchanged) return old;
    return {
      id: node.id,
      type: CARD_TYPE,
      position: { x, y },
      data: node, // the payload's card: op, colour, params, shape, count, problem, ports, fill, badge
      selected: isSelected,
      draggable: !readOnly,
      connectable: !readOnly,
      deletable: false, // deletion goes through Python
    };
  });
}

function sameCard(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// An edge whose endpoints, port, label and selection are unchanged keeps its previous object too, so only the
// edges that changed are drawn again.
export function toFlowEdges(data, previous = []) {
  const before = new Map(previous.map((edge) => [edge.id, edge]));
  return (data.edges || []).map((edge) => {
    const port = edge.port ?? 0;
    const label = edge.label || undefined;
    const old = before.get(edge.id);
    const same = old && old.source === edge.source && old.target === edge.target && old.data.port === port;
    if (same && old.label === label) return old;
    return {
      id: edge.id,
      source: edge.source,
      target: edge.target,
      sourceHandle: "out-0",
      targetHandle: `in-${port}`,
      type: SHAPE_EDGE,
      label,
      selected: old ? old.selected : false,
      deletable: false,
      data: { port, route: same ? old.data.route : undefined }, // ELK's route (layout.js), drawn while it holds
    };
  });
}

export function selectionKey(ids) {
  return [...ids].sort().join("\n");
}

export function selectedIds(items) {
  return items.filter((item) => item.selected).map((item) => item.id);
}
