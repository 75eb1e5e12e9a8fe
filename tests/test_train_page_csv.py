"""The Train page reads and parses an uploaded CSV once per upload (keyed by its content digest), not once per
rerun; the data check (preflight) runs in a page job, so the page shows its message as before."""

from __future__ import annotations

import uuid

import ui.train.settings as settings
from tests.test_train_page import open_train_page, runs_dir, texts  # noqa: F401 (runs_dir: the store fixture)


def test_an_uploaded_csv_is_parsed_once_over_several_reruns(monkeypatch):
    calls = []
    real_preview = settings._preview

    def counting_preview(data: bytes):
        calls.append(len(data))
        return real_preview(data)

    monkeypatch.setattr(settings, "_preview", counting_preview)
    at = open_train_page("mlp_iris")
    at.selectbox(key="ts_dataset").set_value("csv").run()
    rows = [f"{i},{i % 3},{i % 5},{i % 7},{'abc'[i % 3]}\n" for i in range(40)]
    fresh_row = f"{uuid.uuid4().int % 10**9},0,0,0,a\n"  # a digest no earlier test has cached
    content = b"a,b,c,d,kind\n" + "".join(rows).encode() + fresh_row.encode()
    at.file_uploader(key="ts_csv").set_value(("fresh.csv", content, "text/csv")).run()
    assert at.dataframe[0].value.shape == (5, 5)
    for _ in range(3):
        at.run()
        assert not at.exception, at.exception
    at.selectbox(key="ts_target").set_value("a").run()  # another target: the same file, not parsed again
    assert "CSV file 'fresh.csv' column 'kind' row 1 (line 2): 'a' is not a finite number" in texts(at)
    assert calls == [len(content)]
