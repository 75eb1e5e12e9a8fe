"""The Train page's CPU threads setting (under More): empty means chosen (engine.threads), a number is the
run's setting; a session saved before the setting existed still opens."""

from __future__ import annotations

from tests.test_train_page import open_train_page, run_status, set_number, texts, wait_for


def test_threads_empty_is_auto_and_a_number_reaches_the_run_and_its_start_message():
    at = open_train_page("mlp_iris")
    assert at.number_input(key="ts_threads").value is None  # auto
    set_number(at, "ts_epochs", 1)
    set_number(at, "ts_threads", 1)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "finished")
    from ui.train.page_state import manager

    assert manager().status(at.session_state["train_run"]).config["threads"] == 1  # its start message: test_threads


def test_out_of_range_threads_are_refused_naming_the_setting():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_threads", 0)
    assert "threads" in texts(at) and "[1, 1024]" in texts(at)
    assert at.button(key="train_start").disabled


def test_a_session_saved_before_the_threads_setting_opens_with_auto():
    at = open_train_page("mlp_iris")
    at.switch_page("app_pages/build.py").run()  # the Train page's widgets are forgotten while it is not drawn
    saved = dict(at.session_state["ts_saved"])
    del saved["threads"]  # what an older session's saved settings look like
    at.session_state["ts_saved"] = saved
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    assert at.number_input(key="ts_threads").value is None
