"""A run's rows from the store, kept between reruns and read incrementally, shaped into plain series.

No streamlit and no torch here: `RunView.refresh(manager)` reads only the rows written since the last
refresh (the store's `seq`), and the functions below turn rows into the lists the figures draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MAX_STEP_SNAPSHOTS = 600  # beyond this, the older history is thinned to every other snapshot
MAX_STEP_POINTS = 500  # points drawn per curve (step losses; epoch points)
MAX_SERIES_POINTS = 200  # snapshots drawn per node over time
VANISHING_RATIO = 1e-3  # a node's gradient norm this far below the median node's: vanishing
EXPLODING_NORM = 1e3  # a gradient norm above this (or 1 / VANISHING_RATIO times the median): exploding


@dataclass
class RunView:
    """What the page has read of one run so far."""

    run_id: str
    metrics: list = field(default_factory=list)  # engine.runs.store.Row, oldest first
    steps: list = field(default_factory=list)  # step snapshots
    confusions: list = field(default_factory=list)  # (epoch, step, matrix, class names) per epoch snapshot
    latest_epoch: dict = field(default_factory=dict)  # the newest weights / filters / surface
    edits: list = field(default_factory=list)
    seq: dict = field(default_factory=lambda: {"metrics": 0, "step": 0, "epoch": 0})

    def refresh(self, manager) -> None:
        rows = manager.metrics(self.run_id, since=self.seq["metrics"])
        if rows:
            self.metrics.extend(rows)
            self.seq["metrics"] = rows[-1].seq
        self._take_steps(manager.snapshots(self.run_id, "step", since=self.seq["step"]))
        self._take_epochs(manager.snapshots(self.run_id, "epoch", since=self.seq["epoch"]))
        self.edits = manager.edits(self.run_id)

    def _take_steps(self, rows: list) -> None:
        if not rows:
            return
        self.steps.extend(rows)
        self.seq["step"] = rows[-1].seq
        if len(self.steps) > MAX_STEP_SNAPSHOTS:
            half = len(self.steps) // 2
            self.steps = self.steps[:half:2] + self.steps[half:]

    def _take_epochs(self, rows: list) -> None:
        for row in rows:
            data = row.data
            if "confusion" in data:
                self.confusions.append((row.epoch, row.step, data["confusion"], data.get("class_names", [])))
            for key in ("weights", "filters", "surface", "panels"):  # panels: a learning rule's live views
                if key in data:
                    self.latest_epoch[key] = data[key]
                    self.latest_epoch["epoch"] = row.epoch
        if rows:
            self.seq["epoch"] = rows[-1].seq


# --- the queue ---------------------------------------------------------------------------------------


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _ahead(place) -> str:
    return {0: "next to start", 1: "1 run ahead"}.get(place.ahead, f"{place.ahead} runs ahead")


def place_text(place) -> str:
    """A waiting run's line for the run view (`place`: engine.runs.run_queue.Place), e.g.
    'queued: 3rd in line, 2 runs ahead; 2 of 2 workers busy. It starts when a worker is free.'"""
    workers = f"{place.busy} of {place.workers} worker{'s' if place.workers != 1 else ''} busy"
    if place.held:
        return (
            f"paused in the queue: it keeps its place ({ordinal(place.place)} in line, {_ahead(place)}) but "
            f"does not start until you resume it; {workers}."
        )
    return f"queued: {ordinal(place.place)} in line, {_ahead(place)}; {workers}. It starts when a worker is free."


def place_label(place) -> str:
    """The runs table's status of a waiting run: "queued (3rd in line)", "paused in the queue (2nd in line)"."""
    return f"{'paused in the queue' if place.held else 'queued'} ({ordinal(place.place)} in line)"


CLUSTER_WAIT = "waiting for the cluster"  # how a run's message starts while Ray has not placed its actor


def cluster_wait(record) -> str:
    """Why a run handed to the Ray cluster has not started: its message while Ray has not placed its actor
    ("waiting for the cluster: needs 1 GPU and 1 CPU (the cluster has no GPU; ...)", written by
    engine.runs.ray_executor); "" for any other run (one in the app's queue has its place instead)."""
    if record.status == "queued" and not record.waiting and record.message.startswith(CLUSTER_WAIT):
        return record.message
    return ""


