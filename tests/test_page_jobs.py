"""Page jobs (engine/runs/page_jobs.py): torch work a page asks for runs in a child with limits, and every way that
child can die is a one-line message while the caller goes on; the autograd graph of a long recurrence no longer
ends the process (engine/probes/autograd_graph.py's ordered teardown)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from builder.analysis.validate import analyze
from builder.library.block_library import cell_net
from builder.library.templates import TEMPLATES
from builder.spec.spec import parse_spec
from engine.compile.fx_module import compile_analysis
from engine.errors import ConfigError, DataError, NetCanvasError, SpecInvalid
from engine.probes.autograd_graph import AutogradGraph, autograd_graph, trace_step
from engine.runs.manager import preflight
from engine.runs.page_jobs import JobFailed, JobLimits, run_page_job
from engine.train.config import TrainConfig
from ui.train.controls import user_message

ROOT = Path(__file__).resolve().parents[1]
SMALL = JobLimits(cpu_seconds=20, memory_mb=512, wall_seconds=60)


def one_line(error) -> str:
    text = str(error)
    assert isinstance(error, JobFailed) and "\n" not in text and len(text) < 200, text
    return text


def the_caller_goes_on() -> None:
    result, error = run_page_job("probe_sleep", {"seconds": 0}, SMALL)
    assert error is None and result == {"slept": 0}


@pytest.mark.parametrize("name", ["probe_segfault", "probe_null_read"])
def test_a_job_that_segfaults_is_a_one_line_message(name):
    result, error = run_page_job(name, {}, SMALL)
    assert result is None
    assert one_line(error) == f"the test job {name} stopped: it crashed (segmentation fault in native code)"
    the_caller_goes_on()


@pytest.mark.parametrize("name, args", [("probe_memory", {"mb": 2048}), ("probe_python_memory", {"blocks": 64})])
def test_a_job_that_needs_more_memory_than_its_limit_is_a_one_line_message(name, args):
    result, error = run_page_job(name, args, SMALL)
    assert result is None
    assert one_line(error) == f"the test job {name} stopped: it needed more than 512 MB of memory"
    the_caller_goes_on()


def test_a_job_that_passes_its_wall_clock_timeout_is_killed_with_a_message():
    result, error = run_page_job("probe_sleep", {"seconds": 60}, JobLimits(20, 512, wall_seconds=1.5))
    assert result is None and one_line(error) == "the test job probe_sleep stopped: it took longer than 1.5 s"
    the_caller_goes_on()


def test_a_job_that_passes_its_cpu_limit_is_ended_with_a_message():
    result, error = run_page_job("probe_spin", {"seconds": 60}, JobLimits(1, 512, wall_seconds=50))
    assert result is None and one_line(error) == "the test job probe_spin stopped: it needed more than 1 s of CPU time"


def test_page_jobs_at_once_are_capped_and_a_job_without_a_slot_says_so(monkeypatch):
    import threading

    import engine.runs.page_jobs as page_jobs

    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(page_jobs, "SLOTS", slots)
    monkeypatch.setattr(page_jobs, "MAX_JOBS", 1)
    assert slots.acquire(blocking=False)  # the one slot, held here as a running job holds it (no race to win)
    result, error = run_page_job("probe_sleep", {"seconds": 0}, JobLimits(20, 512, wall_seconds=1))
    assert result is None and one_line(error) == (
        "the test job probe_sleep could not start within 1 s: 1 page jobs are running on this server "
        "(NETCANVAS_MAX_PAGE_JOBS); try again in a moment"
    )
    slots.release()
    the_caller_goes_on()  # the slot is free again
    assert slots.acquire(blocking=False)  # and the job gave it back


def test_only_named_jobs_run():
    with pytest.raises(ValueError, match="no page job named 'os.system'"):
        run_page_job("os.system", {})


def test_the_autograd_graph_through_a_job_equals_the_one_computed_in_process():
    template = TEMPLATES["mlp_iris"]
    config, _ = TrainConfig.from_dict(dict(template.train))
    args = {"spec": template.spec().to_dict(), "config": config.to_dict()}
    result, error = run_page_job("autograd_graph", args)
    assert error is None, error
    here = autograd_graph(template.spec(), config)
    assert AutogradGraph.from_dict(result) == AutogradGraph.from_dict(json.loads(json.dumps(here.to_dict())))


def preflight_both(spec, config: TrainConfig):
    """(in-process outcome, outcome through the job): a Readiness or the user's message."""
    try:
        here = preflight(spec, config)
    except NetCanvasError as err:
        here = (type(err), user_message(err))
    result, error = run_page_job("preflight", {"spec": spec.to_dict(), "config": config.to_dict()})
    there = (type(error), user_message(error)) if error is not None else type(here)(**result)
    return here, there


