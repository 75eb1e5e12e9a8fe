"""`python -m engine train ... --ray ADDRESS`: the run as a Ray actor on a cluster (engine.runs.ray_actor), the
same actor and run loop as a run of the app's ray executor, printing the same lines as a local `train`.

ADDRESS is what NETCANVAS_RAY_ADDRESS takes (engine.runs.executor): `auto`, `host:port`, `ray://host:port` or
`local`. An address that cannot be used is one line, exit 2. The actor belongs to this command (not detached):
it ends when the command ends, Ctrl-C included. Its events are drained every POLL_SECONDS; epoch and phase lines
(every event with --json) are printed as a local run prints them, the first line is the run's start message
(device, threads, data), and --out gets the actor's final bundle as bytes (no shared filesystem needed; the
bundle also holds optimizer.safetensors, as a checkpoint does). An actor lost mid-run (its node gone, killed) is
one line, "interrupted: ...", exit EXIT_INTERRUPTED (a script has no Continue: it runs the command again).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine.cli.inspect_cmds import EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_OK
from engine.cli.train_cmd import _human_line, _json_line, checked_spec_and_config
from engine.errors import ConfigError
from engine.runs.executor_types import RAY_NAMESPACE
from engine.runs.store import new_run_id
from engine.runs.store_schema import RunRecord
from engine.train.rule_card import stored_config

POLL_SECONDS = 0.1
WAIT_NOTE_SECONDS = 2.0  # an actor Ray has not placed after this long: say what it waits for
EXIT_INTERRUPTED = 4  # the run's actor was lost mid-run


def cmd_train_ray(args) -> int:
    checked = checked_spec_and_config(args)
    if checked is None:
        return EXIT_BAD_INPUT
    spec, config = checked
    from engine.runs.ray_cluster import connect, resources_for, waiting_why

    try:
        ray = connect(args.ray)
    except ConfigError as err:
        print(f"error: --ray: {err}")
        return EXIT_BAD_INPUT
    from engine.runs.ray_actor import RUN_ACTOR

    needs = resources_for(spec, config, ray.cluster_resources())
    record = _record(spec.to_dict(), config.to_dict())
    actor = RUN_ACTOR.options(
        name=record.id, namespace=RAY_NAMESPACE, num_cpus=needs["CPU"], num_gpus=needs["GPU"], max_restarts=0
    ).remote(record, None, False, None, needs["CPU"])
    try:
        ready = actor.ready.remote()
        if not ray.wait([ready], timeout=WAIT_NOTE_SECONDS)[0]:
            print(waiting_why(needs, ray.cluster_resources(), ray.available_resources()), flush=True)
        actor.run.remote()
        ending = _follow(ray, actor, args.json, config.epochs)
        if ending["status"] in ("failed", "interrupted"):
            print(f"error: {ending['message']}", flush=True)
            return EXIT_BAD_INPUT if ending["status"] == "failed" else EXIT_INTERRUPTED
        if args.out:
            _write_out(Path(args.out), actor, args.json)
    finally:
        try:
            ray.get(actor.close.remote(), timeout=60)  # its scratch folder
        except ray.exceptions.RayActorError:
            pass  # lost: its process (and with it its scratch folder's owner) is gone
        finally:
            ray.kill(actor, no_restart=True)
    return EXIT_DIVERGED if "loss became" in ending["message"] else EXIT_OK


def _record(spec: dict, config: dict) -> RunRecord:
    now = time.time()
    return RunRecord(
        id=f"cli-{new_run_id()}",
        owner="cli",
        created=now,
        updated=now,
        started=None,
        ended=None,
        status="queued",
        message="",
        spec=spec,
        config=stored_config(spec, config),
        pid=None,
        progress={},
        final=None,
    )


def _follow(ray, actor, as_json: bool, epochs: int) -> dict:
    """Print the actor's events until the run ends; its last status ({"status", "message"})."""
    after, progress, started = 0, {}, False
    while True:
        try:
            events = ray.get(actor.drain.remote(after))
        except ray.exceptions.RayActorError as err:
            why = f"its Ray actor was lost at step {progress.get('step', 0)} ({type(err).__name__})"
            return {"status": "interrupted", "message": f"interrupted: {why}; run the command again to train anew"}
        for seq, kind, payload in events:
            after = seq
            if kind == "write":
                progress = payload["progress"] or progress
                _print_rows(payload["metrics"], as_json, progress.get("epochs", epochs))
            elif kind == "status" and payload["status"] == "running" and not started:
                started = True
                message = payload["message"]
                print(_json_line({"kind": "start", "message": message}) if as_json else message, flush=True)
            elif kind == "status" and payload["status"] in ("finished", "stopped", "failed"):
                ending = {"status": payload["status"], "message": payload["message"] or ""}
                if payload["status"] != "failed":
                    _print_end(ending, progress, as_json)
                return ending
        if not events:
            time.sleep(POLL_SECONDS)


def _print_rows(rows: list, as_json: bool, epochs: int) -> None:
    for step, epoch, kind, data in rows:
        event = {"kind": kind, "step": step, "epoch": epoch, **data}
        line = _json_line(event) if as_json else _human_line(event, epochs)
        if line:
            print(line, flush=True)


def _print_end(ending: dict, progress: dict, as_json: bool) -> None:
    if as_json:
        print(_json_line({"kind": ending["status"], "message": ending["message"]}), flush=True)
    else:
        print(f"{ending['message']} · epochs {progress.get('counter', '')}", flush=True)


def _write_out(out: Path, actor, as_json: bool) -> None:
    """The actor's final bundle into --out, file by file (other files there are left alone)."""
    from engine.runs.ray_actor import read_actor_bundle

    files = read_actor_bundle(actor) or {}
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    if not as_json:
        print(f"bundle written to {out}")
    else:
        print(json.dumps({"kind": "bundle", "path": str(out)}), flush=True)
