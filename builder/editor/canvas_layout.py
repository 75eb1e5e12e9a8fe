"""The canvas component's layout, taken into the editor: the positions ELK picked in the browser for the nodes
Python flagged (builder/editor/layout.py, `AUTO`), and the room it made for them, arrive as one `move_end` event
marked `"layout": true` (docs/ARCHITECTURE.md, "The canvas component").

Such a move belongs to the edit that asked for it (a load, auto-layout, an expansion, an insertion, a paste that
landed on other cards): it is written into the graph shown with the flags cleared, but makes no undo step of its
own, so one Undo takes back the edit and its layout together. A graph just loaded stays "saved" once laid out.
"""

from __future__ import annotations

from builder.editor.edit import move_nodes
from builder.editor.layout import placed
from builder.editor.session import EditorSession


def take_moves(ed: EditorSession, positions: dict[str, tuple[float, float]], *, layout: bool) -> None:
    """Move nodes of the graph shown (clearing their layout flags); with `layout`, as part of the last edit."""
    before, notice, was_saved = ed.spec, ed.notice, not ed.unsaved
    ed.commit_view(placed(move_nodes(ed.view, positions), positions))
    if not layout or ed.spec is before:
        return
    if ed.history.past:
        ed.history.past.pop()  # the snapshot commit just took: the edit before it is what Undo restores
    ed.notice = notice  # the edit's own notice ("applied: ...") stays on screen
    if was_saved:
        ed.mark_saved()
