// Keyboard edits while the canvas (not the palette search) has focus. Every key stops at the component, so
// Streamlit's own shortcuts ("r" reruns, "c" clears caches) never see keys typed here; only the bare modifier
// keys go on, because React Flow watches Shift on the document for shift-click and shift-drag selection.
import { selectedIds } from "./flowData.js";

const MODIFIERS = new Set(["Shift", "Control", "Meta", "Alt"]);
const PASTE_STEP = 40; // flow units: each paste lands this much further down and right than the last

function isTyping(target) {
  return !!(target && target.closest && target.closest("input, textarea, select, [contenteditable='true']"));
}

// `canvas`: { readOnly, send, nodesRef, edgesRef, selectAll, clipboard } (clipboard: a ref of {ids, pastes})
export function handleCanvasKey(event, canvas) {
  if (MODIFIERS.has(event.key)) return;
  event.stopPropagation();
  if (isTyping(event.target) || canvas.readOnly || event.type !== "keydown") return;
  const command = event.ctrlKey || event.metaKey;
  const key = event.key.toLowerCase();
  if (event.key === "Delete" || event.key === "Backspace") {
    const nodes = selectedIds(canvas.nodesRef.current);
    const edges = selectedIds(canvas.edgesRef.current);
    if (nodes.length || edges.length) canvas.send("delete", { nodes, edges });
  } else if (command && key === "z") {
    canvas.send(event.shiftKey ? "redo" : "undo");
  } else if (command && key === "y") {
    canvas.send("redo");
  } else if (command && key === "c") {
    canvas.clipboard.current = { ids: selectedIds(canvas.nodesRef.current), pastes: 0 };
  } else if (command && key === "v") {
    const board = canvas.clipboard.current;
    if (!board.ids.length) return;
    board.pastes += 1;
    canvas.send("paste", { nodes: board.ids, dx: PASTE_STEP * board.pastes, dy: PASTE_STEP * board.pastes });
  } else if (command && key === "a") {
    canvas.selectAll();
  } else {
    return;
  }
  event.preventDefault();
}
