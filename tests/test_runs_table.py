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
