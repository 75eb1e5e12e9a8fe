"""Inputs a fuzzer found that the parsers did not take cleanly: each is now one clear issue or message."""

from __future__ import annotations

import ast
import json

import pytest

from builder.analysis.upload import read_spec_upload
from builder.analysis.validate import analyze
from builder.editor.edit import rename_node
from builder.spec.spec import loads_spec
from tests.helpers import chain


def _spec_text(node: dict) -> str:
    return json.dumps({"version": 1, "name": "t", "nodes": [node], "edges": []})


def test_an_id_with_a_trailing_newline_is_invalid():
    spec = chain(("x", "Input", {"shape": [2]}), ("fc\n", "Linear", {"out_features": 1}))
    issues = [i for i in analyze(spec).issues if i.code == "invalid_id"]
    assert [i.node for i in issues] == ["fc\n"] and "'fc\\n' must match" in issues[0].message
    renamed, why = rename_node(spec, "x", "in put")
    assert renamed is spec and "not a valid id" in why
    renamed, why = rename_node(spec, "x", "inp\n")  # what is typed in the inspector is trimmed first
    assert why is None and renamed.nodes[0].id == "inp"


def test_an_id_named_torch_is_reserved():
    spec = chain(("x", "Input", {"shape": [2]}), ("torch", "Linear", {"out_features": 1}))
    assert [i.code for i in analyze(spec).issues if i.node == "torch"] == ["reserved_id"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[" * 100_000 + "]" * 100_000, "nest too deeply"),
        ('{"version": 1, "nodes": [' + "9" * 5000 + "]}", "a number in it has over 4,300 digits"),
    ],
)
def test_json_too_deep_or_with_a_huge_integer_is_one_issue(text, expected):
    spec, issues = loads_spec(text)
    assert spec is None and len(issues) == 1 and expected in issues[0].message
    spec, message = read_spec_upload("net.json", text.encode())
    assert spec is None and message == f"net.json cannot be read: {issues[0].message.removeprefix('json: ')}"


@pytest.mark.parametrize(
    "node, field, expected",
    [
        ({"id": "x", "op": "Input", "ui": {"x": "a"}}, "nodes[0].ui.x", "expected a number within ±1e+09, got 'a'"),
        ({"id": "x", "op": "Input", "ui": {"y": True}}, "nodes[0].ui.y", "got True"),
        ({"id": "x", "op": "Input", "ui": {"x": 1e400}}, "nodes[0].ui.x", "got inf"),
        ({"id": "x", "op": "Input", "ui": {"x": None}}, "nodes[0].ui.x", "got None"),
        ({"id": "x", "op": "Input", "params": {"shape": [[[[[[[[[2]]]]]]]]]}}, "nodes[0].params", "nested more"),
        ({"id": "x", "op": "Input", "ui": {"deep": json.loads("[" * 500 + "]" * 500)}}, "nodes[0].ui", "nested"),
    ],
)
def test_ui_positions_are_numbers_and_values_nest_shallowly(node, field, expected):
    spec, issues = loads_spec(_spec_text(node))
    assert spec is None and [i.field for i in issues] == [field] and expected in issues[0].message


def test_free_form_ui_and_nested_shapes_still_load():
    node = {"id": "x", "op": "Input", "params": {"shape": [1, 8, 8]}, "ui": {"x": 1.5, "y": -3, "colour": "red"}}
    spec, issues = loads_spec(_spec_text(node))
    assert issues == [] and spec.nodes[0].ui == {"x": 1.5, "y": -3, "colour": "red"}


@pytest.mark.parametrize("name", ['a\\b """ c', 'ends with a quote"', "two\nlines\tand \x00 nul", "\\"])
def test_model_py_quotes_the_spec_name(name, single_thread_torch):
    from engine.compile.fx_module import compile_analysis
    from engine.export.literal import inert_text
    from engine.export.python_source import model_source

    spec = chain(("x", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": 1}))
    spec.name = name
    analysis = analyze(spec)
    tree = ast.parse(model_source(compile_analysis(analysis), analysis, {}))  # a SyntaxError fails the test
    title = ast.get_docstring(tree).splitlines()[0]
    assert title.startswith(inert_text(name)) and not {'"', "\\"} & set(title)  # the docstring holds inert text


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--weight-decay", "1e308"], "error: weight_decay must be at most 1, got 1e+308"),
        (["--lr", "1e308"], "error: lr must be at most 1e+06, got 1e+308"),
    ],
)
def test_settings_torch_cannot_hold_are_refused_before_training(capsys, flags, expected):
    from engine.cli.main import main

    assert main(["train", "--template", "mlp_xor", *flags]) == 2
    assert capsys.readouterr().out.strip() == expected


