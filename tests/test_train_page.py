"""The Train page through Streamlit's AppTest: settings, refusals, a run from Train to its end, the runs list,
a reload through the URL, two sessions apart, CSV upload, edit and continue. Runs go to a temporary store."""

from __future__ import annotations

import pathlib
import time

import pytest
from streamlit.testing.v1 import AppTest

from builder.library.templates import TEMPLATES
from engine.runs.store import RUNS_DIR_ENV
from tests.apptest_canvas import canvas_data
from tests.helpers import make_spec

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
PAGE = "app_pages/train.py"


@pytest.fixture(autouse=True)
def runs_dir(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("page_runs")
    monkeypatch.setenv(RUNS_DIR_ENV, str(root))
    return root


def open_train_page(template: str | None = "mlp_iris", query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if template is not None:
        at.session_state["build_editor"].load(TEMPLATES[template].spec(), template)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def set_number(at: AppTest, key: str, value) -> None:
    at.number_input(key=key).set_value(value).run()
    assert not at.exception, at.exception


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("error", "warning", "success", "caption", "markdown") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def wait_for(at: AppTest, predicate, timeout: float = 60.0) -> None:
    """Rerun the page until `predicate` holds, then once more so the page shows that state."""
    deadline = time.monotonic() + timeout
    while not predicate(at):
        assert time.monotonic() < deadline, texts(at)
        time.sleep(0.2)
        at.run()
        assert not at.exception, at.exception
    at.run()


def run_status(at: AppTest) -> str | None:
    run_id = at.session_state["train_run"]
    if not run_id:
        return None
    from ui.train.page_state import manager

    return manager().status(run_id).status


def test_settings_start_from_the_template_and_show_what_the_run_will_be():
    at = open_train_page("mlp_iris")
    assert at.selectbox(key="ts_dataset").value == "iris"
    assert at.number_input(key="ts_epochs").value == TEMPLATES["mlp_iris"].train["epochs"]
    assert (
        at.selectbox(key="ts_device").options[0].startswith("auto") and "cpu" in at.selectbox(key="ts_device").options
    )
    assert "Task **classification**, 3 classes; loss **cross_entropy**" in texts(at)
    assert not at.button(key="train_start").disabled
    at.selectbox(key="ts_loss").set_value("mse").run()
    assert "loss **mse_probabilities**" in texts(at)
    at.selectbox(key="ts_loss").set_value("l1").run()
    assert "loss 'l1' does not fit task 'classification'; use one of cross_entropy, mse" in texts(at)
    assert at.button(key="train_start").disabled


def test_settings_out_of_range_are_refused_before_a_run_starts():
    at = open_train_page()
    set_number(at, "ts_lr", -1.0)
    assert "Learning rate must be between 1e-07 and 10; got -1" in texts(at)
    assert at.button(key="train_start").disabled
    set_number(at, "ts_lr", 0.01)
    set_number(at, "ts_batch_size", 0)
    assert "Batch size must be between 1 and 65536; got 0" in texts(at)


def test_a_dataset_that_does_not_fit_the_input_says_what_to_change():
    at = open_train_page("mlp_iris")
    at.selectbox(key="ts_dataset").set_value("digits").run()
    assert "Input 'x' has shape [4] but dataset 'digits' gives [64] features; set Input shape to [64]" in texts(at)
    assert at.button(key="train_start").disabled


def test_train_runs_to_the_end_and_the_run_is_listed_and_found_again_after_a_reload():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 3)
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_run"]
    assert run_id and at.query_params["run"] == run_id
    wait_for(at, lambda a: run_status(a) == "finished")
    assert any("Loss and accuracy" in str(c.proto.spec) for c in at.get("plotly_chart"))
    assert "trained 3 epochs" in texts(at)
    table = at.dataframe[0].value
    assert list(table["run"]) == [run_id] and list(table["status"]) == ["finished"]

    reloaded = open_train_page(None, query={"owner": at.session_state["train_owner"], "run": run_id})
    assert reloaded.session_state["train_run"] == run_id
    assert f"Run `{run_id}`" in texts(reloaded) and "finished" in texts(reloaded)


def test_two_sessions_do_not_see_each_others_runs():
    alice = open_train_page("mlp_iris")
    set_number(alice, "ts_epochs", 2)
    alice.button(key="train_start").click().run()
    run_id = alice.session_state["train_run"]
    bob = open_train_page("mlp_iris", query={"run": run_id})  # bob has alice's run id, not her owner key
    assert bob.session_state["train_owner"] != alice.session_state["train_owner"]
    assert bob.session_state["train_run"] is None and run_id not in texts(bob)
    assert not bob.dataframe  # no runs of his own
    wait_for(alice, lambda a: run_status(a) == "finished")


def test_pause_resume_stop_from_the_page():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 100_000)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "running")
    at.button(key="train_pause").click().run()
    wait_for(at, lambda a: run_status(a) == "paused")
    at.button(key="train_resume").click().run()
    wait_for(at, lambda a: run_status(a) == "running")
    at.button(key="train_stop").click().run()
    wait_for(at, lambda a: run_status(a) == "stopped")
    assert "stopped on request" in texts(at) and not at.button(key="train_start").disabled


