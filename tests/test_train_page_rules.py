"""The Train page per learning rule, through Streamlit's AppTest: the sidebar shows the settings the rule reads
and no other, the rule line says what it updates, the tabs are those the run has data for, and the epoch
counter reads the same on the Run tab, in Your runs and on the Export page; a newly loaded network does not
show the previous network's run as its own; a run stopped in the queue says so."""

from __future__ import annotations

import pytest

from builder.library.templates import TEMPLATES
from engine.runs.store import RUNS_DIR_ENV
from tests.test_train_page import PAGE, open_train_page, run_status, set_number, texts, wait_for

GRADIENT_STEP = ("ts_loss", "ts_optimizer", "ts_weight_decay")


@pytest.fixture(autouse=True)
def runs_dir(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("rule_runs")
    monkeypatch.setenv(RUNS_DIR_ENV, str(root))
    return root


def widget_keys(at) -> set[str]:
    kinds = ("number_input", "selectbox", "checkbox")
    return {w.key for kind in kinds for w in getattr(at, kind) if w.key and w.key.startswith("ts_")}


def tabs(at) -> list[str]:
    return list(at.segmented_control(key="train_panel").options)


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def train(at, timeout: float = 120.0):
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "finished", timeout)
    assert not at.exception, at.exception


def runs_table_epochs(at) -> str:
    frame = at.dataframe[-1].value
    return str(frame["epochs"].iloc[0])


def export_caption(at) -> str:
    at.switch_page("app_pages/export.py").run()
    assert not at.exception, at.exception
    return next(c.value for c in at.caption if " · trained " in c.value)


# --- settings, rule line, tabs, per rule --------------------------------------------------------------------


def test_perceptron_shows_its_rate_epochs_and_shuffle_only():
    at = open_train_page("perceptron")
    keys = widget_keys(at)
    assert {"ts_lr", "ts_epochs", "ts_shuffle"} <= keys
    assert not keys & {*GRADIENT_STEP, "ts_batch_size", "ts_amp"}  # one example at a time, no optimizer
    assert "perceptron rule: moves the weights by lr × (target − output) × input" in texts(at)
    set_number(at, "ts_epochs", 3)
    train(at)
    assert tabs(at) == ["Live views", "Weights", "Decision surface", "Confusion matrix"]
    assert "No gradient views: the rule learns from its mistakes" in texts(at)
    assert "loss **" not in texts(at)  # the task line names no loss the rule does not use


def test_som_shows_no_optimizer_loss_or_decay_and_records_none():
    at = open_train_page("som_iris")
    keys = widget_keys(at)
    assert {"ts_lr", "ts_epochs", "ts_som_sigma", "ts_som_decay", "ts_som_mode"} <= keys
    assert not keys & {*GRADIENT_STEP, "ts_amp", "ts_cd_k"}
    assert "Task **unsupervised**;" in texts(at)  # no "10 classes", no loss
    set_number(at, "ts_epochs", 2)
    train(at)
    from ui.train.page_state import manager

    record = manager().status(at.session_state["train_run"])
    assert "optimizer" not in record.config and "loss" not in record.config and "weight_decay" not in record.config
    assert at.dataframe[-1].value["optimizer"].iloc[0] in ("", None)
    assert tabs(at) == ["Live views", "Weights"]  # no confusion matrix or surface without classes


def test_backprop_on_a_som_is_refused_naming_the_som():
    at = open_train_page("som_iris")
    at.selectbox(key="ts_trainer").set_value("backprop").run()
    assert "the SOM 'som' has no loss gradient to descend" in texts(at)


def test_rbm_shows_cd_settings_and_its_own_views():
    at = open_train_page("rbm_digits")
    keys = widget_keys(at)
    assert {"ts_cd_k", "ts_persistent", "ts_batch_size", "ts_weight_decay"} <= keys  # CD decays the weights
    assert not keys & {"ts_loss", "ts_optimizer", "ts_amp", "ts_pretrain_epochs"}
    assert "10 classes" not in texts(at)
    set_number(at, "ts_epochs", 1)
    set_number(at, "ts_batch_size", 200)
    train(at)
    assert tabs(at) == ["Live views", "Weights"]


