"""Print the Train page per template (issue 22's table): the settings it shows, the rule line, and after a short
run (1 epoch per phase, batches of 256 where the rule has batches) the tabs offered and the epoch counter on
the Run tab, in Your runs and on the Export page. Each template is opened and trained through Streamlit's
AppTest, as tests/test_train_page_rules.py does.

    OMP_NUM_THREADS=1 .venv/bin/python -m devtools.train_page_table [TEMPLATE ...]   # markdown on stdout
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from builder.library.templates import TEMPLATES
from engine.runs.store import RUNS_DIR_ENV

RUN_SECONDS = 300.0  # a template whose short run takes longer is reported as such
SHORT = {"ts_epochs": 1, "ts_pretrain_epochs": 1, "ts_batch_size": 256}


def _short_run(at) -> None:
    from tests.test_train_page import set_number

    shown = {w.key for w in at.number_input}
    for key, value in SHORT.items():
        if key in shown:
            set_number(at, key, value)


def open_train_page(name: str):
    from streamlit.testing.v1 import AppTest

    from tests.test_train_page import APP, PAGE

    at = AppTest.from_file(APP, default_timeout=300)  # a fresh server's first run imports torch: a loaded machine
    at.run()
    at.session_state["build_editor"].load(TEMPLATES[name].spec(), name)
    at.switch_page(PAGE).run()
    return at


def _row(name: str) -> list[str]:
    from tests.test_train_page import run_status

    at = open_train_page(name)
    labels = [w.label for kind in ("selectbox", "number_input", "checkbox") for w in getattr(at, kind)]
    settings = [label for label in labels if label not in ("Dataset", "Task", "Learning rule", "Seed", "Device")]
    _short_run(at)
    line = next((c.split("· ", 1)[1] for c in captions_now(at) if c.startswith("**Learning rule**")), "(none)")
    at.button(key="train_start").click().run()
    deadline = time.monotonic() + RUN_SECONDS
    while run_status(at) not in ("finished", "stopped") and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    at.run()
    status = run_status(at)
    if status != "finished":
        return [name, ", ".join(settings), line, f"(run {status} after {RUN_SECONDS:.0f} s)", "", "", ""]
    tabs = _tabs(at)
    epochs = next((m.value for m in at.metric if m.label == "Epochs"), "?")
    phases = next((c.split(": ", 1)[1] for c in captions_now(at) if c.startswith("Epochs by phase:")), "")
    table = str(at.dataframe[-1].value["epochs"].iloc[0])
    at.switch_page("app_pages/export.py").run()
    export = next((c.value.split(" · trained ")[1].split(" (")[0] for c in at.caption if " · trained " in c.value), "?")
    run_tab = f"{epochs}" + (f" ({phases})" if phases else "")
    return [name, ", ".join(settings), line, ", ".join(tabs) or "(none)", run_tab, table, export]


def captions_now(at) -> list[str]:
    return [c.value for c in at.caption]


def _tabs(at) -> list[str]:
    """The "Inside the network" tabs (a recurrent network's control has its own key, with its gates first)."""
    for key in ("train_panel", "train_panel_recurrent"):
        try:
            return list(at.segmented_control(key=key).options)
        except KeyError:
            continue
    return []


def main(names: list[str]) -> int:
    os.environ.setdefault(RUNS_DIR_ENV, tempfile.mkdtemp(prefix="train_page_table_"))
    head = ["template", "settings shown", "rule line", "tabs offered", "Run tab epochs", "Your runs", "Export"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in names or list(TEMPLATES):
        cells = _row(name)
        print("| " + " | ".join(c.replace("|", "/") for c in cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
