// An edge: the route ELK picked (data.route: orthogonal bend points, drawn while both its cards stay where ELK put
// them), else a smoothstep path; an arrow, and the tensor shape on a background at the middle of its longest
// segment. The label's width comes from its length in the monospace font rather than from measuring the text
// (React Flow's own edge labels measure each one, which costs a layout per edge on a 500-node graph).
import { memo } from "react";
import { BaseEdge, getSmoothStepPath, useStore } from "@xyflow/react";

const CHAR_PX = 6.7; // width of one character of the 11 px monospace label
const LABEL_HEIGHT = 15;
const LABEL_PADDING = 8;

// Whether both cards are still where they were when ELK routed the edge (a card moved since: smoothstep).
function useRouteHolds(source, target, route) {
  return useStore((s) => {
    if (!route) return false;
    const a = s.nodeLookup.get(source)?.internals?.positionAbsolute;
    const b = s.nodeLookup.get(target)?.internals?.positionAbsolute;
    const [sx, sy, tx, ty] = route.at;
    return !!a && !!b && a.x === sx && a.y === sy && b.x === tx && b.y === ty;
  });
}

// The path through the route's bends, from the source handle to the target handle.
function routedPath(points, sourceX, sourceY, targetX, targetY) {
  const all = [{ x: sourceX, y: sourceY }, ...points.slice(1, -1), { x: targetX, y: targetY }];
  let longest = 0;
  let label = [(sourceX + targetX) / 2, (sourceY + targetY) / 2];
  for (let i = 1; i < all.length; i += 1) {
    const length = Math.abs(all[i].x - all[i - 1].x) + Math.abs(all[i].y - all[i - 1].y);
    if (length > longest) {
      longest = length;
      label = [(all[i].x + all[i - 1].x) / 2, (all[i].y + all[i - 1].y) / 2];
    }
  }
  const path = all.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
  return [path, label[0], label[1]];
}

function ShapeEdgeView(props) {
  const { id, source, target, label, markerEnd, style, interactionWidth, data } = props;
  const route = data?.route;
  const holds = useRouteHolds(source, target, route);
  const [path, labelX, labelY] = holds
    ? routedPath(route.points, props.sourceX, props.sourceY, props.targetX, props.targetY)
    : getSmoothStepPath(props);
  const width = label ? label.length * CHAR_PX + LABEL_PADDING : 0;
  return (
    <>
      <BaseEdge id={id} path={path} markerEnd={markerEnd} style={style} interactionWidth={interactionWidth} />
      {label ? (
        <g className="nc-edge-label" transform={`translate(${labelX - width / 2} ${labelY - LABEL_HEIGHT / 2})`}>
          <title>{label}</title>
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
