// The payload's nodes and edges as React Flow's nodes and edges.

export const CARD_TYPE = "card";
export const SHAPE_EDGE = "shape";

export function toFlowNodes(data) {
  const selected = new Set(data.selected || []);
  const readOnly = !!data.read_only;
  return (data.nodes || []).map((node) => ({
    id: node.id,
    type: CARD_TYPE,
    position: { x: node.x ?? 0, y: node.y ?? 0 },
    data: node, // the payload's card: op, colour, params, shape, count, problem, ports, fill, badge
    selected: selected.has(node.id),
    draggable: !readOnly,
    connectable: !readOnly,
    deletable: false, // deletion goes through Python
  }));
}

export function toFlowEdges(data, previous = []) {
  const wasSelected = new Set(previous.filter((edge) => edge.selected).map((edge) => edge.id));
  return (data.edges || []).map((edge) => ({
    id: edge.id,
    source: edge.source,
    target: edge.target,
    sourceHandle: "out-0",
    targetHandle: `in-${edge.port ?? 0}`,
    type: SHAPE_EDGE,
    label: edge.label || undefined,
    selected: wasSelected.has(edge.id),
    deletable: false,
    data: { port: edge.port ?? 0 },
  }));
}

export function selectionKey(ids) {
  return [...ids].sort().join("\n");
}

export function selectedIds(items) {
  return items.filter((item) => item.selected).map((item) => item.id);
}
