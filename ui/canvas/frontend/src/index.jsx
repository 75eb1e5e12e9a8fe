// Entry point called by Streamlit (st.components.v2): `export default function (args)`.
//
// Streamlit calls the default export again on every change of `data`, with the same parentElement. So there is
// one React root per parentElement (kept in a WeakMap) that is re-rendered with the new data, and the cleanup
// Streamlit gets back unmounts only later and only if no newer call has come in meanwhile (generation check):
// unmounting on every call would lose the viewport and the local drag state.
import { createRoot } from "react-dom/client";
import "@xyflow/react/dist/style.css";
import "./canvas.css";
import { App } from "./App.jsx";
import { makeSender } from "./events.js";

const mounts = new WeakMap(); // parentElement -> { root, container, sender, generation, startedAt }

function createMount(parentElement) {
  const container = document.createElement("div");
  container.className = "nc-host";
  parentElement.appendChild(container);
  return { root: createRoot(container), container, sender: makeSender(), generation: 0, startedAt: performance.now() };
}

export default function mountFlowCanvas({ parentElement, data, setTriggerValue }) {
  let mount = mounts.get(parentElement);
  if (!mount) {
    mount = createMount(parentElement);
    mounts.set(parentElement, mount);
  }
  mount.generation += 1;
  const generation = mount.generation;
  mount.sender.bind(setTriggerValue);
  mount.root.render(
    <App data={data || {}} send={mount.sender.send} hitRoot={parentElement} startedAt={mount.startedAt} />,
  );
  return () => {
    setTimeout(() => {
      if (mounts.get(parentElement) !== mount || mount.generation !== generation) return; // called again since
      mount.root.unmount();
      mount.container.remove();
      mounts.delete(parentElement);
    }, 0);
  };
}
