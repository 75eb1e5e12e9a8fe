"""A pre-run check's success is reused for the same network, settings and data file (engine/runs/page_jobs.py):
the Train page checks when it is drawn and the run manager checks again when Train is pressed."""

from __future__ import annotations

import pytest

from builder.library.templates import TEMPLATES
from engine.errors import DataError
from engine.runs import page_jobs
from engine.train.config import TrainConfig

pytestmark = pytest.mark.usefixtures("single_thread_torch")
IRIS = TEMPLATES["mlp_iris"]


@pytest.fixture
def children(monkeypatch) -> list[str]:
    """The names of the page jobs that started a child, with nothing remembered from earlier tests."""
    started: list[str] = []
    run = page_jobs._run

    def counted(name, args, limits):
        started.append(name)
        return run(name, args, limits)

    monkeypatch.setattr(page_jobs, "_reused", {}, raising=False)  # (raising=False: also against code without it)
    monkeypatch.setattr(page_jobs, "_run", counted)
    return started


def check(config: dict):
    parsed, _ = TrainConfig.from_dict(config)
    return page_jobs.run_page_job("preflight", {"spec": IRIS.spec().to_dict(), "config": parsed.to_dict()})


def test_the_same_check_twice_starts_one_child_and_gives_the_same_readiness(children):
    first, error = check(dict(IRIS.train))
    again, again_error = check(dict(IRIS.train))
    assert error is None and again_error is None and again == first and first["n_train"] > 0
    assert children == ["preflight"]
    check({**IRIS.train, "lr": 0.5})  # other settings: checked again
    assert children == ["preflight", "preflight"]


def test_a_csv_file_changed_since_its_check_is_checked_again(children, tmp_path):
    data = tmp_path / "flowers.csv"
    rows = [f"{i % 7 + 0.5},{i % 5 + 1.0},{i % 3 + 0.1},{i % 2 + 0.2},{['a', 'b', 'c'][i % 3]}" for i in range(60)]
    data.write_text("w,x,y,z,kind\n" + "\n".join(rows) + "\n")
    config = {**IRIS.train, "dataset": f"csv:{data}", "target": "kind"}
    _, error = check(config)
    assert error is None, error
    data.write_text("w,x,y,z,kind\n" + "\n".join(["oops,1,1,1,a", *rows]) + "\n")
    _, error = check(config)
    assert isinstance(error, DataError) and "'oops'" in str(error)
    assert children == ["preflight", "preflight"]
