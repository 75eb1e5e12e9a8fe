// An edge: a smoothstep path with an arrow and the tensor shape on a background at its middle. The label's
// width comes from its length in the monospace font rather than from measuring the text (React Flow's own edge
// labels measure each one, which costs a layout per edge on a 500-node graph).
import { memo } from "react";
import { BaseEdge, getSmoothStepPath } from "@xyflow/react";

const CHAR_PX = 6.1; // width of one character of the 10 px monospace label
const LABEL_HEIGHT = 14;
const LABEL_PADDING = 8;

function ShapeEdgeView(props) {
  const { id, label, markerEnd, style, interactionWidth } = props;
  const [path, labelX, labelY] = getSmoothStepPath(props);
  const width = label ? label.length * CHAR_PX + LABEL_PADDING : 0;
  return (
    <>
      <BaseEdge id={id} path={path} markerEnd={markerEnd} style={style} interactionWidth={interactionWidth} />
      {label ? (
        <g className="nc-edge-label" transform={`translate(${labelX - width / 2} ${labelY - LABEL_HEIGHT / 2})`}>
          <rect width={width} height={LABEL_HEIGHT} rx={3} />
          <text x={width / 2} y={LABEL_HEIGHT - 4} textAnchor="middle">
            {label}
          </text>
        </g>
      ) : null}
    </>
  );
}

export const ShapeEdge = memo(ShapeEdgeView);
