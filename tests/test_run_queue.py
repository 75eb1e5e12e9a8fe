"""The run queue through RunManager with real workers: at most N workers (seen in the store), first in first
out, at most M active runs per session, Pause and Stop on waiting runs, continue training through the queue,
a dead worker's slot freed, a restarted app taking the queue up; an old store gaining the queue's columns;
the page's words for a place in line."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from builder.library.templates import TEMPLATES
from builder.spec.limits import limits_from
from engine.runs.manager import RunManager
from engine.runs.run_queue import Place, RunQueue, SessionFull
from engine.runs.store import RUNS_DIR_ENV, RunStore
from engine.train.config import TrainConfig
from tests.test_train_page import open_train_page, set_number, texts
from ui.train.run_view import ordinal, place_label, place_text

MLP = TEMPLATES["mlp_iris"].spec()
LONG = TrainConfig(dataset="iris", batch_size=16, epochs=100_000, device="cpu")  # runs until stopped
XOR = TEMPLATES["mlp_xor"].spec()
SHORT = TrainConfig(dataset="xor", optimizer="adam", lr=0.05, batch_size=4, epochs=2, device="cpu")


@pytest.fixture(scope="module", autouse=True)
def fork_server(tmp_path_factory):
    """The fork server imports torch once per test process (seconds on a busy machine): here, not in a test."""
    manager = RunManager(RunStore(tmp_path_factory.mktemp("warm")), workers=1)
    manager.wait(manager.start_run("warm", XOR, SHORT), 120)
    manager.close()


class SlotWatch:
    """Samples every few ms in a thread: the most runs seen holding a worker and running at once in the store,
    and the most of the manager's worker processes alive."""

    def __init__(self, manager: RunManager):
        self.manager, self.store = manager, manager.store
        self.most_holding = self.most_running = self.most_alive = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.is_set():
            records = [r for r in self.store.list_runs() if r.active and not r.waiting]
            self.most_holding = max(self.most_holding, len(records))
            self.most_running = max(self.most_running, sum(r.status == "running" for r in records))
            with self.manager.lock:
                processes = list(self.manager.processes.values())
            self.most_alive = max(self.most_alive, sum(p.is_alive() for p in processes))
            time.sleep(0.005)

    def stop(self) -> SlotWatch:
        self.done.set()
        self.thread.join()
        return self


def running(manager: RunManager, run_id: str):
    return manager.wait(run_id, 60, until=lambda r: r.status == "running" and r.progress.get("step", 0) > 0)


def stop_and_wait(manager: RunManager, run_id: str):
    manager.stop(run_id)
    return manager.wait(run_id, 30)


def place(manager: RunManager, run_id: str) -> tuple[int, int, bool]:
    found = manager.place(run_id)
    assert found is not None, f"{run_id} is not in the queue: {manager.status(run_id)}"
    return found.place, found.ahead, found.held


def test_at_most_n_workers_run_and_the_rest_start_first_in_first_out(make_manager):
    manager = make_manager(workers=2)
    watch = SlotWatch(manager)
    runs = [manager.start_run(f"owner{i}", MLP, LONG) for i in range(4)]
    assert [manager.status(r).waiting for r in runs] == [False, False, True, True]
    assert place(manager, runs[2]) == (1, 0, False) and place(manager, runs[3]) == (2, 1, False)
    assert manager.status(runs[3]).message == "waiting in the queue for a worker"
    for run in runs[:2]:
        running(manager, run)

    stop_and_wait(manager, runs[1])  # a slot frees: the first in line takes it, the second stays
    running(manager, runs[2])
    assert manager.status(runs[3]).waiting and manager.status(runs[3]).pid is None
    assert place(manager, runs[3]) == (1, 0, False)
    stop_and_wait(manager, runs[0])
    running(manager, runs[3])
    assert manager.places() == {}
    for run in runs[2:]:
        stop_and_wait(manager, run)
    watch.stop()
    assert watch.most_holding == 2 and watch.most_running == 2 and watch.most_alive == 2


