import { ReactFlowProvider } from "@xyflow/react";
import { AutogradGraph } from "./AutogradGraph.jsx";
import { Canvas } from "./Canvas.jsx";

export function App({ data, send, hitRoot, startedAt }) {
  const theme = data.theme === "dark" ? "dark" : "light";
  return (
    <div className={`nc-root nc-${theme}`} style={{ height: `${data.height || 560}px` }} data-testid="flow-canvas">
      <ReactFlowProvider>
        {data.mode === "autograd" ? (
          <AutogradGraph data={data} send={send} theme={theme} />
        ) : (
          <Canvas data={data} send={send} hitRoot={hitRoot} startedAt={startedAt} theme={theme} />
        )}
      </ReactFlowProvider>
    </div>
  );
}
