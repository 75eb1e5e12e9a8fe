// Legible at any size. The smallest text on a card is 11 px (canvas.css), so at LEGIBLE_ZOOM it is drawn 10 px
// high on screen. A graph's first view fits it whole when that zoom is at least LEGIBLE_ZOOM; otherwise it opens at
// LEGIBLE_ZOOM at its input (the Input card, else the leftmost), panned, and the minimap and Fit show the rest.
// Below LEGIBLE_ZOOM (the person zoomed out, or pressed Fit) cards switch to their compact form (id and op in
// large type, coloured by group: NodeCard's nc-card-compact), toggled by a class on the pane.
import { useEffect } from "react";
import { useStore } from "@xyflow/react";

export const SMALLEST_CARD_FONT = 11; // px, the smallest font-size on a full card (canvas.css)
export const LEGIBLE_ZOOM = 10 / SMALLEST_CARD_FONT;

function px(value, fallback) {
  const number = parseFloat(value);
  return Number.isFinite(number) ? number : fallback;
}

function bounds(boxes) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const b of boxes) {
    x0 = Math.min(x0, b.x);
    y0 = Math.min(y0, b.y);
    x1 = Math.max(x1, b.x + b.width);
    y1 = Math.max(y1, b.y + b.height);
  }
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

// The first view of these cards ({id, op, x, y, width, height}) in a pane of this size: {x, y, zoom}, or null
// for no cards (nothing to fit: an empty graph after Clear keeps its view, so the first drop does not jump).
export function firstView(cards, pane, options) {
  if (!cards.length || pane.width < 50 || pane.height < 50) return null;
  const pad = options.padding || {};
  const [top, right, bottom, left] = [px(pad.top, 40), px(pad.right, 40), px(pad.bottom, 40), px(pad.left, 40)];
  const box = bounds(cards);
  const room = { width: Math.max(1, pane.width - left - right), height: Math.max(1, pane.height - top - bottom) };
  const fit = Math.min(room.width / Math.max(1, box.width), room.height / Math.max(1, box.height), options.maxZoom ?? 1.2);
  if (fit >= LEGIBLE_ZOOM) {
    return {
      zoom: fit,
      x: left + (room.width - box.width * fit) / 2 - box.x * fit,
      y: top + (room.height - box.height * fit) / 2 - box.y * fit,
    };
  }
  const zoom = LEGIBLE_ZOOM;
  const inputs = cards.filter((c) => c.op === "Input");
  const start = (inputs.length ? inputs : cards).reduce((a, b) => (b.x < a.x || (b.x === a.x && b.y < a.y) ? b : a));
  const fitsTall = box.height * zoom <= room.height;
  const y = fitsTall ? top + (room.height - box.height * zoom) / 2 - box.y * zoom : top + room.height / 2 - (start.y + start.height / 2) * zoom;
  return { zoom, x: left - start.x * zoom, y };
}

// The cards React Flow holds now, as firstView takes them.
export function cardsOf(flow) {
  return flow
    .getNodes()
    .filter((n) => n.measured?.width)
    .map((n) => ({ id: n.id, op: n.data?.op, x: n.position.x, y: n.position.y, width: n.measured.width, height: n.measured.height }));
}

export function paneSize(element) {
  const rect = element ? element.getBoundingClientRect() : { width: 0, height: 0 };
  return { width: rect.width, height: rect.height };
}

// The legible first view of what React Flow holds now (a resize before the person moved the view).
export function legibleFit(flow, paneElement, options) {
  const view = firstView(cardsOf(flow), paneSize(paneElement), options);
  if (view) flow.setViewport(view);
  return view;
}

// Toggles the compact card form on the pane while the zoom is below LEGIBLE_ZOOM.
export function useCompactCards(paneRef) {
  const compact = useStore((s) => s.transform[2] < LEGIBLE_ZOOM - 1e-3);
  useEffect(() => {
    paneRef.current?.classList.toggle("nc-compact", compact);
  }, [compact, paneRef]);
  return compact;
}
