"""The caps that keep one network or one upload from taking the server down, in one place.

Each has a default and an environment variable that overrides it (read once per process):

| cap                 | default     | variable                    | checked                                       |
| ------------------- | ----------- | --------------------------- | --------------------------------------------- |
| nodes per graph     | 10,000      | NETCANVAS_MAX_NODES         | by validation, before anything is analysed (*) |
| edges per graph     | 2 x nodes   | NETCANVAS_MAX_EDGES         | by the parser as written; by validation (*) |
| inputs of one node  | 256         | NETCANVAS_MAX_INPUTS_PER_NODE | by the parser: a node's incoming edges |
| size of a dimension | 1,000,000   | NETCANVAS_MAX_DIM           | by validation: size parameters, output shapes |
| parameters          | 200,000,000 | NETCANVAS_MAX_PARAMS        | by validation: per node and for the network   |
| activation memory   | 4,096 MB    | NETCANVAS_MAX_ACTIVATION_MB | before a run, at its batch size               |
| network file        | 5 MB        | NETCANVAS_MAX_SPEC_MB       | by the Build page's upload and the CLI        |
| CSV file            | 200 MB      | NETCANVAS_MAX_CSV_MB        | before a CSV is read (engine.user_files)      |
| training workers    | cores - 1   | NETCANVAS_MAX_WORKERS       | by the run queue: runs beyond it wait, queued |
| active runs/session | 2           | NETCANVAS_MAX_RUNS_PER_SESSION | by the run queue: a start beyond it is refused |
| active runs/address | 4           | NETCANVAS_MAX_RUNS_PER_ADDRESS | the same, over all keys of one client address |
| pause grace         | 120 s       | NETCANVAS_PAUSE_GRACE_S     | a paused run frees its worker if runs wait |
| session lifetime    | 30 days     | NETCANVAS_SESSION_DAYS      | unused this long: its saved work and uploads go |

(*) Counted as written, then with every block use replaced by its body and a Recurrent's cell once per
direction, from the definitions alone (builder/spec/graph_size.py), before any shape is analysed.
(Edges: unless set, twice the node cap. Expanded, the densest template has 1.17 edges per node (gru_cells_parity;
a ResNet 1.07): every node reads one input, a merge a few. Export time grows with edges as with nodes (TorchScript
about 3 ms an edge into an Add, 5 ms a node of a chain), so twice the node cap keeps the worst export within the
node cap's order. Inputs of one node: the widest merge we know of, a DenseNet-264 layer concatenating every earlier
one, reads 65; 256 leaves room, and a file of 100,000 copies of one edge is refused at once, naming the node.
Training workers: at least 1. A session's active runs are those queued, running or paused; engine.runs.run_queue.
A client address is Streamlit's st.context.ip_address, kept only as a keyed hash; none (localhost) is not capped.)

Validation reports an excess as an error naming the node (or the graph) and the cap, so nothing is compiled,
trained, imported or exported for a network over a cap.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, fields

MB = 1024 * 1024
DEFAULT_WORKERS = max(1, (os.cpu_count() or 1) - 1)  # one core is left to the app's server
EDGES_PER_NODE = 2  # the edge cap, unless set, is this many times the node cap


@dataclass(frozen=True)
class Limits:
    max_nodes: int = 10_000
    max_edges: int = 0  # 0: EDGES_PER_NODE x max_nodes (set in __post_init__)
    max_inputs_per_node: int = 256  # incoming edges of one node
    max_dim: int = 1_000_000
    max_params: int = 200_000_000  # 800 MB of float32 weights, 3.2 GB with Adam's state and the gradients
    max_activation_mb: int = 4096
    max_spec_mb: int = 5
    max_csv_mb: int = 200  # a CSV file the CLI or a run reads (engine.data.csv_dataset)
    max_workers: int = DEFAULT_WORKERS  # training worker processes at once; more runs wait in the queue
    max_runs_per_session: int = 2  # queued, running or paused runs of one session key
    max_runs_per_address: int = 4  # the same, over all the session keys of one client address
    pause_grace_s: int = 120  # a paused run with runs waiting gives its worker up after this (engine.runs.worker_loop)
    session_days: int = 30  # a session unused this long loses its saved work and uploads (session_cleanup)

    def __post_init__(self) -> None:
        if self.max_edges <= 0:
            object.__setattr__(self, "max_edges", EDGES_PER_NODE * self.max_nodes)

    @property
    def max_spec_bytes(self) -> int:
        return self.max_spec_mb * MB


ENV_NAMES = {f.name: "NETCANVAS_" + f.name.upper() for f in fields(Limits)}


def limits_from(env: dict) -> tuple[Limits, list[str]]:
    """The caps with the overrides found in `env`, and one line per override that is not a positive integer
    (that one keeps its default)."""
    values, bad = {}, []
    for name, variable in ENV_NAMES.items():
        raw = env.get(variable)
        if raw is None:
            continue
        if raw.strip().isdigit() and int(raw) > 0:
            values[name] = int(raw)
        else:
            bad.append((name, variable, raw))
    caps = Limits(**values)
    problems = [f"{var}={raw!r} is not a positive integer; using {getattr(caps, name):,}" for name, var, raw in bad]
    return caps, problems


@functools.cache
def limits() -> Limits:
    """The caps of this process (the environment's overrides over the defaults); a bad override is said once
    on stderr and keeps the default."""
    caps, problems = limits_from(dict(os.environ))
    for problem in problems:
        print(f"netcanvas: {problem}", file=sys.stderr)
    return caps


def cap_name(field: str) -> str:
    """How a message names a cap: its environment variable, which is how it is changed."""
    return ENV_NAMES[field]
