"""Connecting to Ray and reading its cluster (engine.runs.ray_executor and the CLI's --ray use it).

    connect(address)                    # ray.init once per process; ConfigError in one line when it cannot
    cluster_devices(address)            # ["cuda", "cpu"] when some node has a GPU, else ["cpu"]
    resources_for(spec, config, total)  # {"CPU": n, "GPU": g}: what a run's actor asks Ray for
    waiting_why(needs, total, free)     # "waiting for the cluster: needs 1 GPU (the cluster has none)"

`address`: NETCANVAS_RAY_ADDRESS's value: `auto`, `host:port`, `ray://host:port`, or `local` (a private Ray
started in this process with this machine's CPUs and GPUs; it ends with the process). A process that has called
ray.init itself (a test, a script) is used as it is. Otherwise the engine/ and builder/ packages travel to the
cluster with the job (Ray's runtime_env py_modules, about 2 MB), so a node needs only the Python packages of
requirements.txt (torch, scikit-learn, safetensors, networkx) and Ray, not a copy of NetCanvas.
"""

from __future__ import annotations

import logging
import math
import socket
from pathlib import Path

from builder.analysis.validate import analyze
from builder.spec.spec import GraphSpec
from engine.errors import ConfigError
from engine.runs.executor_types import RAY_ADDRESS_ENV, RAY_NAMESPACE
from engine.threads import GRAIN, work_of
from engine.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]  # the repository: engine/ and builder/ go to the cluster from here
CONNECT_TIMEOUT_S = 5.0  # how long a host:port address has to accept a connection
MAX_ACTOR_CPUS = 8  # the most CPUs an automatic choice asks for: a run's threads stop paying off beyond this


def connect(address: str):
    """The ray module, connected to `address` (see the module doc); ConfigError naming the address when Ray is
    not installed or the cluster cannot be reached."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"{RAY_ADDRESS_ENV} is {address!r}, but Ray is not installed here: install it with "
            "`bash scripts/setup.sh --ray` (requirements-ray.txt), or unset the variable to run locally"
        ) from None
    if ray.is_initialized():
        return ray
    unreachable = _unreachable(address)
    if unreachable:
        raise ConfigError(f"cannot use the Ray cluster at {address!r}: {unreachable}")
    settings = {
        "namespace": RAY_NAMESPACE,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "runtime_env": {"py_modules": [str(ROOT / "engine"), str(ROOT / "builder")]},  # the code the actors run
    }
    try:
        if address == "local":
            ray.init(**settings)
        else:
            ray.init(address=address, **settings)
    except Exception as err:  # ConnectionError, ValueError (a malformed address), RuntimeError, TimeoutError
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot use the Ray cluster at {address!r}: {first}") from None
    return ray


def _unreachable(address: str) -> str:
    """Why nothing answers at a `host:port` (or `ray://host:port`) address, "" when something does or the address
    names no port (auto, local: Ray finds or starts its cluster itself). ray.init keeps retrying an address where
    nothing listens for minutes; this answers within CONNECT_TIMEOUT_S."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep:
        return ""
    if not port.isdigit() or not host:
        return "expected auto, local, host:port or ray://host:port"
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            return ""
    except OSError as err:
        why = err.strerror or type(err).__name__
        return f"nothing answers at {host}:{port} ({why}); is `ray start --head` running there?"


def cluster_devices(address: str) -> list[str]:
    """The devices a run may ask for on the cluster, besides "auto": cuda when some node has a GPU; cpu."""
    ray = connect(address)
    return ["cuda", "cpu"] if ray.cluster_resources().get("GPU", 0) >= 1 else ["cpu"]


def resources_for(spec: GraphSpec | None, config: TrainConfig | None, total: dict) -> dict:
    """{"CPU": threads, "GPU": 0 or 1} for a run: a GPU for device cuda (cuda:N too: Ray picks the GPU) and
    for auto when the cluster has one; CPUs from the threads setting, else one per GRAIN of a step's work
    (engine.threads), between 1 and MAX_ACTOR_CPUS."""
    if config is None:
        return {"CPU": 1, "GPU": 0}
    gpu = config.device.startswith("cuda") or (config.device == "auto" and total.get("GPU", 0) >= 1)
    if config.threads is not None:
        cpus = config.threads
    else:
        work = work_of(analyze(spec), config) if spec is not None else None
        cpus = 1 if work is None else max(1, min(MAX_ACTOR_CPUS, work.per_step // GRAIN))
    return {"CPU": cpus, "GPU": 1 if gpu else 0}


def needs_text(needs: dict) -> str:
    """{"CPU": 1, "GPU": 1} -> "1 GPU and 1 CPU"."""
    parts = [f"{n} GPU{'s' if n != 1 else ''}" for n in [needs.get("GPU", 0)] if n]
    parts += [f"{n} CPU{'s' if n != 1 else ''}" for n in [needs.get("CPU", 0)] if n]
    return " and ".join(parts) or "nothing"


def waiting_why(needs: dict, total: dict, free: dict) -> str:
    """Why Ray has not placed a run's actor, in one line: what it needs, and what the cluster lacks."""
    lacking = [kind for kind, n in needs.items() if n and total.get(kind, 0) < n]
    if lacking:
        has = "; ".join(f"the cluster has {_amount(total.get(kind, 0), kind)}" for kind in lacking)
        return f"waiting for the cluster: needs {needs_text(needs)} ({has}; it starts when a node that has joins)"
    busy = [kind for kind, n in needs.items() if n and free.get(kind, 0) < n]
    if busy:
        return f"waiting for the cluster: needs {needs_text(needs)} (all in use by other runs)"
    return f"starting its Ray actor ({needs_text(needs)}): Ray has the room and is starting its process"


def _amount(value: float, kind: str) -> str:
    count = int(math.floor(value))
    return f"no {kind}" if count == 0 else f"{count} {kind}{'s' if count != 1 else ''}"
