// The autograd graph's layout: ELK's layered algorithm over compound nodes. Each user node is either one card
// (collapsed) or a group holding its operations and parameters (expanded); edges between operations of different
// groups are laid out across the hierarchy (INCLUDE_CHILDREN), so no two groups overlap and edges are routed
// orthogonally around the cards. Sizes come from the text each card shows, measured in the card's own fonts, so
// no label is cut. Pure: `measure(text, font)` is given (a canvas in the browser, an estimate in tests).
import ELK from "elkjs/lib/elk.bundled.js";

export const FONTS = {
  title: "700 13px 'Source Sans Pro', 'Segoe UI', system-ui, sans-serif",
  label: "600 12px 'Source Sans Pro', 'Segoe UI', system-ui, sans-serif",
  meta: "11px ui-monospace, Menlo, monospace",
};
export const CARD_PAD_X = 12; // px left and right inside a card (canvas.css: .ag-card padding + border)
export const OP_HEIGHT = 40; // an operation: its name and one line "shape · norm"
export const CARD_HEIGHT = 56; // a collapsed node: id, op and one line "N operations · norm"
export const HEADER = 30; // an expanded group's title strip, above its operations
const GROUP_PAD = 12;
const SLACK = 6; // px added to every measured width (font fallback, rounding)

const ROOT_OPTIONS = {
  "elk.algorithm": "layered",
  "elk.direction": "RIGHT",
  "elk.hierarchyHandling": "INCLUDE_CHILDREN",
  "elk.edgeRouting": "ORTHOGONAL",
  "elk.layered.spacing.nodeNodeBetweenLayers": "36",
  "elk.spacing.nodeNode": "18",
  "elk.spacing.edgeNode": "12",
  "elk.spacing.edgeEdge": "8",
  "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
  "elk.json.edgeCoords": "ROOT",
  "elk.json.shapeCoords": "PARENT",
};

export function cardWidth(lines, measure) {
  const widest = Math.max(...lines.map(([text, font]) => measure(text, font)));
  return Math.ceil(widest + 2 * CARD_PAD_X + SLACK);
}

export function opLines(op) {
  return [
    [op.label, FONTS.label],
    [op.meta, FONTS.meta],
  ];
}

export function cardLines(group) {
  return [
    [`${group.id}  ${group.op}`, FONTS.title],
    [group.meta, FONTS.meta],
  ];
}

function groupNode(group, ops, measure) {
  const id = `g:${group.id}`;
  if (!group.expanded) {
    return { id, width: Math.max(90, cardWidth(cardLines(group), measure)), height: CARD_HEIGHT };
  }
  const title = measure(`${group.id}  ${group.op}`, FONTS.title) + measure(group.meta, FONTS.meta) + 70; // + button
  return {
    id,
    layoutOptions: {
      "elk.padding": `[top=${HEADER + GROUP_PAD},left=${GROUP_PAD},bottom=${GROUP_PAD},right=${GROUP_PAD}]`,
      "elk.nodeSize.constraints": "MINIMUM_SIZE",
      "elk.nodeSize.minimum": `(${Math.ceil(title)}, ${HEADER + 2 * GROUP_PAD})`,
    },
    children: ops.map((op) => ({
      id: `o:${op.id}`,
      width: Math.max(64, cardWidth(opLines(op), measure)),
      height: OP_HEIGHT,
    })),
  };
}

// The ELK graph of the payload: one child per group (with its operations when expanded), every edge at the root.
export function elkGraph(data, measure) {
  const opsOf = new Map();
  for (const op of data.ops || []) {
    if (!opsOf.has(op.group)) opsOf.set(op.group, []);
    opsOf.get(op.group).push(op);
  }
  return {
    id: "root",
    layoutOptions: ROOT_OPTIONS,
    children: (data.groups || []).map((group) => groupNode(group, opsOf.get(group.id) || [], measure)),
    edges: (data.edges || []).map((edge) => ({ id: edge.id, sources: [edge.source], targets: [edge.target] })),
  };
}

function edgePoints(edge) {
  const points = [];
  for (const section of edge.sections || []) {
    points.push(section.startPoint, ...(section.bendPoints || []), section.endPoint);
  }
  return points;
}

// {boxes: id -> {x, y, width, height, parent}, routes: edge id -> [{x, y}] in root coordinates}.
export function readLayout(laid) {
  const boxes = new Map();
  for (const child of laid.children || []) {
    boxes.set(child.id, { x: child.x, y: child.y, width: child.width, height: child.height, parent: null });
    for (const inner of child.children || []) {
      boxes.set(inner.id, { x: inner.x, y: inner.y, width: inner.width, height: inner.height, parent: child.id });
    }
  }
  const routes = new Map();
  const collect = (node) => {
    for (const edge of node.edges || []) routes.set(edge.id, edgePoints(edge));
    for (const child of node.children || []) collect(child);
  };
  collect(laid);
  return { boxes, routes, width: laid.width, height: laid.height };
}

let elk = null;

export async function layoutAutograd(data, measure) {
  elk = elk || new ELK();
  return readLayout(await elk.layout(elkGraph(data, measure)));
}

// Text width in a font, measured on a canvas once per (font, text).
export function canvasMeasure() {
  const context = document.createElement("canvas").getContext("2d");
  const cache = new Map();
  return (text, font) => {
    const key = `${font}|${text}`;
    if (!cache.has(key)) {
      context.font = font;
      cache.set(key, context.measureText(String(text ?? "")).width);
    }
    return cache.get(key);
  };
}
