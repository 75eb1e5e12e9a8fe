"""The Train page on a run store found corrupt: it warns once, lists the run recovered from its bundle, and
shows no traceback. The run and its bundle are made without a worker (a checkpoint of a prepared network)."""

from __future__ import annotations

import pathlib

import pytest
from streamlit.testing.v1 import AppTest

from builder.library.templates import TEMPLATES
from engine.runs.checkpoint import save_checkpoint
from engine.runs.store import RUNS_DIR_ENV, RunStore
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
PAGE = "app_pages/train.py"
OWNER = "recovery-test-owner"


@pytest.fixture()
def runs_dir(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("recovery_runs")
    monkeypatch.setenv(RUNS_DIR_ENV, str(root))
    return root


def make_finished_run(root: pathlib.Path) -> str:
    """A finished run of the iris MLP, its bundle written as a worker writes its checkpoint."""
    template = TEMPLATES["mlp_iris"]
    spec = template.spec()
    config, problems = TrainConfig.from_dict({**template.train, "epochs": 2})
    assert config is not None, problems
    prepared = prepare_run(spec, config)
    store = RunStore(root)
    run = store.create_run(OWNER, spec.to_dict(), config.to_dict())
    final = {**prepared.trainer.metrics(), "status": "finished", "epochs": 2, "steps": 16, "val_accuracy": 0.875}
    model, optimizer = prepared.trainer.model, prepared.trainer.optimizer
    save_checkpoint(store.bundle_dir(run), spec, config, model, prepared.dataset, final, optimizer)
    store.set_status(run, "finished", "trained 2 epochs", final=final)
    store.close()
    return run


def test_a_corrupt_store_is_told_once_and_its_run_listed_again(runs_dir):
    run = make_finished_run(runs_dir)
    db = runs_dir / "runs.sqlite"
    db.write_bytes(b"garbage, not SQLite" * 10 + db.read_bytes()[190:])

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["owner"] = OWNER
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning if "was found corrupt" in w.value]
    assert len(warnings) == 1 and "1 run(s) were recovered" in warnings[0]
    assert "kept aside as runs.sqlite.corrupt-" in warnings[0]
    table = at.dataframe[0].value
    assert list(table["run"]) == [run] and list(table["status"]) == ["finished"]
    assert list(table["val_accuracy"]) == ["87.5%"]
    assert len(list(runs_dir.glob("runs.sqlite.corrupt-*.recovery.txt"))) == 1

    at.run()  # the page again: the store is not checked again, nothing more is kept aside
    assert not at.exception, at.exception
    assert len([p for p in runs_dir.iterdir() if p.name.startswith("runs.sqlite.corrupt-")]) == 2  # file, report
