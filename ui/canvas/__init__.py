"""The canvas component (React Flow, our own `st.components.v2` component): `flow_canvas(data, key=...)`.

Sources in ui/canvas/frontend/, the committed bundle in ui/canvas/static/, rebuilt by scripts/build_canvas.sh.
"""

from ui.canvas.component import flow_canvas

__all__ = ["flow_canvas"]