def test_a_session_beyond_its_active_runs_is_refused_naming_the_cap_and_its_runs(make_manager, tmp_path):
    manager = make_manager(workers=1, per_session=2)
    first, second = manager.start_run("ann", MLP, LONG), manager.start_run("ann", MLP, LONG)
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    with pytest.raises(SessionFull) as refused:
        manager.start_run("ann", XOR, SHORT)
    message = str(refused.value)
    assert "a session may have at most 2 active runs at a time (queued, running or paused), and yours are" in message
    assert "NETCANVAS" not in message  # said in words, not by the server's setting (issue 22)
    assert f"{second} (waiting in the queue)" in message and first in message
    assert refused.value.holders == (first, second)
    assert len(manager.list_runs("ann")) == 2 and sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == folders

    other = manager.start_run("bob", XOR, SHORT)  # the cap is per session: bob waits behind ann's runs
    assert place(manager, other) == (2, 1, False)
    stop_and_wait(manager, second)
    third = manager.start_run("ann", XOR, SHORT)  # room again
    assert place(manager, third) == (2, 1, False)


def test_pause_keeps_a_waiting_run_in_line_unstarted_and_stop_takes_it_out(make_manager):
    manager = make_manager(workers=1)
    blocker = manager.start_run("ann", MLP, LONG)
    paused, stopped, after = (manager.start_run(owner, XOR, SHORT) for owner in ("bob", "cat", "dan"))
    running(manager, blocker)

    manager.pause(paused)
    record = manager.status(paused)
    assert record.status == "paused" and record.waiting and "keeps its place" in record.message
    assert place(manager, paused) == (1, 0, True) and place(manager, stopped) == (1, 0, False)
    manager.stop(stopped)
    record = manager.status(stopped)
    assert (record.status, record.message, record.pid) == ("stopped", "stopped before it started", None)
    assert manager.place(stopped) is None and manager.metrics(stopped) == []
    assert place(manager, after) == (1, 0, False)

    stop_and_wait(manager, blocker)
    assert manager.wait(after, 60).status == "finished"  # the paused run was passed over
    assert manager.dispatch() == []
    record = manager.status(paused)
    assert record.status == "paused" and record.waiting and record.pid is None and manager.metrics(paused) == []
    manager.resume(paused)
    done = manager.wait(paused, 60)
    assert done.status == "finished" and len([r for r in manager.metrics(paused) if r.kind == "epoch"]) == 2


def test_continue_training_joins_the_queue_and_counts_as_active(make_manager):
    manager = make_manager(workers=1, per_session=1)
    first = manager.start_run("ann", XOR, SHORT)
    assert manager.wait(first, 60).status == "finished"
    blocker = manager.start_run("bob", MLP, LONG)
    running(manager, blocker)

    manager.continue_run(first, XOR, TrainConfig(**{**SHORT.to_dict(), "epochs": 4}))
    record = manager.status(first)
    assert record.status == "queued" and record.waiting and record.message.startswith("continuing from step 2")
    assert place(manager, first) == (1, 0, False)
    rows = len(manager.metrics(first))
    assert manager.dispatch() == [] and manager.status(first).pid is None and len(manager.metrics(first)) == rows
    with pytest.raises(SessionFull, match=f"at most 1 active run .*yours are {first} \\(waiting in the queue\\)"):
        manager.start_run("ann", XOR, SHORT)

    stop_and_wait(manager, blocker)
    done = manager.wait(first, 60)
    assert done.status == "finished" and done.final["epochs"] == 4
    assert [r.epoch for r in manager.metrics(first) if r.kind == "epoch"] == [1, 2, 3, 4]


def test_a_worker_that_dies_frees_its_slot(make_manager):
    manager = make_manager(workers=1)
    doomed = manager.start_run("ann", MLP, LONG)
    waiting = manager.start_run("bob", XOR, SHORT)
    os.kill(running(manager, doomed).pid, signal.SIGKILL)
    assert manager.wait(waiting, 60).status == "finished"
    failed = manager.status(doomed)
    assert failed.status == "failed" and "killed by SIGKILL" in failed.message


def test_a_restarted_app_starts_the_runs_left_in_the_queue(make_manager, tmp_path):
    before = make_manager(workers=1)
    busy = before.start_run("ann", MLP, LONG)
    queued = before.start_run("bob", XOR, SHORT)
    running(before, busy)
    before.close()  # the app goes away: its queue thread first, then its worker
    os.kill(before.status(busy).pid, signal.SIGKILL)
    gone = subprocess.Popen(["true"])
    gone.wait()
    store = before.store
    starting = store.create_run("cat", XOR.to_dict(), SHORT.to_dict())  # claimed by the old app, never started
    store.set_status(starting, "queued", "starting its worker", pid=gone.pid)

    after = make_manager(workers=1)  # the restarted app, on the same runs directory
    assert after.wait(queued, 60).status == "finished"
    assert after.status(busy).status == "failed"
    assert after.wait(starting, 60).status == "finished"  # claimed, never started: back in the queue (issue 20)