def test_csv_upload_previews_and_refuses_non_numeric_features():
    at = open_train_page("mlp_iris")
    at.selectbox(key="ts_dataset").set_value("csv").run()
    assert "upload a CSV file" in texts(at)
    bad = b"a,b,c,d,label\n1,2,3,x,0\n1,2,3,4,1\n"
    at.file_uploader(key="ts_csv").set_value(("bad.csv", bad, "text/csv")).run()
    assert at.dataframe[0].value.shape == (2, 5)  # the preview
    assert "column 'd' row 1 (line 2): 'x' is not a finite number" in texts(at)
    assert at.button(key="train_start").disabled
    rows = [f"{i},{i % 3},{i % 5},{i % 7},{'abc'[i % 3]}\n" for i in range(40)]
    good = b"a,b,c,d,kind\n" + "".join(rows).encode()
    at.file_uploader(key="ts_csv").set_value(("good.csv", good, "text/csv")).run()
    assert at.selectbox(key="ts_target").value == "kind"
    assert "Task **classification**, 3 classes" in texts(at) and not at.button(key="train_start").disabled
    at.selectbox(key="ts_target").set_value("a").run()  # then the text column 'kind' is a feature
    assert "CSV file 'good.csv' column 'kind' row 1 (line 2): 'a' is not a finite number" in texts(at)


def test_edit_and_continue_keeps_the_trained_layers_and_says_so():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 2)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "finished")
    nodes = [(n.id, n.op, n.params) for n in TEMPLATES["mlp_iris"].spec().nodes]
    nodes = [*nodes[:3], ("fc_mid", "Linear", {"out_features": 16}), ("act_mid", "Tanh"), nodes[3]]
    edited = make_spec(nodes, [(a[0], b[0]) for a, b in zip(nodes, nodes[1:])], name="mlp_iris")
    at.session_state["build_editor"].load(edited, "the edited network")  # as if drawn on the Build page
    at.run()
    set_number(at, "ts_epochs", 4)
    assert "Continue training would run 2 more epochs (to 4)" in texts(at)
    at.button(key="train_continue").click().run()
    assert "kept the trained weights of fc1, fc2; initialised fresh: fc_mid (new node)" in texts(at)
    wait_for(at, lambda a: run_status(a) == "finished")
    from ui.train.page_state import manager

    assert [e.epoch for e in manager().edits(at.session_state["train_run"])] == [2]