def test_an_out_folder_that_is_a_file_is_refused_before_training(capsys, tmp_path):
    from engine.cli.main import main

    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "sub"):
        assert main(["train", "--template", "mlp_xor", "--out", str(out)]) == 2
        printed = capsys.readouterr().out
        assert printed.strip() == f"error: --out {out}: {blocker} is a file, and the bundle needs a folder there"


# --- caps before allocation (builder/spec/limits.py) ------------------------------------------------------------


@pytest.mark.parametrize(
    "layers, node, expected",
    [
        ([("fc", "Linear", {"out_features": 10**9})], "fc", "out_features 1,000,000,000 is over 1,000,000"),
        ([("fc", "Linear", {"out_features": 10**20})], "fc", "the cap on a size (NETCANVAS_MAX_DIM)"),
        ([("fc", "Linear", {"out_features": 30_000})], "fc", "Linear has 300,030,000 parameters; at most 200,000,000"),
        ([("f", "Reshape", {"shape": [1000, 1000]}), ("g", "Flatten")], None, None),  # exactly at the cap: fine
    ],
)
def test_sizes_and_parameters_over_the_caps_are_errors_at_their_node(layers, node, expected):
    analysis = analyze(chain(("x", "Input", {"shape": [10_000] if node else [1_000_000]}), *layers))
    errors = [i for i in analysis.issues if i.severity == "error"]
    if node is None:
        assert errors == []
    else:
        assert [i.node for i in errors] == [node] and expected in errors[0].message


def test_a_huge_stride_is_named_at_its_own_node_not_downstream():
    spec = chain(
        ("x", "Input", {"shape": [1, 8, 8]}),
        ("conv2", "Conv2d", {"out_channels": 4, "kernel_size": 1, "stride": 10**9}),
        ("pool", "MaxPool2d", {"kernel_size": 2}),
    )
    assert [(i.node, i.field) for i in analyze(spec).issues] == [("conv2", "nodes[1].params.stride")]


def test_the_network_total_and_the_node_count_are_capped():
    layers = [(f"fc{k}", "Linear", {"out_features": 9000}) for k in range(3)]
    issues = analyze(chain(("x", "Input", {"shape": [9000]}), *layers)).issues
    assert [(i.node, i.code) for i in issues] == [(None, "too_large")]
    assert "243,027,000 parameters; at most 200,000,000 (NETCANVAS_MAX_PARAMS)" in issues[0].message
    many = chain(("x", "Input", {"shape": [2]}), *[(f"n{k}", "ReLU") for k in range(10_000)])
    issues = analyze(many).issues
    assert [str(i) for i in issues] == ["the graph has 10,001 nodes; at most 10,000 (NETCANVAS_MAX_NODES)"]


def test_caps_come_from_the_environment_and_bad_values_keep_the_default():
    from builder.spec.limits import Limits, limits_from

    caps, problems = limits_from({"NETCANVAS_MAX_PARAMS": "1000", "NETCANVAS_MAX_DIM": "-3", "OTHER": "x"})
    assert caps == Limits(max_params=1000)
    assert problems == ["NETCANVAS_MAX_DIM='-3' is not a positive integer; using 1,000,000"]


def test_activation_memory_is_checked_at_the_batch_size_the_data_allows(single_thread_torch):
    from engine.errors import ConfigError
    from engine.train.config import TrainConfig
    from engine.train.pipeline import analysis_for_training, check_activation_memory, fitted_dataset

    spec = chain(("x", "Input", {"shape": [1, 8, 8]}), ("conv", "Conv2d", {"out_channels": 512, "kernel_size": 3}))
    analysis = analysis_for_training(spec, TrainConfig(dataset="digits"))
    with pytest.raises(ConfigError, match=r"batch_size 100000 needs 7,056 MB of activations; at most 4,096 MB"):
        check_activation_memory(analysis, 100_000)
    dataset = fitted_dataset(analysis, TrainConfig(dataset="digits", batch_size=100_000))  # 1,437 rows: fits
    assert dataset.n_train < 100_000


def test_token_ids_beyond_the_embedding_table_are_refused_before_the_run(single_thread_torch):
    from builder.library.templates import TEMPLATES
    from engine.errors import DataError
    from engine.train.config import TrainConfig
    from engine.train.pipeline import prepare_run

    template = TEMPLATES["lstm_text"]
    spec = template.spec()
    embedding = next(n for n in spec.nodes if n.op == "Embedding")
    embedding.params["num_embeddings"] = 10
    with pytest.raises(DataError) as caught:
        prepare_run(spec, TrainConfig(**{**template.train, "epochs": 1, "device": "cpu"}))
    assert str(caught.value) == (
        f"dataset 'text' holds token ids from 0 to 27 but Embedding '{embedding.id}' has num_embeddings 10; "
        "set num_embeddings to at least 28"
    )


