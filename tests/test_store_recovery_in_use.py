"""A run store that turns corrupt while the app has it open: the next query that meets it (a new session's
thread opening its connection, a query reading a damaged page) recovers it (the file kept aside, the runs
listed again from their bundles) instead of raising until a restart, and the page says so."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from streamlit.testing.v1 import AppTest

from engine.runs.store import RunStore, StoreRecovered
from tests.test_store_recovery_page import APP, OWNER, PAGE, make_finished_run, runs_dir  # noqa: F401 (fixture)


def garble(db) -> None:
    """Overwrite the database's first pages as a disk error or a stray write would."""
    with open(db, "r+b") as f:
        f.write(b"garbage, not SQLite" * 400)


def in_new_thread(call):
    """Run `call` in a fresh thread, as Streamlit runs each session's script (its own store connection)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def test_a_read_on_a_store_gone_corrupt_in_use_recovers_it_and_answers(runs_dir):  # noqa: F811
    run = make_finished_run(runs_dir)
    store = RunStore(runs_dir)
    assert [r.id for r in store.list_runs(OWNER)] == [run] and store.recovery is None
    garble(runs_dir / "runs.sqlite")
    assert [r.id for r in in_new_thread(lambda: store.list_runs(OWNER))] == [run]  # from the recovered store
    assert store.recovery is not None and store.recovery.recovered == (run,)
    assert len(list(runs_dir.glob("runs.sqlite.corrupt-*.recovery.txt"))) == 1
    assert store.get(run).status == "finished"


def test_a_write_on_a_store_gone_corrupt_in_use_says_so_and_the_next_try_works(runs_dir):  # noqa: F811
    run = make_finished_run(runs_dir)
    store = RunStore(runs_dir)
    store.list_runs(OWNER)
    garble(runs_dir / "runs.sqlite")
    with pytest.raises(StoreRecovered, match="was found corrupt"):
        in_new_thread(lambda: store.send_command(run, "stop"))
    assert [r.id for r in store.list_runs(OWNER)] == [run]  # this thread's old connection is replaced
    store.send_command(run, "stop")
    assert store.take_commands(run) == ["stop"]


def test_the_train_page_tells_of_a_recovery_made_while_it_was_open(runs_dir):  # noqa: F811
    run = make_finished_run(runs_dir)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["owner"] = OWNER
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception and not [w for w in at.warning if "was found corrupt" in w.value]
    garble(runs_dir / "runs.sqlite")
    at.run()
    assert not at.exception, at.exception
    assert len([w for w in at.warning if "was found corrupt" in w.value]) == 1
    assert list(at.dataframe[0].value["run"]) == [run]
