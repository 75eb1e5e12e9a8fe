// Which edge lies under a screen point (a palette item dropped onto an edge), with a few pixels of tolerance.
// `root` is the shadow root (or document) the component lives in: elementsFromPoint there sees its SVG paths.

const OFFSETS = [
  [0, 0], [0, -5], [0, 5], [-5, 0], [5, 0], [0, -10], [0, 10], [-10, 0], [10, 0],
];

function edgeAt(root, x, y) {
  for (const element of root.elementsFromPoint(x, y)) {
    if (element.closest(".react-flow__node") || element.closest(".nc-overlay")) return null; // covered
    const edge = element.closest(".react-flow__edge");
    if (edge) return edge.getAttribute("data-id");
    if (element.classList.contains("react-flow__pane")) return null;
  }
  return null;
}

export function edgeUnderPoint(root, x, y) {
  for (const [dx, dy] of OFFSETS) {
    const id = edgeAt(root, x + dx, y + dy);
    if (id) return id;
  }
  return null;
}