def cluster_label(message: str) -> str:
    """The runs table's status of a run waiting for the cluster: its message without the reason in brackets,
    "waiting for the cluster: needs 1 GPU and 1 CPU"."""
    return message.split(" (", 1)[0]


# --- curves ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curves:
    step: list[int]  # x of the step losses
    step_loss: list[float | None]
    epoch_step: list[int]  # x of the epoch points (the step at which each epoch ended)
    epoch: list[int]
    train_loss: list[float | None]
    val_loss: list[float | None]
    val_accuracy: list[float | None]

    @property
    def has_accuracy(self) -> bool:
        return any(v is not None for v in self.val_accuracy)


def thin(rows: list, max_points: int) -> list:
    """At most about `max_points` of `rows`, evenly spaced, always with the last (a chart redrawn every poll
    in the browser costs in proportion to its points)."""
    if len(rows) <= max_points:
        return rows
    stride = -(-len(rows) // max_points)
    kept = rows[::stride]
    return kept if kept[-1] is rows[-1] else [*kept, rows[-1]]


def curves(rows: list, max_step_points: int = MAX_STEP_POINTS) -> Curves:
    steps = thin([r for r in rows if r.kind == "step"], max_step_points)
    epochs = thin([r for r in rows if r.kind == "epoch"], max_step_points)
    return Curves(
        step=[r.step for r in steps],
        step_loss=[r.data.get("loss") for r in steps],
        epoch_step=[r.step for r in epochs],
        epoch=[r.epoch for r in epochs],
        train_loss=[r.data.get("loss") for r in epochs],
        val_loss=[r.data.get("val_loss") for r in epochs],
        val_accuracy=[r.data.get("val_accuracy") for r in epochs],
    )


# --- gradients and activations -----------------------------------------------------------------------


def node_series(snapshots: list, node_id: str, key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one number of one node over the step snapshots that have it."""
    xs, ys = [], []
    for row in thin(snapshots, MAX_SERIES_POINTS):
        value = row.data.get("nodes", {}).get(node_id, {}).get(key)
        if value is not None:
            xs.append(row.step)
            ys.append(value)
    return xs, ys


def probed_nodes(snapshots: list, key: str | None = None) -> list[str]:
    """Node ids in the newest snapshot (in graph order), those that have `key` when given."""
    if not snapshots:
        return []
    nodes = snapshots[-1].data.get("nodes", {})
    return [n for n, entry in nodes.items() if key is None or entry.get(key) is not None]


def latest_norms(snapshots: list, key: str) -> dict[str, float]:
    return _norms(snapshots[-1], key) if snapshots else {}


def _norms(snapshot, key: str) -> dict[str, float]:
    nodes = snapshot.data.get("nodes", {})
    return {n: e[key] for n, e in nodes.items() if isinstance(e.get(key), int | float)}


def snapshot_at(snapshots: list, step: int):
    """The snapshot sampled at `step`, else the newest one before it; None when every snapshot is later."""
    found = None
    for row in snapshots:
        if row.step > step:
            break
        found = row
    return found


def norms_at(snapshots: list, step: int, key: str) -> dict[str, float]:
    """{node: `key`} ("grad" or "out_grad") of the snapshot at `step` (see `snapshot_at`)."""
    row = snapshot_at(snapshots, step)
    return _norms(row, key) if row is not None else {}


def recurrent_snapshots(snapshots: list) -> list:
    """The step snapshots that carry the recurrent nodes' gates, states and per-step gradients ("recurrent":
    {node id: ...}, engine.probes.recurrent_probes), oldest first."""
    return [row for row in snapshots if row.data.get("recurrent")]


def log_range(snapshots: list, key: str) -> tuple[float, float] | None:
    """(lowest, highest) log10 of the positive `key` norms over all snapshots; None when there are none."""
    logs = [math.log10(v) for row in snapshots for v in _norms(row, key).values() if v > 0]
    return (min(logs), max(logs)) if logs else None


@dataclass(frozen=True)
class NodeStats:
    """One node's numbers at one sampled step; None where the node has no such number."""

    node: str
    op: str
    grad: float | None  # L2 norm of the gradients of its parameters
    out_grad: float | None  # L2 norm of the loss's gradient with respect to its output
    mean: float | None  # of its output (activations)
    std: float | None
    dead: float | None  # fraction of units never positive in the batch (ReLU-like nodes)


def stats_at(snapshots: list, step: int, ops: dict[str, str]) -> list[NodeStats]:
    """Every probed node's gradient and activation numbers at `step`, in graph order; `ops` maps node to op."""
    row = snapshot_at(snapshots, step)
    if row is None:
        return []
    return [
        NodeStats(node, ops.get(node, "?"), *(_number(entry, k) for k in ("grad", "out_grad", "mean", "std", "dead")))
        for node, entry in row.data.get("nodes", {}).items()
    ]


def _number(entry: dict, key: str) -> float | None:
    value = entry.get(key)
    return value if isinstance(value, int | float) else None


def steps_summary(steps: list[int], most: int = 12) -> str:
    """The steps as "5, 10, 15, …, 95, 100": all of them when there are at most `most`."""
    if len(steps) <= most:
        return ", ".join(f"{s:,}" for s in steps)
    head, tail = steps[: most // 2], steps[-(most // 2) :]
    return ", ".join(f"{s:,}" for s in head) + ", …, " + ", ".join(f"{s:,}" for s in tail)


def gradient_warnings(norms: dict[str, float]) -> list[tuple[str, str, str]]:
    """(node, "vanishing" | "exploding", message) for nodes whose gradient norm stands out."""
    positive = sorted(v for v in norms.values() if v > 0)
    if not positive:
        return []
    median = positive[len(positive) // 2]
    found = []
    for node, norm in norms.items():
        if norm > EXPLODING_NORM or (median > 0 and norm > median / VANISHING_RATIO):
            found.append((node, "exploding", f"{node}: gradient norm {norm:.3g} (median of the nodes {median:.3g})"))
        elif norm == 0 or norm < median * VANISHING_RATIO:
            found.append((node, "vanishing", f"{node}: gradient norm {norm:.3g} (median of the nodes {median:.3g})"))
    return found


@dataclass(frozen=True)
class Distribution:
    """One node's activation histograms over time on one shared value axis."""

    steps: list[int]
    edges: list[float]  # bin edges of the shared axis, len = bins + 1
    density: list[list[float]]  # [bins][snapshots]: share of the snapshot's values in each bin
    mean: list[float]
    std: list[float]
    dead: list[float | None]


def distribution(snapshots: list, node_id: str, bins: int = 40) -> Distribution | None:
    """Re-bin each snapshot's histogram (own lo..hi) onto the common range of all of them."""
    entries = [(r.step, r.data.get("nodes", {}).get(node_id)) for r in thin(snapshots, MAX_SERIES_POINTS)]
    entries = [(s, e) for s, e in entries if e and e.get("hist") and e.get("lo") is not None]
    if not entries:
        return None
    lo = min(e["lo"] for _, e in entries)
    hi = max(e["hi"] for _, e in entries)
    width = (hi - lo) / bins if hi > lo else 1.0
    edges = [lo + i * width for i in range(bins + 1)]
    density = [[0.0] * len(entries) for _ in range(bins)]
    for column, (_, e) in enumerate(entries):
        _spread(e, lo, width, bins, density, column)
    return Distribution(
        steps=[s for s, _ in entries],
        edges=edges,
        density=density,
        mean=[e.get("mean") for _, e in entries],
        std=[e.get("std") for _, e in entries],
        dead=[e.get("dead") for _, e in entries],
    )


def _spread(entry: dict, lo: float, width: float, bins: int, density: list, column: int) -> None:
    counts, total = entry["hist"], sum(entry["hist"]) or 1
    own_width = (entry["hi"] - entry["lo"]) / len(counts) if entry["hi"] > entry["lo"] else 0.0
    for k, count in enumerate(counts):
        centre = entry["lo"] + (k + 0.5) * own_width
        index = min(bins - 1, max(0, math.floor((centre - lo) / width)))
        density[index][column] += count / total