def test_dbn_has_a_setting_per_phase_and_counts_phases_the_same_everywhere():
    at = open_train_page("dbn_digits")
    labels = {w.key: w.label for w in at.number_input}
    assert labels["ts_pretrain_epochs"] == "Pretraining epochs per RBM" and labels["ts_epochs"] == "Fine-tuning epochs"
    set_number(at, "ts_pretrain_epochs", 1)
    set_number(at, "ts_epochs", 2)
    set_number(at, "ts_batch_size", 256)
    line = "DBN: pretrains rbm1 then rbm2 by CD-1, 1 epoch each, then fine-tunes the whole stack by backprop"
    assert line in texts(at) and "takes no gradient steps" not in texts(at)
    train(at)
    counter = "pretraining done 2 / 2 · fine-tuning done 2 / 2"
    assert metric(at, "Epochs") == "4 / 4" and f"Epochs by phase: {counter}" in texts(at)
    assert runs_table_epochs(at) == counter
    assert tabs(at) == ["Live views", "Weights", "Confusion matrix"]
    assert "Gradients and activations are not sampled" in texts(at)
    assert f"trained {counter}" in export_caption(at)


def test_dsn_offers_no_tab_that_cannot_fill_and_says_why():
    at = open_train_page("dsn_digits")
    labels = {w.key: w.label for w in at.number_input}
    assert labels["ts_epochs"] == "Epochs per module"
    set_number(at, "ts_epochs", 1)
    set_number(at, "ts_batch_size", 256)
    train(at)
    assert tabs(at) == ["Weights", "Confusion matrix"]
    assert "Gradients and activations are not sampled: each module's steps run through a prefix" in texts(at)
    assert "module 1 done 1 / 1 · module 2 done 1 / 1 · module 3 done 1 / 1" in runs_table_epochs(at)


def test_backprop_on_2d_classes_offers_every_probe_view():
    at = open_train_page("mlp_xor")
    assert {"ts_optimizer", "ts_loss", "ts_batch_size", "ts_weight_decay"} <= widget_keys(at)
    set_number(at, "ts_epochs", 3)
    train(at)
    assert tabs(at) == ["Gradients", "Activations", "Weights", "Decision surface", "Confusion matrix"]


# --- counters, the stale run, the queue --------------------------------------------------------------------


def test_a_stopped_run_reads_the_same_epochs_on_the_run_tab_your_runs_and_export():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 100_000)
    set_number(at, "ts_batch_size", 1)
    at.button(key="train_start").click().run()
    from ui.train.page_state import manager

    wait_for(at, lambda a: manager().status(a.session_state["train_run"]).progress.get("epoch", 0) >= 2)
    at.button(key="train_stop").click().run()
    wait_for(at, lambda a: run_status(a) == "stopped")
    done = manager().status(at.session_state["train_run"]).progress["epoch"]
    assert metric(at, "Epochs") == f"{done:,} / 100,000" and runs_table_epochs(at) == f"{done:,} / 100,000"
    assert f"trained {done:,} epochs " in export_caption(at)


def test_a_new_network_shows_its_own_last_run_or_says_whose_run_is_shown():
    at = open_train_page("som_iris")
    set_number(at, "ts_epochs", 1)
    train(at)
    som_run = at.session_state["train_run"]
    at.session_state["build_editor"].load(TEMPLATES["perceptron"].spec(), "p")
    at.switch_page(PAGE).run()
    assert "belongs to the network **som_iris**, not to **perceptron**" in texts(at)
    set_number(at, "ts_epochs", 1)
    train(at)
    assert "belongs to the network" not in texts(at)
    at.session_state["build_editor"].load(TEMPLATES["som_iris"].spec(), "s")
    at.switch_page(PAGE).run()
    assert at.session_state["train_run"] == som_run and "belongs to the network" not in texts(at)
    at.session_state["build_editor"].load(TEMPLATES["lenet"].spec(), "l")
    at.switch_page(PAGE).run()
    at.button(key="train_open_other").click().run()  # puts som_iris back on the Build page
    assert at.session_state["build_editor"].spec.name == "som_iris" and "belongs to the network" not in texts(at)


def test_a_run_stopped_in_the_queue_says_so_and_draws_no_chart(monkeypatch):
    monkeypatch.setenv("NETCANVAS_MAX_WORKERS", "1")
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 100_000)
    at.button(key="train_start").click().run()
    first = at.session_state["train_run"]
    at.button(key="train_start").click().run()  # the one worker is busy: this one waits
    assert run_status(at) == "queued"
    at.button(key="train_stop").click().run()
    wait_for(at, lambda a: run_status(a) == "stopped")
    assert any("stopped while it waited in the queue: it never started" in i.value for i in at.info)
    assert not at.get("plotly_chart") and "Waiting for the first loss" not in texts(at)
    from ui.train.page_state import manager

    manager().stop(first)