def test_preflight_through_a_job_gives_the_same_readiness_and_the_same_error_text():
    template = TEMPLATES["mlp_iris"]
    good, _ = TrainConfig.from_dict(dict(template.train))
    here, there = preflight_both(template.spec(), good)
    assert here == there and here.n_train > 0
    wrong_data, _ = TrainConfig.from_dict({**template.train, "dataset": "digits"})
    here, there = preflight_both(template.spec(), wrong_data)
    assert here == there and here[0] is DataError
    no_file, _ = TrainConfig.from_dict({**template.train, "dataset": "csv:/nonexistent/data.csv"})
    here, there = preflight_both(template.spec(), no_file)
    assert here == there and here[0] is DataError
    wrong_rule, _ = TrainConfig.from_dict({**template.train, "trainer": "som"})
    here, there = preflight_both(template.spec(), wrong_rule)
    assert here == there and here[0] is ConfigError


def test_preflight_of_an_invalid_network_lists_each_node_as_in_process():
    data = TEMPLATES["mlp_iris"].spec().to_dict()
    for node in data["nodes"]:
        if node["op"] == "Linear":
            node["params"]["out_features"] = -3
    spec, _ = parse_spec(data)
    config, _ = TrainConfig.from_dict(dict(TEMPLATES["mlp_iris"].train))
    here, there = preflight_both(spec, config)
    assert here == there and here[0] is SpecInvalid and here[1].count("node '") >= 2


def lstm_model(steps: int):
    spec, _ = parse_spec(cell_net("long", [steps, 1], "lstm_cell", 8, False, 1))
    return compile_analysis(analyze(spec))


def test_a_step_past_the_operation_cap_is_refused_naming_the_node():
    model = lstm_model(60)
    x, y = torch.randn(2, 60, 1), torch.randn(2, 1)
    with pytest.raises(ConfigError) as caught:
        trace_step(model, x, y, torch.nn.functional.mse_loss, max_operations=500)
    message = str(caught.value)
    assert message.startswith("the autograd graph of one step passes 500 operations at node 'rnn' (Recurrent: ")
    assert "\n" not in message
    graph = trace_step(model, x, y, torch.nn.functional.mse_loss)  # under the default cap: drawn as before
    assert len(graph.operations) > 500 and set(graph.groups) == {"rnn", "out", "loss"}


LONG_LSTM = textwrap.dedent(
    """
    import faulthandler, resource, sys
    faulthandler.enable()
    import torch
    from tests.test_page_jobs import lstm_model
    from engine.probes.autograd_graph import trace_step
    steps = int(sys.argv[1])
    model = lstm_model(steps)
    graph = trace_step(model, torch.randn(2, steps, 1), torch.randn(2, 1), torch.nn.functional.mse_loss, 10**9)
    print(len(graph.operations), "operations")
    """
)
LONG_LSTM_STACK_KB, LONG_LSTM_STEPS = 256, 1280


def test_the_autograd_graph_of_a_long_lstm_does_not_end_the_process():
    """Before the ordered teardown, dropping the graph of a gate-level LSTM recursed once per grad_fn through
    torch's destructors: ~8,000 steps overflowed an 8 MB stack (SIGSEGV). The depth that overflows scales with the
    stack: dropped the plain way, ~600 steps (~10 operations each) overflowed 1 MB and ~160 steps 256 KB. So the
    child gets a 256 KB stack (Python and torch start under 128 KB) and 1,280 steps, 8 times that depth."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    shell = f'ulimit -s {LONG_LSTM_STACK_KB} && exec "{sys.executable}" -c "$0" "$1"'
    command = ["bash", "-c", shell, LONG_LSTM, str(LONG_LSTM_STEPS)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    operations = int(done.stdout.split()[-2])
    assert operations >= 12_000, f"the graph must be 8 times as deep as one that overflowed the stack: {operations}"


def test_the_apps_run_manager_checks_a_run_in_a_child_and_loads_no_data_itself(tmp_path, monkeypatch):
    """The app's RunManager (check=preflight_in_child) refuses what preflight refuses, with the same text, and
    starts what it passes, while loading the data in this process would fail the test."""
    import engine.runs.run_checks as checks_module  # preflight's home (engine.runs.manager re-exports it)
    from engine.runs.manager import RunManager
    from engine.runs.page_jobs import preflight_in_child
    from engine.runs.store import RunStore

    template = TEMPLATES["mlp_iris"]
    wrong_data, _ = TrainConfig.from_dict({**template.train, "dataset": "digits"})
    with pytest.raises(DataError) as in_process:
        preflight(template.spec(), wrong_data)

    def loaded_here(*args, **kwargs):
        raise AssertionError("the pre-run check loaded the data in the server's process")

    monkeypatch.setattr(checks_module, "fitted_dataset", loaded_here)
    manager = RunManager(RunStore(tmp_path), workers=1, check=preflight_in_child)
    try:
        with pytest.raises(DataError) as in_child:
            manager.start_run("owner", template.spec(), wrong_data)
        assert str(in_child.value) == str(in_process.value)
        short, _ = TrainConfig.from_dict({**template.train, "epochs": 1})
        run_id = manager.start_run("owner", template.spec(), short)
        assert manager.wait(run_id, 120).status == "finished"
    finally:
        manager.close()
