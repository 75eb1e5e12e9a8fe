"""The fair queue (issue 20, item 5) with a real RunManager and real workers: a paused run gives its worker up
to a waiting run after its grace and resumes from its checkpoint with its counters going on; Stop on such a
run keeps its checkpoint; the per-session cap also holds per client address, kept only as a keyed hash; a run
claimed by an app killed before its worker started goes back to the queue on restart."""

from __future__ import annotations

import subprocess

import pytest

from builder.spec.limits import limits_from
from engine.runs.liveness import pid_alive
from engine.runs.manager import RunManager
from engine.runs.run_queue import REQUEUED_MESSAGE, RunQueue, SessionFull
from engine.runs.store import RunStore
from engine.runs.store_schema import RELEASED_STATUS
from tests.test_run_queue import (  # noqa: F401 (fixtures)
    LONG,
    MLP,
    SHORT,
    XOR,
    fork_server,
    running,
    stop_and_wait,
)

GRACE = 0.3  # seconds: a test-small pause grace
ADDRESS = "203.0.113.7"  # a documentation address (RFC 5737)


def steps_of(manager: RunManager, run_id: str) -> list[int]:
    return [row.step for row in manager.metrics(run_id) if row.kind == "step"]


def test_a_paused_run_gives_its_worker_to_a_waiting_run_and_resumes_from_its_checkpoint(make_manager):
    manager = make_manager(workers=1, pause_grace_s=GRACE)
    first = manager.start_run("ann", MLP, LONG)
    running(manager, first)
    manager.pause(first)
    paused = manager.wait(first, 30, until=lambda r: r.status == "paused")
    assert not paused.released and paused.pid is not None  # nobody waits: it keeps its worker
    worker_pid = paused.pid

    waiting = manager.start_run("bob", XOR, SHORT)
    released = manager.wait(first, 60, until=lambda r: r.released)
    assert released.status == "paused" and released.pid is None and not released.waiting
    assert released.shown_status == RELEASED_STATUS
    assert RELEASED_STATUS == "paused (worker released to the queue; resumes from its checkpoint)"
    assert "its worker was released to the queue" in released.message and manager.has_checkpoint(first)
    assert manager.wait(waiting, 60).status == "finished"  # the one worker went to the waiting run
    with manager.lock:
        process = manager.processes.get(first)
    assert process is None or not process.is_alive()
    assert not pid_alive(worker_pid)  # its process ended

    step, before = released.progress["step"], steps_of(manager, first)
    active = released.final["active_seconds"]
    manager.pause(first)  # nothing to pause: no command is left for the next worker to obey
    manager.resume(first)
    assert manager.status(first).status in ("queued", "running")
    resumed = manager.wait(first, 60, until=lambda r: r.status == "running" and r.progress.get("step", 0) > step + 20)
    manager.wait(first, 60, until=lambda r: len(steps_of(manager, first)) > len(before))  # rows flush in batches
    assert not resumed.released and resumed.pid not in (None, worker_pid)
    assert resumed.progress["active_s"] >= active  # the training time goes on from the paused run's
    after = steps_of(manager, first)
    assert after[: len(before)] == before and after == sorted(set(after))  # no step written twice
    assert after[len(before)] > step  # the steps count on from the pause
    stopped = stop_and_wait(manager, first)
    assert stopped.status == "stopped" and stopped.final["steps"] == stopped.progress["step"] > step


def test_stop_ends_a_released_pause_with_its_checkpoint_and_continue_takes_it_up(make_manager):
    manager = make_manager(workers=1, pause_grace_s=GRACE)
    first = manager.start_run("ann", MLP, LONG)
    running(manager, first)
    manager.pause(first)
    manager.wait(first, 30, until=lambda r: r.status == "paused")
    blocker = manager.start_run("bob", MLP, LONG)
    step = manager.wait(first, 60, until=lambda r: r.released).progress["step"]
    running(manager, blocker)

    manager.stop(first)
    record = manager.status(first)
    assert record.status == "stopped" and not record.released and record.ended is not None
    assert record.message == f"stopped on request at step {step} while paused; checkpoint saved"
    stop_and_wait(manager, blocker)
    manager.continue_run(first, MLP)  # the same settings: epochs left to train
    # the record's progress can be ahead of the metric rows (they are flushed in batches): wait for the rows
    manager.wait(first, 60, until=lambda r: r.status == "running" and max(steps_of(manager, first), default=0) > step)
    after = steps_of(manager, first)
    assert after == sorted(set(after)) and after[-1] > step  # the curve goes on from the stop, no step twice


