"""The editor behind the Build page, without any UI: the spec, its history, the selection, the last notice.

The page calls these methods from its buttons and from canvas events (`builder/editor/canvas_events.py`); each
change goes through `commit`, which records the previous spec for undo and bumps `version` (the page keys its
widgets by it, so they show the new values after an undo or a fix).

The canvas shows one level at a time: the network, or the body of a block opened from one of its uses
(`path`: the use ids, outermost first). `view` is the graph at that level; the edits below (add, delete,
rename, set a parameter, layout) apply to it, and an edit inside a block is written back into the block's
definition, so it applies to every use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from builder.analysis.fixes import apply_fix
from builder.analysis.validate import Analysis, analyze
from builder.editor import canvas_edit, edit
from builder.editor.canvas_blocks import body_view, with_body
from builder.editor.history import History
from builder.editor.layout import layered_layout, needs_layout
from builder.spec import graph_size
from builder.spec.issues import Fix
from builder.spec.limits import cap_name, limits
from builder.spec.spec import GraphSpec


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
    selected: str | None = None  # the node the inspector shows (at the current level)
    selection: list[str] = field(default_factory=list)  # every selected node (the canvas's multi-selection)
    path: list[str] = field(default_factory=list)  # opened block uses, outermost first ([]: the network)
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

    def mark_saved(self) -> None:
        """The graph was saved to a file: a Load over it now replaces nothing unsaved."""
        self.baseline = fingerprint(self.spec)

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
        self._check_path()
        present = {n.id for n in self.view.nodes}
        self.selection = [n for n in self.selection if n in present]
        if self.selected is not None and self.selected not in present:
            self.selected = None

    def tell(self, kind: str, text: str) -> None:
        self.notice = Notice(kind, text)

    def select(self, node_id: str | None) -> None:
        if node_id is None or self.view.node(node_id) is not None:
            self.selected = node_id
            self.selection = [node_id] if node_id else []

    def select_many(self, node_ids: list[str]) -> None:
        """The canvas's selection; the inspector shows the last one chosen."""
        present = {n.id for n in self.view.nodes}
        self.selection = [n for n in dict.fromkeys(node_ids) if n in present]
        self.selected = self.selection[-1] if self.selection else None

    # the level shown: the network or an opened block's body -------------------------------------

    @property
    def view_block(self) -> str | None:
        """The block whose body is shown, or None at the network's level."""
        graph, name = self.spec, None
        for use_id in self.path:
            node = graph.node(use_id)
            name = node.params.get("block") if node is not None else None
            if name not in self.spec.blocks:
                return None
            graph = body_view(self.spec, name)
        return name

    @property
    def view(self) -> GraphSpec:
        name = self.view_block
        return self.spec if name is None else body_view(self.spec, name)

    def commit_view(self, new_view: GraphSpec, *, fit: bool = False) -> None:
        """Commit an edit of the graph shown (inside a block: written into its definition)."""
        name = self.view_block
        self.commit(new_view if name is None else with_body(self.spec, name, new_view), fit=fit)

    def open(self, path: list[str]) -> None:
        """Show the body of the block used by the last node of `path` (each a use inside the one before)."""
        graph, checked = self.spec, []
        for use_id in path:
            node = graph.node(use_id)
            if node is None or node.op != "Block" or node.params.get("block") not in self.spec.blocks:
                self.tell("error", f"Not opened: '{use_id}' is not a block use here")
                return
            checked.append(use_id)
            graph = body_view(self.spec, node.params["block"])
        self.path, self.selected, self.selection, self.wants_fit = checked, None, [], True

    def _check_path(self) -> None:
        """After an undo or a load, fall back to the deepest level that still exists."""
        graph, kept = self.spec, []
        for use_id in self.path:
            node = graph.node(use_id)
            if node is None or node.op != "Block" or node.params.get("block") not in self.spec.blocks:
                break
            kept.append(use_id)
            graph = body_view(self.spec, node.params["block"])
        if kept != self.path:
            self.path, self.wants_fit = kept, True

    def view_analysis(self) -> Analysis:
        """The analysis of the graph shown: the network's, or the opened use's body (empty when unknown)."""
        analysis = self.analysis()
        for use_id in self.path:
            use = analysis.uses.get(use_id)
            if use is None:
                return Analysis(self.view, body=True)
            analysis = use.body
        return analysis

    # graph edits ---------------------------------------------------------------------------------

    def load(self, spec: GraphSpec, what: str) -> None:
        """Replace the whole graph (template, upload, clear); lays it out if it has no positions. Replacing
        an unsaved graph says on screen that one Undo brings it back (the load is a single commit)."""
        replaced_work = self.unsaved
        self.weights_from = None  # a new graph starts untrained (load_bundle sets them again)
        self.path = []
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
        spec, new_id = edit.add_node(self.view, op, after=self.selected, wire=wire)
        self.commit_view(spec, fit=True)  # the new node may lie outside the part of the canvas in view
        self.select(new_id)

    def node_cap_refusal(self, new_view: GraphSpec) -> str | None:
        """Why the graph shown may not become `new_view` for the node cap (None: it may): the whole network
        with its blocks expanded, counted from the definitions (builder/spec/graph_size.py), over NETCANVAS_MAX_NODES
        and larger than now. Linear in the file; for any edit that adds nodes (paste, add, group)."""
        name = self.view_block
        whole = new_view if name is None else with_body(self.spec, name, new_view)
        cap, after = limits().max_nodes, graph_size.node_count(whole)
        if after <= cap or after <= graph_size.node_count(self.spec):
            return None  # within the cap, or already over it (a loaded file) and not growing: validation tells
        return (
            f"the network would have {after:,} nodes with its blocks expanded; at most {cap:,} "
            f"({cap_name('max_nodes')})"
        )

    def paste(self, node_ids: list[str], dx: float, dy: float) -> list[str]:
        """Paste copies of these nodes of the graph shown, moved by (dx, dy), and select them; returns their
        ids. A paste that would take the network over the node cap is refused as a notice and changes nothing."""
        spec, new_ids = canvas_edit.paste(self.view, node_ids, dx, dy)
        if not new_ids:
            return []
        why_not = self.node_cap_refusal(spec)
        if why_not:
            self.tell("error", f"Not pasted: {why_not}")
            return []
        self.commit_view(spec)
        self.select_many(new_ids)
        return new_ids

    def delete(self, node_id: str) -> None:
        self.commit_view(edit.delete_node(self.view, node_id))

    def rename(self, old: str, new: str) -> None:
        spec, why_not = edit.rename_node(self.view, old, new)
        if why_not:
            self.tell("error", why_not)
            return
        was_selected = self.selected == old
        self.commit_view(spec)
        if was_selected:
            self.select(new.strip())

    def set_name(self, name: str) -> None:
        """Rename the network (undoable like any edit); a bad name is told and changes nothing."""
        spec, why_not = edit.rename_network(self.spec, name)
        if why_not:
            self.tell("error", f"Not renamed: {why_not}")
            return
        self.commit(spec)

    def set_param(self, node_id: str, name: str, value) -> None:
        view = self.view
        if view.node(node_id) is not None:
            self.commit_view(edit.set_param(view, node_id, name, value))

    def fix(self, fix: Fix) -> None:
        spec = apply_fix(self.spec, fix)
        for new_id in {n.id for n in spec.nodes} - {n.id for n in self.spec.nodes}:
            spec = edit.make_room(spec, new_id)
        self.commit(spec, fit=True)
        self.tell("success", f"applied: {fix.description}")

    def auto_layout(self) -> None:
        self.commit_view(layered_layout(self.view), fit=True)

    def undo(self) -> None:
        self.spec = self.history.undo(self.spec)
        self._after_change(fit=False)

    def redo(self) -> None:
        self.spec = self.history.redo(self.spec)
        self._after_change(fit=False)

    def analysis(self) -> Analysis:
        """The validation of the current spec, computed once per spec (edits replace the spec object)."""
        if self._analysis is None or self._analysis.spec is not self.spec:
            self._analysis = analyze(self.spec)
        return self._analysis

    def take_fit(self) -> bool:
        """Whether the canvas should fit the view now (asked once per request)."""
        fit, self.wants_fit = self.wants_fit, False
        return fit
