// One node's card: id, op in its group's colour, key parameters, output shape and parameter count, the first
// problem in red, numbered input ports on the left and outputs on the right. Memoised: a 500-node graph
// re-renders only the cards whose payload changed. Every text that may not fit is ellipsised at its end (never
// cut mid-word by the card's edge), its whole text in a tooltip. Each card also holds its compact form (id and
// op in large type on its group's colour), shown instead of the rest while the zoom is below legibility
// (legibleView.js): same box, so the layout does not change with the zoom.
import { createContext, memo, useContext } from "react";
import { Handle, Position } from "@xyflow/react";

const PORT_SPACING = 20; // px between numbered input ports

export const CanvasActions = createContext({ send: () => {}, readOnly: true });

function portTop(k, count) {
  return `${((k + 1) * 100) / (count + 1)}%`;
}

function InputPorts({ count, labels, connectable }) {
  return Array.from({ length: count }, (_, k) => (
    <Handle
      key={`in-${k}`}
      id={`in-${k}`}
      type="target"
      position={Position.Left}
      isConnectable={connectable}
      className="nc-handle nc-handle-in"
      style={{ top: portTop(k, count) }}
    >
      {labels && labels[k] != null && <span className="nc-port-label">{labels[k]}</span>}
    </Handle>
  ));
}

function OutputPorts({ count, connectable }) {
  return Array.from({ length: count }, (_, k) => (
    <Handle
      key={`out-${k}`}
      id={`out-${k}`}
      type="source"
      position={Position.Right}
      isConnectable={connectable}
      className="nc-handle nc-handle-out"
      style={{ top: portTop(k, count) }}
    />
  ));
}

// Dark or light text, whichever reads on this background ("#rrggbb"); undefined for anything else.
function textOn(fill) {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(fill || "");
  if (!match) return undefined;
  const [r, g, b] = match.slice(1).map((hex) => parseInt(hex, 16) / 255);
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.5 ? "#1f2328" : "#f5f7fa";
}

function stop(handler) {
  return (event) => {
    event.stopPropagation();
    handler();
  };
}

function BlockButtons({ id, send }) {
  return (
    <div className="nc-block-buttons">
      <button className="nodrag" data-testid={`block-open-${id}`} onClick={stop(() => send("open", { path: [id] }))}>
        Open
      </button>
      <button className="nodrag" data-testid={`block-expand-${id}`} onClick={stop(() => send("expand", { node: id }))}>
        Expand
      </button>
    </div>
  );
}

function NodeCardView({ id, data, selected }) {
  const { send, readOnly } = useContext(CanvasActions);
  const classes = ["nc-card", data.problem ? "nc-card-problem" : "", selected ? "nc-card-selected" : ""];
  if (data.port_labels) classes.push("nc-card-numbered");
  const style = { "--nc-accent": data.colour || "#607d8b" };
  if (data.fill) {
    style.background = data.fill;
    style.color = textOn(data.fill);
    classes.push("nc-card-filled");
  }
  if ((data.inputs ?? 0) > 2) style.minHeight = `${PORT_SPACING * data.inputs}px`; // room for numbered ports
  return (
    <div className={classes.join(" ")} style={style} title={data.tooltip || ""} data-testid={`node-${id}`}>
      <InputPorts count={data.inputs ?? 0} labels={data.port_labels} connectable={!readOnly} />
      <div className="nc-card-head">
        <span className="nc-card-id" title={id}>
          {id}
        </span>
        <span className="nc-card-op" title={data.op}>
          {data.op}
        </span>
        {!readOnly && (
          <button className="nc-card-x nodrag" title="Delete" onClick={stop(() => send("delete", { nodes: [id], edges: [] }))}>
            ✕
          </button>
        )}
      </div>
      {data.params ? (
        <div className="nc-card-params" title={data.params}>
          {data.params}
        </div>
      ) : null}
      <div className="nc-card-meta">
        <span className="nc-card-shape" title={data.shape || "?"}>
          {data.shape || "?"}
        </span>
        {data.count ? (
          <span className="nc-card-count" title={data.count}>
            {data.count}
          </span>
        ) : null}
      </div>
      {data.badge ? <div className="nc-card-badge">{data.badge}</div> : null}
      {data.problem ? <div className="nc-card-problem-text">{data.problem}</div> : null}
      {data.block && !readOnly ? <BlockButtons id={id} send={send} /> : null}
      <OutputPorts count={data.outputs ?? 1} connectable={!readOnly} />
      <div className="nc-card-compact" aria-hidden="true" data-testid={`compact-${id}`}>
        <span className="nc-compact-id">{id}</span>
        <span className="nc-compact-op">{data.op}</span>
      </div>
    </div>
  );
}

export const NodeCard = memo(NodeCardView);