def test_the_per_session_cap_also_holds_per_client_address(make_manager, tmp_path):
    manager = make_manager(workers=1, per_session=2, per_address=3)
    ann = [manager.start_run("ann-key", MLP, LONG, address=ADDRESS) for _ in range(2)]
    new_key = manager.start_run("ann-new-key", MLP, LONG, address=ADDRESS)
    with pytest.raises(SessionFull) as refused:  # a third key from the same browser does not get a new cap
        manager.start_run("ann-third-key", XOR, SHORT, address=ADDRESS)
    message = str(refused.value)
    assert "one client address may have at most 3 active runs" in message
    assert "NETCANVAS" not in message and "3 from your address are active" in message  # in words (issue 22)
    assert not any(run in message for run in ann)  # another key's runs are counted, not named

    other = manager.start_run("cat", XOR, SHORT, address="198.51.100.20")  # another address: its own cap
    local = manager.start_run("dan", XOR, SHORT)  # no address (localhost): only the per-key cap
    stop_and_wait(manager, new_key)
    again = manager.start_run("ann-third-key", XOR, SHORT, address=ADDRESS)  # room again
    records = {r.id: r for r in manager.store.list_runs()}
    assert records[ann[0]].client == records[again].client != records[other].client
    assert records[local].client is None and len(records[ann[0]].client) == 16
    for path in tmp_path.rglob("*"):  # the address is kept nowhere, only its keyed hash
        if path.is_file():
            assert ADDRESS.encode() not in path.read_bytes(), path
    assert RunStore(tmp_path).client_tag(ADDRESS) == records[again].client  # the same key after a restart


def test_a_run_claimed_by_an_app_killed_before_its_worker_started_goes_back_to_the_queue(make_manager, tmp_path):
    store = RunStore(tmp_path)
    queue = RunQueue(store, workers=1, per_session=2)
    launch = {"weights_from": None, "resume": False}
    claimed = queue.submit("ann", XOR.to_dict(), SHORT.to_dict(), launch)
    behind = queue.submit("bob", XOR.to_dict(), SHORT.to_dict(), launch)
    gone = subprocess.Popen(["true"])  # the killed app: a pid no process has any more
    gone.wait()
    assert [r.id for r in queue.claim(gone.pid)] == [claimed]
    record = store.get(claimed)
    assert (record.status, record.ticket, record.pid) == ("queued", None, gone.pid)

    restarted = make_manager(workers=1)  # the app starts again on the same runs directory
    requeued = restarted.status(claimed)
    assert requeued.status in ("queued", "running", "finished") and requeued.status != "failed"
    done = restarted.wait(claimed, 60)
    assert done.status == "finished" and restarted.wait(behind, 60).status == "finished"
    assert done.launch["requeued"] == 1
    assert done.started < restarted.status(behind).started  # it went back to the front of the line


def test_a_claimed_run_goes_back_to_the_front_at_most_a_few_times(tmp_path):
    store = RunStore(tmp_path)
    queue = RunQueue(store, workers=1, per_session=2)
    run = queue.submit("ann", {}, {}, {"weights_from": None, "resume": False})
    later = queue.submit("bob", {}, {}, {"weights_from": None, "resume": False})
    for _ in range(3):
        assert [r.id for r in queue.claim(pid=1)] == [run]
        claimed = store.get(run)
        assert queue.requeue_claimed(claimed) is True
        assert queue.requeue_claimed(claimed) is None  # seen before the requeue: left alone
        assert store.get(run).message == REQUEUED_MESSAGE and store.get(run).ticket < store.get(later).ticket
    queue.claim(pid=1)
    assert queue.requeue_claimed(store.get(run)) is False  # the fourth time its starter is gone, it is failed instead


def test_the_fair_queue_settings_have_defaults_and_environment_overrides():
    caps, problems = limits_from({})
    assert caps.max_runs_per_address == 4 and caps.pause_grace_s == 120 and not problems
    caps, problems = limits_from({"NETCANVAS_MAX_RUNS_PER_ADDRESS": "9", "NETCANVAS_PAUSE_GRACE_S": "30"})
    assert caps.max_runs_per_address == 9 and caps.pause_grace_s == 30
