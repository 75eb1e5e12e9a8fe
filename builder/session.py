"""The editor behind the Build page, without any UI: the spec, its history, the selection, the last notice.

The page calls these methods from its buttons and from canvas events; each change goes through `commit`,
which records the previous spec for undo and bumps `version` (the page keys its widgets by it, so they
show the new values after an undo or a fix).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from builder import edit
from builder.fixes import apply_fix
from builder.history import History
from builder.issues import Fix
from builder.layout import layered_layout, needs_layout
from builder.spec import GraphSpec
from builder.sync import CanvasView, apply_canvas_changes, canvas_changes, view_of
from builder.validate import Analysis, analyze


@dataclass(frozen=True)
class Notice:
    kind: str  # "error", "warning", "success" or "info"
    text: str


def _structure(spec: GraphSpec) -> dict:
    """The spec without canvas positions: what the weights depend on."""
    raw = spec.to_dict()
    raw["nodes"] = [{k: v for k, v in node.items() if k != "ui"} for node in raw["nodes"]]
    raw.pop("name")  # a new name keeps the weights
    return raw


def fingerprint(spec: GraphSpec) -> str:
    """A short digest of the whole spec (positions and name included): equal specs, equal fingerprints."""
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class EditorSession:
    spec: GraphSpec = field(default_factory=edit.starter_spec)
    history: History = field(default_factory=History)
    selected: str | None = None
    version: int = 0
    notice: Notice | None = None
    wants_fit: bool = True  # the canvas should fit the whole graph into view on its next draw
    weights_from: str | None = None  # a bundle directory whose trained weights fit this graph (an import)
    baseline: str = ""  # fingerprint of the graph last loaded (template, file) or restored: edits since are unsaved
    _analysis: Analysis | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.baseline = self.baseline or fingerprint(self.spec)

    @property
    def unsaved(self) -> bool:
        """Whether the graph differs from the one last loaded (a Load would replace work of the person's)."""
        return fingerprint(self.spec) != self.baseline

    def commit(self, new_spec: GraphSpec, *, fit: bool = False) -> None:
        if new_spec.to_dict() == self.spec.to_dict():
            return
        self.history.record(self.spec)
        if self.weights_from is not None and _structure(new_spec) != _structure(self.spec):
            self.weights_from = None  # an op or parameter changed: the imported weights may no longer fit
        self.spec = new_spec
        self._after_change(fit)

    def _after_change(self, fit: bool) -> None:
        self.version += 1
        self.notice = None
        self.wants_fit = self.wants_fit or fit
        if self.selected is not None and self.spec.node(self.selected) is None:
            self.selected = None

    def tell(self, kind: str, text: str) -> None:
        self.notice = Notice(kind, text)

    def select(self, node_id: str | None) -> None:
        if node_id is None or self.spec.node(node_id) is not None:
            self.selected = node_id

    # graph edits ---------------------------------------------------------------------------------

    def load(self, spec: GraphSpec, what: str) -> None:
        """Replace the whole graph (template, upload, clear); lays it out if it has no positions. Replacing
        an unsaved graph says on screen that one Undo brings it back (the load is a single commit)."""
        replaced_work = self.unsaved
        self.weights_from = None  # a new graph starts untrained (load_bundle sets them again)
        self.commit(layered_layout(spec) if needs_layout(spec) else spec, fit=True)
        self.baseline = fingerprint(self.spec)
        self.selected = None
        if replaced_work:
            self.tell("info", f"Loaded {what}; the previous network is one Undo away.")
        else:
            self.tell("success", f"loaded {what}")

    def load_bundle(self, spec: GraphSpec, bundle_dir: str, what: str) -> None:
        """Load an imported bundle's graph; its weights (in `bundle_dir`) stay with it until the graph changes."""
        self.load(spec, what)
        self.weights_from = bundle_dir

    def add(self, op: str, wire: bool) -> None:
        spec, new_id = edit.add_node(self.spec, op, after=self.selected, wire=wire)
        self.commit(spec, fit=True)  # the new node may lie outside the part of the canvas in view
        self.selected = new_id

    def delete(self, node_id: str) -> None:
        self.commit(edit.delete_node(self.spec, node_id))

    def rename(self, old: str, new: str) -> None:
        spec, why_not = edit.rename_node(self.spec, old, new)
        if why_not:
            self.tell("error", why_not)
            return
        was_selected = self.selected == old
        self.commit(spec)
        if was_selected:
            self.selected = new.strip()

    def set_name(self, name: str) -> None:
        """Rename the network (undoable like any edit); a bad name is told and changes nothing."""
        spec, why_not = edit.rename_network(self.spec, name)
        if why_not:
            self.tell("error", f"Not renamed: {why_not}")
            return
        self.commit(spec)

    def set_param(self, node_id: str, name: str, value) -> None:
        if self.spec.node(node_id) is not None:
            self.commit(edit.set_param(self.spec, node_id, name, value))

    def fix(self, fix: Fix) -> None:
        spec = apply_fix(self.spec, fix)
        for new_id in {n.id for n in spec.nodes} - {n.id for n in self.spec.nodes}:
            spec = edit.make_room(spec, new_id)
        self.commit(spec, fit=True)
        self.tell("success", f"applied: {fix.description}")

    def auto_layout(self) -> None:
        self.commit(layered_layout(self.spec), fit=True)

    def undo(self) -> None:
        self.spec = self.history.undo(self.spec)
        self._after_change(fit=False)

    def redo(self) -> None:
        self.spec = self.history.redo(self.spec)
        self._after_change(fit=False)

    # canvas events -------------------------------------------------------------------------------

    def apply_canvas(self, base: CanvasView | None, seen: CanvasView, clicked: str | None) -> bool:
        """Take in what the user did on the canvas since it was shown `base` (None: unknown, use the spec).

        Returns whether anything changed (the graph, the selection or the notice), that is whether the
        rest of the page has to be drawn again; a report that only echoes what the canvas was given is not.
        """
        before = (self.version, self.selected, self.notice)
        changes = canvas_changes(base if base is not None else view_of(self.spec), seen)
        if not changes.empty:
            spec, notes = apply_canvas_changes(self.spec, changes)
            self.commit(spec)
            if notes:
                self.tell("warning", "; ".join(notes))
        if clicked is not None and self.spec.node(clicked) is not None:
            self.selected = clicked
        return (self.version, self.selected, self.notice) != before

    def analysis(self) -> Analysis:
        """The validation of the current spec, computed once per spec (edits replace the spec object)."""
        if self._analysis is None or self._analysis.spec is not self.spec:
            self._analysis = analyze(self.spec)
        return self._analysis

    def take_fit(self) -> bool:
        """Whether the canvas should fit the view now (asked once per request)."""
        fit, self.wants_fit = self.wants_fit, False
        return fit