def test_a_store_made_before_the_queue_gains_its_columns(tmp_path):
    conn = sqlite3.connect(tmp_path / "runs.sqlite")
    conn.executescript(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, "
        "started REAL, ended REAL, status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', spec TEXT NOT NULL, "
        "config TEXT NOT NULL, pid INTEGER, progress TEXT NOT NULL DEFAULT '{}', final TEXT);"
        "INSERT INTO runs (id, owner, created, updated, status, spec, config) "
        "VALUES ('20240101-000000-aaaaaa', 'ann', 1, 1, 'finished', '{}', '{}');"
    )
    conn.close()
    store = RunStore(tmp_path)
    old = store.get("20240101-000000-aaaaaa")
    assert old.status == "finished" and old.ticket is None and not old.waiting
    queue = RunQueue(store, workers=1, per_session=2)
    first = queue.submit("ann", {}, {}, {"weights_from": None, "resume": False})
    second = queue.submit("bob", {}, {}, {"weights_from": None, "resume": False})
    assert store.get(second).launch == {"weights_from": None, "resume": False}
    assert [r.id for r in queue.claim(pid=1)] == [first] and queue.claim(pid=1) == []  # one worker
    assert queue.places() == {second: Place(second, 1, 0, False, 1, 1)}


def test_the_caps_have_defaults_and_environment_overrides():
    caps, problems = limits_from({})
    assert caps.max_workers == max(1, (os.cpu_count() or 1) - 1) and caps.max_runs_per_session == 2
    caps, problems = limits_from({"NETCANVAS_MAX_WORKERS": "3", "NETCANVAS_MAX_RUNS_PER_SESSION": "0"})
    assert caps.max_workers == 3 and caps.max_runs_per_session == 2
    assert problems == ["NETCANVAS_MAX_RUNS_PER_SESSION='0' is not a positive integer; using 2"]


def test_the_page_says_where_a_waiting_run_stands():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
        "111th",
    ]
    third = Place("r", place=3, ahead=2, held=False, workers=2, busy=2)
    assert (
        place_text(third) == "queued: 3rd in line, 2 runs ahead; 2 of 2 workers busy. It starts when a worker is free."
    )
    assert place_label(third) == "queued (3rd in line)"
    held = Place("r", place=1, ahead=0, held=True, workers=1, busy=1)
    assert place_text(held).startswith("paused in the queue: it keeps its place (1st in line, next to start) but")
    assert place_label(held) == "paused in the queue (1st in line)"


def test_the_train_page_shows_a_waiting_run_in_line_and_pause_and_stop_act_on_it(tmp_path, monkeypatch):
    from ui.train.page_state import manager

    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path))
    at = open_train_page("mlp_iris")
    mgr = manager()
    mgr.queue.workers = 1  # one worker, whatever this machine's cores
    blocker = mgr.start_run("another session", MLP, LONG)
    running(mgr, blocker)
    set_number(at, "ts_epochs", 2)
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_run"]

    def infos() -> list[str]:
        return [i.value for i in at.info]

    assert infos()[0] == "queued: 1st in line, next to start; 1 of 1 worker busy. It starts when a worker is free."
    assert list(at.dataframe[0].value["status"]) == ["queued (1st in line)"]
    assert "waiting in the queue for a worker" in texts(at)
    assert not at.get("progress") and not at.metric  # no progress bar, epoch, speed or time left while it waits
    at.button(key="train_pause").click().run()
    assert infos()[0].startswith("paused in the queue: it keeps its place (1st in line, next to start) but")
    assert list(at.dataframe[0].value["status"]) == ["paused in the queue (1st in line)"]
    assert "train_resume" in [b.key for b in at.button]
    at.button(key="train_stop").click().run()
    assert mgr.status(run_id).status == "stopped" and "stopped before it started" in texts(at)
    assert not [i for i in infos() if "in line" in i]
    assert list(at.dataframe[0].value["status"]) == ["stopped"]
    assert "train_continue" not in [b.key for b in at.button]  # nothing to continue from
    stop_and_wait(mgr, blocker)
