"""Mixed precision (TrainConfig.amp): bf16 autocast on the CPU, fp16 with a grad scaler whose skipped steps are
not divergence, the weights kept in float32, and the setting checked like any other."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from builder.library.templates import TEMPLATES
from engine.cli.main import main
from engine.train.backprop import seed_everything
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run


def _prepared(amp: str, epochs: int = 20, **overrides):
    template = TEMPLATES["mlp_iris"]
    config = TrainConfig(**{**template.train, "epochs": epochs, "device": "cpu", "amp": amp, **overrides})
    return prepare_run(template.spec(), config)


def _record_linear_output_dtypes(model: torch.nn.Module) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


def test_bf16_runs_the_forward_in_bfloat16_keeps_float32_weights_and_learns():
    run = _prepared("bf16")
    seen = _record_linear_output_dtypes(run.trainer.model)
    events = list(run.trainer.run())
    assert events[-1]["kind"] == "done", events[-1]
    assert torch.bfloat16 in seen  # the training steps ran under autocast
    assert all(p.dtype == torch.float32 for p in run.trainer.model.parameters())
    assert events[-1]["val_accuracy"] >= 0.85, events[-1]


def test_bf16_and_float32_reach_the_same_accuracy_on_iris():
    accuracies = {}
    for amp in ("off", "bf16"):
        seed_everything(0)
        events = list(_prepared(amp).trainer.run())
        accuracies[amp] = events[-1]["val_accuracy"]
    assert abs(accuracies["bf16"] - accuracies["off"]) <= 0.1, accuracies


def test_fp16_skips_steps_whose_gradients_overflow_and_that_is_not_divergence():
    run = _prepared("fp16", epochs=3, log_every=1)
    trainer = run.trainer
    trainer.precision.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**26)  # fp16 gradients overflow at first
    before = [p.detach().clone() for p in trainer.model.parameters()]
    events = trainer.run()
    first = next(events)
    assert first["kind"] == "step" and first["loss"] == first["loss"]  # a finite loss: nothing diverged
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))  # the step was skipped
    assert trainer.precision.scale() < 2.0**26  # and the scale came down
    rest = list(events)
    assert not any(e["kind"] == "diverged" for e in rest)
    assert rest[-1]["kind"] == "done" and trainer.status == "done"
    assert not all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))  # later steps learned


def test_amp_is_checked_like_any_setting():
    _, problems = TrainConfig.from_dict({"amp": "fp8"})
    assert problems == ["amp must be one of off, bf16, fp16; got 'fp8'"]
    _, problems = TrainConfig.from_dict({"amp": True})
    assert problems == ["amp must be a string, got True (bool)"]


def test_cli_trains_with_amp_bf16(capsys):
    code = main(["train", "--template", "mlp_iris", "--epochs", "2", "--device", "cpu", "--amp", "bf16", "--json"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert code == 0 and events[-1]["kind"] == "done"


def test_amp_on_the_cpu_refuses_a_recurrent_layer_naming_the_node(capsys):
    """oneDNN has no bf16/fp16 LSTM kernel: the first step would crash inside torch; refused before the run."""
    code = main(["train", "--template", "lstm_sine", "--epochs", "1", "--device", "cpu", "--amp", "bf16"])
    out = capsys.readouterr().out
    assert code == 2, out
    assert "amp 'bf16' cannot run node 'rnn' on the CPU" in out and "Traceback" not in out


def test_bf16_gets_a_gradient_scaler_only_where_cuda_runs_a_fused_recurrent_layer_in_float16():
    from builder.analysis.validate import analyze
    from engine.compile.fx_module import compile_analysis
    from engine.train.amp import needs_scaler

    def model(name):
        return compile_analysis(analyze(TEMPLATES[name].spec()))

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert needs_scaler("bf16", cuda, model("lstm_sine"))  # torch runs it in float16 under bf16 autocast
    assert not needs_scaler("bf16", cuda, model("lstm_cells_sine"))  # gate-level: Linears follow bf16
    assert not needs_scaler("bf16", cuda, model("mlp_iris")) and not needs_scaler("bf16", cpu, model("lstm_sine"))
    assert needs_scaler("fp16", cpu, None) and not needs_scaler("off", cuda, model("lstm_sine"))


# --- against the autocast recipe written by hand -------------------------------------------------------------


def amp_reference(start: dict, x, y, config: TrainConfig) -> dict:
    """mlp_iris trained by torch's documented recipe: forward and loss under torch.autocast("cpu", dtype), the
    backward outside it, float32 weights; fp16 through a GradScaler (scale, step on unscaled gradients, update)."""
    p = {name: value.clone().requires_grad_(True) for name, value in start.items()}
    sgd = torch.optim.SGD(p.values(), lr=config.lr)
    scaler = torch.amp.GradScaler("cpu") if config.amp == "fp16" else None
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[config.amp]
    order = torch.Generator().manual_seed(config.seed)
    for _ in range(config.epochs):
        perm = torch.randperm(len(x), generator=order)
        for s in range(0, len(x), config.batch_size):
            with torch.autocast("cpu", dtype=dtype):
                hidden = F.relu(F.linear(x[perm[s : s + config.batch_size]], p["fc1.weight"], p["fc1.bias"]))
                loss = F.cross_entropy(
                    F.linear(hidden, p["fc2.weight"], p["fc2.bias"]), y[perm[s : s + config.batch_size]]
                )
            sgd.zero_grad()
            if scaler is None:
                loss.backward()
                sgd.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(sgd)
                scaler.update()
    return {name: value.detach() for name, value in p.items()}


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_a_mixed_precision_run_trains_what_the_autocast_recipe_trains(amp):
    """The same seed and first weights, 3 epochs of 8 steps: the weights equal the hand-written recipe's to 1e-6
    (the same kernels in the same order; what is left is rounding), and differ from the float32 run's by more
    than that (so the low precision was in effect) but by less than 2e-3 (seen: at most 2.5e-4 for bf16, which
    keeps 8 bits of mantissa, 4.4e-5 for fp16, 11 bits; rounding errors of small steps that mostly cancel)."""
    runs, starts = {}, {}
    for mode in (amp, "off"):
        run = _prepared(mode, epochs=3, optimizer="sgd", lr=0.1)
        starts[mode] = {name: value.detach().clone() for name, value in run.model.named_parameters()}
        events = list(run.trainer.run())
        assert events[-1]["kind"] == "done" and run.trainer.step == 24, events[-1]
        runs[mode] = {name: value.detach() for name, value in run.model.named_parameters()}
    start = starts[amp]
    assert all(torch.equal(start[name], starts["off"][name]) for name in start)  # the same seed, the same start
    config = dataclasses.replace(run.config, amp=amp)
    reference = amp_reference(start, run.trainer.x_train, run.trainer.y_train, config)
    for name, want in reference.items():
        assert not torch.equal(want, start[name]), f"{name} never moved"
        gap = float((runs[amp][name] - want).abs().max())
        assert gap <= 1e-6, f"{amp}: {name} differs from the autocast recipe by {gap:.3g}"
        from_float32 = float((runs[amp][name] - runs["off"][name]).abs().max())
        assert 1e-6 < from_float32 < 2e-3, f"{amp}: {name} is {from_float32:.3g} from the float32 run"
