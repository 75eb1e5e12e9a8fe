import { ReactFlowProvider } from "@xyflow/react";
import { Canvas } from "./Canvas.jsx";

export function App({ data, send, hitRoot, startedAt }) {
  const theme = data.theme === "dark" ? "dark" : "light";
  return (
    <div className={`nc-root nc-${theme}`} style={{ height: `${data.height || 560}px` }} data-testid="flow-canvas">
      <ReactFlowProvider>
        <Canvas data={data} send={send} hitRoot={hitRoot} startedAt={startedAt} theme={theme} />
      </ReactFlowProvider>
    </div>
  );
}
