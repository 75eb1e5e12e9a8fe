"""The functions a page may run as a page job (engine/runs/page_jobs.py), by name: each takes the JSON arguments
the page sent and returns JSON (dicts, lists, numbers, text). They run in the child, never in the server.

The `probe_*` jobs exist for the tests: each ends its child one way a real job can (a segmentation fault,
memory, CPU time, a hang), so the tests see that each becomes a one-line message and the caller goes on.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import signal
import time

from builder.spec.spec import GraphSpec, parse_spec
from engine.errors import ConfigError, SpecInvalid
from engine.threads import apply_threads, choose_threads, read_cores, threads_for_spec
from engine.train.config import TrainConfig


def spec_from(data: dict) -> GraphSpec:
    spec, issues = parse_spec(data)
    if spec is None:
        raise SpecInvalid(issues)
    return spec


def config_from(data: dict) -> TrainConfig:
    config, problems = TrainConfig.from_dict(data)
    if config is None or problems:
        raise ConfigError("; ".join(problems) or "the training settings cannot be read")
    return config


def autograd_job(args: dict) -> dict:
    """{"spec", "config", "samples"?} -> AutogradGraph.to_dict() of one training step."""
    from engine.probes.autograd_graph import DEFAULT_SAMPLES, autograd_graph

    spec, config = spec_from(args["spec"]), config_from(args["config"])
    samples = int(args.get("samples", DEFAULT_SAMPLES))
    apply_threads(threads_for_spec(spec, dataclasses.replace(config, batch_size=samples)))  # the step's batch
    return autograd_graph(spec, config, samples).to_dict()


def preflight_job(args: dict) -> dict:
    """{"spec", "config"} -> the fields of engine.runs.manager.Readiness."""
    from engine.runs.manager import preflight

    spec, config = spec_from(args["spec"]), config_from(args["config"])
    apply_threads(threads_for_spec(spec, config))
    return dataclasses.asdict(preflight(spec, config))


def export_job(args: dict) -> dict:
    """{"bundle": a bundle directory} -> {"name"}: every format written, checked and reported beside the bundle
    (export.json, the zips), where engine.export.report.read_report finds it."""
    from engine.export.exporter import export_bundle
    from engine.export.formats import FORMATS

    apply_threads(choose_threads(None, read_cores))  # the bundle's size is not read here: one thread
    report = export_bundle(args["bundle"], FORMATS, make_zip=True)
    return {"name": report.name, "ok": report.ok}


def probe_segfault(args: dict) -> dict:
    os.kill(os.getpid(), signal.SIGSEGV)
    return {}


def probe_null_read(args: dict) -> dict:
    """A real crash in native code: reading address 0."""
    return {"value": ctypes.string_at(0)}


def probe_memory(args: dict) -> dict:
    """Holds `mb` megabytes (torch), or allocates until memory runs out."""
    import torch

    blocks = [torch.ones(int(args.get("mb", 1 << 20)) * 2**18) for _ in range(int(args.get("blocks", 1)))]
    return {"held": sum(b.numel() for b in blocks) * 4}


def probe_python_memory(args: dict) -> dict:
    blocks = [bytearray(256 * 2**20) for _ in range(int(args.get("blocks", 1000)))]
    return {"held": len(blocks)}


def probe_sleep(args: dict) -> dict:
    time.sleep(float(args["seconds"]))
    return {"slept": args["seconds"]}


def probe_spin(args: dict) -> dict:
    end, count = time.monotonic() + float(args["seconds"]), 0
    while time.monotonic() < end:
        count += 1
    return {"count": count}


JOBS = {
    "autograd_graph": autograd_job,
    "preflight": preflight_job,
    "export_bundle": export_job,
    "probe_segfault": probe_segfault,
    "probe_null_read": probe_null_read,
    "probe_memory": probe_memory,
    "probe_python_memory": probe_python_memory,
    "probe_sleep": probe_sleep,
    "probe_spin": probe_spin,
}
TITLES = {  # what stopped, in the message: "the autograd graph stopped: ..."
    "autograd_graph": "the autograd graph",
    "preflight": "the check of the data against the network",
    "export_bundle": "the export and its check",
    **{name: f"the test job {name}" for name in JOBS if name.startswith("probe_")},
}