def test_a_network_opened_with_trained_weights_starts_from_them():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 2)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "finished")
    from ui.train.page_state import manager

    first = at.session_state["train_run"]
    bundle = str(manager().store.bundle_dir(first))
    at.session_state["build_editor"].load_bundle(TEMPLATES["mlp_iris"].spec(), bundle, "a trained bundle")
    at.run()
    shown = f"runs/{first}/bundle"  # the page names no server path: the runs folder is said as 'runs'
    assert f"The network carries trained weights from `{shown}`" in texts(at)
    at.button(key="train_start").click().run()
    assert at.session_state["train_run"] != first
    assert f"starts from the trained weights of {shown}: kept the trained weights of fc1, fc2" in texts(at)
    assert str(manager().store.root) not in texts(at)
    wait_for(at, lambda a: run_status(a) == "finished")


def test_a_diverged_run_and_a_crashed_worker_are_shown_with_their_message():
    import os
    import signal

    from ui.train.page_state import manager

    spec = make_spec(
        [("x", "Input", {"shape": [20, 1]}), ("flat", "Flatten"), ("fc", "Linear", {"out_features": 1})],
        [("x", "flat"), ("flat", "fc")],
        name="sine_line",
    )
    at = open_train_page(None)
    at.session_state["build_editor"].load(spec, "a linear model")
    at.run()
    at.selectbox(key="ts_dataset").set_value("sine").run()
    at.selectbox(key="ts_optimizer").set_value("sgd").run()
    set_number(at, "ts_lr", 10.0)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) not in ("queued", "running"))
    assert run_status(at) == "stopped"
    assert any("loss became" in w.value and "kept the last good weights" in w.value for w in at.warning)

    set_number(at, "ts_lr", 0.001)
    set_number(at, "ts_epochs", 100_000)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "running")
    os.kill(manager().status(at.session_state["train_run"]).pid, signal.SIGKILL)
    wait_for(at, lambda a: run_status(a) == "failed")
    assert any("The run failed: the worker process was killed by SIGKILL" in e.value for e in at.error)
    assert not at.button(key="train_start").disabled  # the app goes on


def replay_table(at: AppTest) -> dict[str, str]:
    """{node: parameter gradient norm} as the replay's table shows them."""
    table = at.table[0].value
    return dict(zip(table["node"], table["parameter grad"]))


def replay_network(at: AppTest) -> tuple[str, dict[str, str | None]]:
    """The replay's heading and the badge (gradient norm) on each card of its read-only canvas."""
    data = canvas_data(at, "train_replay_network")
    assert data["read_only"] and data["palette"] == []
    heading = next(m.value for m in at.markdown if m.value.startswith("**Your network at step"))
    return heading, {n["id"]: n["badge"] for n in data["nodes"]}


def test_a_finished_run_replays_its_gradients_snapshot_by_snapshot():
    from ui.train.page_state import manager

    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 4)
    assert not at.table  # no replay before a run has ended
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "finished")
    run_id = at.session_state["train_run"]
    rows = manager().snapshots(run_id, "step")
    steps = [r.step for r in rows]
    assert len(rows) >= 20 and steps[-1] == manager().status(run_id).progress["step"]
    assert f"{len(rows)} step snapshots recorded, at steps {steps[0]}, {steps[1]}," in texts(at)

    def shows(index: int) -> bool:
        nodes = rows[index].data["nodes"]
        expected = {n: f"{nodes[n]['grad']:.3g}" if nodes[n].get("grad") is not None else "–" for n in nodes}
        heading, badges = replay_network(at)
        grads = {n: f"{nodes[n]['grad']:.2g}" for n in nodes if (nodes[n].get("grad") or 0) > 0}
        shown = {n: b for n, b in badges.items() if b is not None}
        return (
            replay_table(at) == expected and heading == f"**Your network at step {steps[index]:,}**" and shown == grads
        )

    slider = at.select_slider(key=f"train_replay_slider_{run_id}")
    assert slider.value == len(rows) - 1 and shows(len(rows) - 1)  # the final step first
    slider.set_value(2).run()
    assert shows(2) and not shows(len(rows) - 1)  # the norms of step steps[2], not of the final step

    at.button(key="train_replay_play").click().run()  # playing: one snapshot further per tick
    assert shows(3)
    at.run()
    assert shows(4) and at.select_slider(key=f"train_replay_slider_{run_id}").value == 4
    at.button(key="train_replay_pause").click().run()
    at.run()
    assert shows(4) and at.button(key="train_replay_play")