def test_the_servers_device_check_starts_no_cuda_context(monkeypatch):
    """preflight runs in the web server: it may ask whether a GPU is there, never for its name or the current
    device (each creates a CUDA context that holds GPU memory for the server's whole life)."""
    import torch

    from engine.train.device import pick_device

    def creates_a_context(*args):
        raise AssertionError("a CUDA context was created")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", creates_a_context)
    monkeypatch.setattr(torch.cuda, "current_device", creates_a_context)
    assert pick_device("auto", named=False) == (torch.device("cuda"), "using cuda, picked by auto")
    assert pick_device("cuda:1", named=False) == (torch.device("cuda:1"), "using cuda:1")
    with pytest.raises(AssertionError, match="context"):
        pick_device("cuda")  # the worker names its GPU


def _out_of_memory_after(monkeypatch, steps: int) -> None:
    """Make the Trainer's epochs raise torch.OutOfMemoryError once it has taken `steps` steps (as CUDA would)."""
    import torch

    from engine.train.backprop import Trainer

    original = Trainer._epoch

    def epoch_then_out_of_memory(self, epoch):
        for event in original(self, epoch):
            yield event
            if self.step >= steps:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "_epoch", epoch_then_out_of_memory)


def test_out_of_memory_in_the_cli_is_one_line_with_a_hint(capsys, monkeypatch):
    from engine.cli.main import main

    _out_of_memory_after(monkeypatch, 10)
    assert main(["train", "--template", "mlp_iris", "--device", "cpu", "--batch-size", "16"]) == 2
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("error: out of memory on cpu in step ") and "lower batch_size (try 8)" in last


def test_out_of_memory_in_a_run_keeps_a_checkpoint_and_says_what_to_do(tmp_path, monkeypatch, single_thread_torch):
    from builder.library.templates import TEMPLATES
    from engine.runs.store import RunStore
    from engine.runs.worker_loop import RunLoop
    from engine.train.config import TrainConfig
    from engine.train.pipeline import prepare_run

    _out_of_memory_after(monkeypatch, 10)
    t = TEMPLATES["mlp_iris"]
    config = TrainConfig(**{**t.train, "device": "cpu", "batch_size": 16})
    store = RunStore(tmp_path)
    run_id = store.create_run("test", t.spec().to_dict(), config.to_dict())
    prepared = prepare_run(t.spec(), config)
    RunLoop(store, store.get(run_id), prepared, None, None).run()
    record = store.get(run_id)
    step = prepared.trainer.step
    assert record.status == "stopped" and step >= 10
    assert record.message == (
        f"out of memory on cpu in step {step + 1} with batch_size 16; lower batch_size (try 8) and train again; "
        f"the weights of step {step} are kept"
    )
    assert (store.bundle_dir(run_id) / "weights.safetensors").is_file()


def test_deterministic_is_a_setting_that_repeats_a_run(capsys):
    import torch

    from engine.cli.main import main
    from engine.train.config import TrainConfig

    assert TrainConfig(deterministic="yes").problems() == ["deterministic must be true or false, got 'yes' (str)"]
    curves = []
    for _ in range(2):
        assert main(["train", "--template", "mlp_iris", "--epochs", "2", "--json", "--deterministic"]) == 0
        curves.append([line for line in capsys.readouterr().out.splitlines() if '"kind": "step"' in line])
        assert torch.are_deterministic_algorithms_enabled()
    assert curves[0] == curves[1] and curves[0]
    assert main(["train", "--template", "mlp_iris", "--epochs", "1"]) == 0  # the default turns it off again
    assert not torch.are_deterministic_algorithms_enabled()


def test_an_activation_refusal_says_when_the_recurrent_cells_steps_hold_most_of_it(single_thread_torch):
    """A gate-level LSTM over a long sequence holds its memory in the cell's steps, not in any one output: the
    refusal says to shorten the sequence instead of naming the largest output."""
    from builder.library.block_library import cell_net
    from builder.spec.spec import parse_spec
    from engine.errors import ConfigError
    from engine.train.pipeline import check_activation_memory

    spec, _ = parse_spec(cell_net("long", [4000, 16], "lstm_cell", 128, False, 1))
    analysis = analyze(spec)
    with pytest.raises(ConfigError, match=r"MB of it is kept by recurrent cells, step by step: shorten the sequence"):
        check_activation_memory(analysis, 256)
