"""The runs table's rows: epochs count over the whole run (a DBN's pretraining phases too)."""

from __future__ import annotations

from engine.runs.store_schema import RunRecord
from ui.train.runs_table import _row


def record(progress: dict, epochs: int) -> RunRecord:
    return RunRecord(
        id="r1", owner="o", created=0.0, updated=0.0, started=0.0, ended=1.0, status="finished", message="",
        spec={"name": "dbn"}, config={"epochs": epochs, "dataset": "digits"}, pid=None, progress=progress,
        final={"loss": 0.5},
    )  # fmt: skip


def test_a_dbn_run_shows_its_pretraining_epochs_in_the_total():
    row = _row(record({"epoch": 15, "epochs": 15}, epochs=5), {})  # two RBMs x 5 epochs, then 5 fine-tuning
    assert row["epochs"] == "15 / 15"


def test_a_run_that_has_not_reported_yet_shows_its_settings_epochs():
    assert _row(record({}, epochs=7), {})["epochs"] == "0 / 7"


def test_a_dbn_run_shows_its_epochs_by_phase_as_the_worker_counted_them():
    progress = {"epoch": 27, "epochs": 35, "counter": "fine-tuning 7 / 15 · pretraining done 20 / 20"}
    assert _row(record(progress, epochs=15), {})["epochs"] == "fine-tuning 7 / 15 · pretraining done 20 / 20"


def test_a_som_run_shows_no_optimizer_and_its_own_measures():
    som = RunRecord(
        id="r2", owner="o", created=0.0, updated=0.0, started=0.0, ended=1.0, status="finished", message="",
        spec={"name": "som_iris"}, config={"epochs": 20, "dataset": "iris", "trainer": "som", "lr": 0.5},
        pid=None, progress={"epoch": 20, "epochs": 20}, final={"trainer": "som", "quantization_error": 0.25},
    )  # fmt: skip
    row = _row(som, {})
    assert row["optimizer"] == "" and row["rule"] == "som" and row["result"] == "quantization error 0.25"
