"""The command line: every kind of bad input is one clear line and exit 2, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from builder.library.templates import TEMPLATES
from engine.cli.main import main
from engine.runs.bundle import read_bundle

ROOT = Path(__file__).resolve().parents[1]
MLP = {
    "version": 1,
    "name": "mlp",
    "nodes": [
        {"id": "x", "op": "Input", "params": {"shape": [4]}},
        {"id": "fc1", "op": "Linear", "params": {"out_features": 8}},
        {"id": "act", "op": "ReLU"},
        {"id": "fc2", "op": "Linear", "params": {"out_features": 3}},
    ],
    "edges": [{"source": "x", "target": "fc1"}, {"source": "fc1", "target": "act"}, {"source": "act", "target": "fc2"}],
}


def run_cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out + out.err


def write_json(tmp_path, data, name="spec.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def mutated(change):
    spec = json.loads(json.dumps(MLP))
    change(spec)
    return spec


def test_templates_and_datasets_list(capsys):
    code, out = run_cli(capsys, "templates")
    assert code == 0 and out.split() == list(TEMPLATES)
    code, out = run_cli(capsys, "datasets")
    assert code == 0 and "digits   [64]" in out and "csv:PATH" in out


def test_validate_and_summary_of_a_good_spec(capsys, tmp_path):
    path = write_json(tmp_path, MLP)
    code, out = run_cli(capsys, "validate", path)
    assert code == 0 and out.startswith("valid: 4 nodes, output [3] at 'fc2', 67 parameters")
    code, out = run_cli(capsys, "summary", path, "--json")
    summary = json.loads(out)
    assert code == 0 and summary["total_params"] == 67
    assert summary["nodes"][1] == {"id": "fc1", "op": "Linear", "output_shape": [8], "params": 40}
    code, out = run_cli(capsys, "summary", path)
    assert code == 0 and "total parameters: 67" in out and "fc1" in out


CYCLE_EDGES = [
    {"source": "x", "target": "fc1"},
    {"source": "fc1", "target": "act"},
    {"source": "act", "target": "fc1"},
    {"source": "act", "target": "fc2"},
]
BAD_SPECS = {
    "unreadable JSON": ("{not json", "not valid JSON"),
    "wrong schema": (mutated(lambda s: s.update(layers=[])), "layers: unknown top-level key"),
    "unknown op": (mutated(lambda s: s["nodes"][2].update(op="Relu")), "node 'act': unknown op 'Relu'"),
    "bad parameter": (
        mutated(lambda s: s["nodes"][1]["params"].update(out_features=-8)),
        "node 'fc1': parameter 'out_features' must be >= 1, got -8",
    ),
    "shape mismatch": (
        mutated(lambda s: s["nodes"][0]["params"].update(shape=[1, 8, 8])),
        "node 'fc1': Linear expects [features] or [steps, features]; got [1, 8, 8] from x",
    ),
    "cycle": (mutated(lambda s: s.update(edges=CYCLE_EDGES)), "cycle: "),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
@pytest.mark.parametrize("command", ["validate", "summary", "train"])
def test_bad_specs_exit_2_with_a_clear_line(capsys, tmp_path, case, command):
    data, expected = BAD_SPECS[case]
    code, out = run_cli(
        capsys, command, write_json(tmp_path, data), *(["--dataset", "iris"] if command == "train" else [])
    )
    assert code == 2, out
    assert expected in out and "Traceback" not in out
    assert all(line.startswith("error: ") for line in out.strip().splitlines())


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--dataset", "mnist"], "dataset must be one of xor, or, and, iris"),
        (["--dataset", "csv:/no/such.csv"], "CSV file 'such.csv' does not exist"),
        (["--dataset", "digits"], "the network's Input 'x' has shape [4] but dataset 'digits' gives [64] features"),
        (["--dataset", "iris", "--lr", "-1"], "lr must be > 0, got -1"),
        (["--dataset", "iris", "--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
        (["--dataset", "iris", "--device", "tpu"], "device"),
    ],
)
def test_bad_training_input_exits_2(capsys, tmp_path, args, expected):
    code, out = run_cli(capsys, "train", write_json(tmp_path, MLP), *args)
    assert code == 2 and expected in out and "Traceback" not in out, out


def test_unreadable_csv_exits_2(capsys, tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    code, out = run_cli(capsys, "train", write_json(tmp_path, MLP), "--dataset", f"csv:{tmp_path / 'bad.csv'}")
    assert code == 2 and "column 'b'" in out and "'oops'" in out


def test_spec_or_template_but_not_both(capsys, tmp_path):
    assert run_cli(capsys, "train")[0] == 2
    assert run_cli(capsys, "train", write_json(tmp_path, MLP), "--template", "lenet")[0] == 2
    code, out = run_cli(capsys, "train", "--template", "alexnet")
    assert code == 2 and "unknown template 'alexnet'" in out


def test_train_json_lines_and_bundle(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out = run_cli(
        capsys,
        "train",
        write_json(tmp_path, MLP),
        "--dataset",
        "iris",
        "--epochs",
        "3",
        "--lr",
        "0.05",
        "--json",
        "--log-every",
        "2",
        "--out",
        out_dir,
    )
    assert code == 0
    events = [json.loads(line) for line in out.strip().splitlines()]
    assert events[0]["kind"] == "start" and events[0]["device"] == "cpu"
    steps = [e for e in events if e["kind"] == "step"]
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert steps and all({"epoch", "step", "loss"} <= set(e) for e in steps)
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert all({"val_loss", "val_accuracy"} <= set(e) for e in epochs)
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    bundle = read_bundle(out_dir)
    assert bundle.meta["input_shape"] == [4] and set(bundle.state_dict) == {
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    }
    assert bundle.config.dataset == "iris" and bundle.spec.to_dict() == {**MLP, "version": 2, "blocks": {}}  # upgraded


def test_train_template_human_output(capsys):
    code, out = run_cli(capsys, "train", "--template", "mlp_xor", "--epochs", "5")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("using cpu") and lines[1].startswith("epoch 1/5  loss")
    assert lines[0].endswith("auto → backprop: gradient descent on the loss through the whole graph")
    assert lines[-1].startswith("trained 5 epochs")


def test_same_seed_same_curve(capsys):
    curves = []
    for _ in range(2):
        code, out = run_cli(capsys, "train", "--template", "mlp_iris", "--epochs", "3", "--json", "--seed", "7")
        curves.append([json.loads(line).get("loss") for line in out.splitlines()[1:]])
    assert curves[0] == curves[1]


def test_divergence_exits_3_naming_the_step(capsys, tmp_path):
    out_dir = tmp_path / "diverged"
    code, out = run_cli(
        capsys,
        "train",
        "--template",
        "rnn_sine",
        "--optimizer",
        "sgd",
        "--lr",
        "1e6",
        "--epochs",
        "2",
        "--out",
        out_dir,
    )
    assert code == 3 and "loss became" in out and "at step" in out
    assert read_bundle(out_dir).meta["metrics"]["status"] == "diverged"


def test_real_process_prints_no_traceback(tmp_path):
    """End to end through `python -m engine`, as a user runs it."""
    bad = write_json(tmp_path, "[1, 2")
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "validate", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.strip().count("\n") == 0 and "not valid JSON" in proc.stdout


def test_the_parser_and_its_refusals_load_no_torch():
    """A refusal comes at once: `python -m engine validate` and a bad flag need no torch (engine/cli/*)."""
    code = (
        "import sys; from engine.cli.main import main; "
        "codes = [main(['validate', '/dev/zero']), main(['train', '--template', 'mlp_xor', '--epochs', '0'])]; "
        "assert codes == [2, 2], codes; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_names_written_out_for_the_parser_match_their_sources():
    from engine.cli import autograd_cmd, export_cmd
    from engine.export.formats import FORMATS
    from engine.probes.autograd_graph import DEFAULT_SAMPLES
    from engine.runs.bundle import BUNDLE_FILES, WEIGHTS_FILE

    assert export_cmd.FORMATS == FORMATS and autograd_cmd.DEFAULT_SAMPLES == DEFAULT_SAMPLES
    assert export_cmd.BUNDLE_FILES == BUNDLE_FILES and export_cmd.WEIGHTS_FILE == WEIGHTS_FILE
