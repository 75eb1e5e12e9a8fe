// A refusal told inside the canvas: a gesture Python refused (rolled back) or a connection refused before it was
// drawn. One line, closed by a click or by the next gesture.
const STYLE = {
  position: "absolute",
  top: 44,
  left: "50%",
  transform: "translateX(-50%)",
  maxWidth: "70%",
  padding: "6px 12px",
  borderRadius: 6,
  background: "#fdecea",
  color: "#8a1c1c",
  border: "1px solid #f5c2c0",
  font: "13px/1.35 sans-serif",
  zIndex: 10,
  cursor: "pointer",
};

export function CanvasNotice({ text, onClose }) {
  if (!text) return null;
  return (
    <div className="nc-overlay nc-canvas-notice" style={STYLE} role="alert" data-testid="canvas-notice" onClick={onClose}>
      {text}
    </div>
  );
}
