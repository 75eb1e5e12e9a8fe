// Where cards go after a gesture, without React: the whole graph or the flagged nodes laid out by ELK
// (layout.js), room made for them, and no two cards overlapping. Boxes are {x, y, width, height} in flow px.
import { LAYOUT_DEFAULTS, layoutGraph } from "./layout.js";

export const CARD_GAP = 24; // px kept free between two cards that had to be moved apart

export function overlap(a, b, gap = 0) {
  return a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;
}

// Every pair of overlapping cards, as [id, id] (the test's and the hook's check). Sorted by x, so each card is
// compared only with the cards that start before its right side: about n log n for a laid-out graph.
export function overlappingPairs(boxes, gap = 0) {
  const list = [...boxes.entries()].sort((a, b) => a[1].x - b[1].x);
  const pairs = [];
  for (let i = 0; i < list.length; i += 1) {
    const [idA, a] = list[i];
    for (let j = i + 1; j < list.length && list[j][1].x < a.x + a.width + gap; j += 1) {
      if (overlap(a, list[j][1], gap)) pairs.push([idA, list[j][0]]);
    }
  }
  return pairs;
}

// Moves cards down until none overlaps another: the `movers` first (in their order), then the later card of any
// pair still overlapping. Each card moved goes just below the card it lands on, again until it lands on none.
// Returns id -> {x, y} for the cards moved.
export function clearOverlaps(boxes, movers = [], gap = CARD_GAP) {
  const order = [...new Set(movers.filter((id) => boxes.has(id)))];
  const chosen = new Set(order);
  for (const [a, b] of overlappingPairs(boxes)) {
    if (chosen.has(a) || chosen.has(b)) continue;
    const later = [...boxes.keys()].indexOf(a) > [...boxes.keys()].indexOf(b) ? a : b;
    chosen.add(later);
    order.push(later);
  }
  if (order.length === 0) return {};
  const settled = [...boxes.entries()].filter(([id]) => !chosen.has(id)).map(([, box]) => box);
  const moved = {};
  for (const id of order) {
    const box = { ...boxes.get(id) };
    for (let tries = 0; tries < settled.length + 1; tries += 1) {
      const hit = settled.find((other) => overlap(box, other, gap - 1));
      if (!hit) break;
      box.y = hit.y + hit.height + gap;
    }
    settled.push(box);
    if (box.y !== boxes.get(id).y) moved[id] = { x: box.x, y: box.y };
  }
  return moved;
}

function downstreamOf(ids, edges) {
  const after = new Map();
  for (const e of edges) after.set(e.source, [...(after.get(e.source) || []), e.target]);
  const seen = new Set(ids);
  const todo = [...ids];
  const found = new Set();
  while (todo.length) {
    for (const next of after.get(todo.pop()) || []) {
      if (seen.has(next)) continue;
      seen.add(next);
      found.add(next);
      todo.push(next);
    }
  }
  return found;
}

// The flagged cards laid out by ELK among themselves and put after the card that feeds them (or where Python
// put them, when nothing feeds them); the cards downstream shifted right to make room. id -> {x, y}.
export async function placeFlagged(boxes, cards, edges, ids, options = {}) {
  const flagged = ids.filter((id) => boxes.has(id));
  if (flagged.length === 0) return {};
  const inside = new Set(flagged);
  const sub = cards.filter((c) => inside.has(c.id));
  const subEdges = edges.filter((e) => inside.has(e.source) && inside.has(e.target));
  const laid = sub.length > 1 ? (await layoutGraph(sub, subEdges, options)).positions : { [sub[0].id]: { x: 0, y: 0 } };
  const x0 = Math.min(...flagged.map((id) => laid[id].x));
  const y0 = Math.min(...flagged.map((id) => laid[id].y));
  const rel = Object.fromEntries(flagged.map((id) => [id, { x: laid[id].x - x0, y: laid[id].y - y0 }]));
  const width = Math.max(...flagged.map((id) => rel[id].x + boxes.get(id).width));
  const gapX = options.layerGap ?? LAYOUT_DEFAULTS.layerGap;
  const feeding = edges.filter((e) => inside.has(e.target) && !inside.has(e.source) && boxes.has(e.source));
  let ax = Math.min(...flagged.map((id) => boxes.get(id).x));
  let ay = Math.min(...flagged.map((id) => boxes.get(id).y));
  if (feeding.length) {
    const edge = feeding.reduce((best, e) => (right(boxes.get(e.source)) > right(boxes.get(best.source)) ? e : best));
    const from = boxes.get(edge.source);
    ax = right(from) + gapX;
    ay = from.y + from.height / 2 - (rel[edge.target].y + boxes.get(edge.target).height / 2);
  }
  const out = {};
  const after = [...downstreamOf(flagged, edges)].filter((id) => boxes.has(id) && !inside.has(id));
  if (after.length) {
    const start = Math.min(...after.map((id) => boxes.get(id).x));
    const shift = ax + width + gapX - start;
    if (shift > 0) {
      for (const [id, box] of boxes) if (!inside.has(id) && box.x >= start) out[id] = { x: box.x + shift, y: box.y };
    }
  }
  for (const id of flagged) out[id] = { x: ax + rel[id].x, y: ay + rel[id].y };
  return out;
}

const right = (box) => box.x + box.width;

// Applies id -> {x, y} to the boxes (a new Map).
export function moveBoxes(boxes, positions) {
  const out = new Map(boxes);
  for (const [id, at] of Object.entries(positions)) if (out.has(id)) out.set(id, { ...out.get(id), ...at });
  return out;
}