def test_mixed_precision_and_deterministic_mode_are_settings_of_the_run():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 2)
    assert (
        at.selectbox(key="ts_amp").options == ["off", "bf16", "fp16"] and not at.checkbox(key="ts_deterministic").value
    )
    at.selectbox(key="ts_amp").set_value("bf16").run()
    at.checkbox(key="ts_deterministic").check().run()
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "finished")
    from ui.train.page_state import manager

    config = manager().status(at.session_state["train_run"]).config
    assert config["amp"] == "bf16" and config["deterministic"] is True


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_a_paused_run_shows_no_speed_and_resume_shows_running_on_the_next_draw():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 100_000)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "running" and metric(a, "Steps per second") != "–")
    at.button(key="train_pause").click().run()
    wait_for(at, lambda a: run_status(a) == "paused")
    assert metric(at, "Steps per second") == "–" and metric(at, "Time left") == "–"
    at.button(key="train_resume").click().run()  # the draw right after the click
    assert "**running**" in texts(at) and ("resuming at step" in texts(at) or "resumed at step" in texts(at))
    assert [b.key for b in at.button if b.key in ("train_pause", "train_resume")] == ["train_pause"]
    at.button(key="train_stop").click().run()
    wait_for(at, lambda a: run_status(a) == "stopped")
    epochs, step = metric(at, "Epochs"), metric(at, "Step").replace(",", "")
    assert f"at step {step}" in texts(at) and f"({epochs} epochs done)" in texts(at)  # counter and message agree


def test_a_pause_that_lands_while_the_page_draws_still_brings_the_resume_button(monkeypatch):
    # the worker can pause between the page drawing the run's buttons and drawing its live view: the live
    # view must then redraw the page, not show "paused" under a Pause button that no poll corrects
    import ui.train.controls as controls
    from ui.train.page_state import manager

    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 100_000)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "running" and metric(a, "Steps per second") != "–")
    draw_buttons, paused = controls.draw_controls, []

    def draw_buttons_then_pause(*args, **kwargs):
        draw_buttons(*args, **kwargs)
        if not paused:  # once: right after the buttons of a running run are drawn
            run_id = at.session_state["train_run"]
            manager().pause(run_id)
            paused.append(manager().wait(run_id, until=lambda r: r.status == "paused"))

    monkeypatch.setattr(controls, "draw_controls", draw_buttons_then_pause)
    at.run()
    assert not at.exception, at.exception
    assert paused and "**paused**" in texts(at)
    assert [b.key for b in at.button if b.key in ("train_pause", "train_resume")] == ["train_resume"]
    at.button(key="train_stop").click().run()
    wait_for(at, lambda a: run_status(a) == "stopped")


def test_continue_is_not_offered_after_loading_an_unrelated_template_and_the_page_says_why():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 2)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "finished")
    set_number(at, "ts_epochs", 4)
    assert not at.button(key="train_continue").disabled  # the same network and data: offered
    run_id = at.session_state["train_run"]
    at.session_state["build_editor"].load(TEMPLATES["lenet"].spec(), "lenet")  # as if loaded on the Build page
    at.run()
    assert "train_continue" not in [b.key for b in at.button]
    assert (
        f"Continue training is not offered for run `{run_id}`: it was trained on dataset 'iris', "
        "and the settings say dataset 'digits'. Train starts a new run." in texts(at)
    )
    assert not at.button(key="train_start").disabled
