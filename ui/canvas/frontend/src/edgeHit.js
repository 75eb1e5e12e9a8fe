// Which edge lies under a screen point (a palette item dropped onto an edge), with a few pixels of tolerance.
// `root` is the shadow root (or document) the component lives in: elementsFromPoint there sees its SVG paths.

const OFFSETS = [
  [0, 0], [0, -5], [0, 5], [-5, 0], [5, 0], [0, -10], [0, 10], [-10, 0], [10, 0],
];

function edgeAt(root, x, y) {
  for (const element of root.elementsFromPoint(x, y)) {
    if (element.closest(".react-flow__node") || element.closest(".nc-overlay")) return null; // covered
    const edge = element.closest(".react-flow__edge");
    if (edge) return edge;
    if (element.classList.contains("react-flow__pane")) return null;
  }
  return null;
}

// The edge's element (a React Flow edge <g>, its id in data-id) under the point, or null.
export function edgeElementUnderPoint(root, x, y) {
  for (const [dx, dy] of OFFSETS) {
    const edge = edgeAt(root, x + dx, y + dy);
    if (edge) return edge;
  }
  return null;
}

export function edgeUnderPoint(root, x, y) {
  const edge = edgeElementUnderPoint(root, x, y);
  return edge ? edge.getAttribute("data-id") : null;
}

// While a palette item is dragged: the edge it would be dropped onto is drawn highlighted.
export function makeDropHighlight() {
  let current = null;
  return {
    show(edge) {
      if (edge === current) return;
      if (current) current.classList.remove("nc-drop-target");
      current = edge;
      if (current) current.classList.add("nc-drop-target");
    },
    clear() {
      this.show(null);
    },
  };
}
