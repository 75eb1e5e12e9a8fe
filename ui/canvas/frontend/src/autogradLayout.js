// The autograd graph's layout, by layout.js's layoutGraph (ELK's layered algorithm over compound nodes): each user
// node is either one card (collapsed) or a group holding its operations and parameters (expanded); edges between
// operations of different groups are laid out across the hierarchy, so no two groups overlap and edges are routed
// orthogonally around the cards. Sizes come from the text each card shows, measured in the card's own fonts, so
// no label is cut. `measure(text, font)` is given (a canvas in the browser, an estimate in a script).
import { layoutGraph } from "./layout.js";

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

const GAPS = { nodeGap: 16, layerGap: 32 }; // tighter than the editor's: small cards, many of them

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

// A node's title: its id and its op (AutogradGraph's OpName leaves out an op equal to the id).
export function titleText(group) {
  return group.op && group.op !== group.id ? `${group.id}  ${group.op}` : group.id;
}

export function cardLines(group) {
  return [
    [titleText(group), FONTS.title],
    [group.meta, FONTS.meta],
  ];
}

// layout.js's nodes for the payload: a collapsed node is one card; an expanded one a group at least as wide as
// its title strip, holding one card per operation.
export function layoutNodes(data, measure) {
  const nodes = [];
  const expanded = new Set();
  for (const group of data.groups || []) {
    const id = `g:${group.id}`;
    if (!group.expanded) {
      nodes.push({ id, width: Math.max(90, cardWidth(cardLines(group), measure)), height: CARD_HEIGHT });
      continue;
    }
    expanded.add(group.id);
    const title = measure(titleText(group), FONTS.title) + measure(group.meta, FONTS.meta) + 70; // + gaps, button
    const padding = { top: HEADER + GROUP_PAD, left: GROUP_PAD, bottom: GROUP_PAD, right: GROUP_PAD };
    nodes.push({ id, width: 0, height: 0, padding, minWidth: Math.ceil(title), minHeight: HEADER + 2 * GROUP_PAD });
  }
  for (const op of data.ops || []) {
    if (!expanded.has(op.group)) continue;
    const width = Math.max(64, cardWidth(opLines(op), measure));
    nodes.push({ id: `o:${op.id}`, width, height: OP_HEIGHT, parent: `g:${op.group}` });
  }
  return nodes;
}

// {boxes: id -> {x, y (in its group, if any), width, height, parent}, routes: edge id -> [{x, y}] in the whole
// drawing, width, height}.
export async function layoutAutograd(data, measure) {
  const nodes = layoutNodes(data, measure);
  const edges = (data.edges || []).map((edge) => ({ id: edge.id, source: edge.source, target: edge.target }));
  const laid = await layoutGraph(nodes, edges, GAPS);
  const boxes = new Map();
  for (const node of nodes) {
    const at = laid.relative[node.id];
    const size = laid.sizes[node.id];
    if (at && size) boxes.set(node.id, { ...at, ...size, parent: node.parent || null });
  }
  return { boxes, routes: new Map(Object.entries(laid.routes)), width: laid.width, height: laid.height };
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
