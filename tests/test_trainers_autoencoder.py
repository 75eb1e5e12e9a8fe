"""Autoencoders as autoencoders (engine.train.autoencoder): denoising input noise, a sparsity penalty on the code,
and the live views (inputs beside reconstructions, 2-D codes)."""

import dataclasses

import pytest
import torch

from builder.library.templates import TEMPLATES, graph
from builder.spec.spec import parse_spec
from engine.errors import ConfigError
from engine.train.autoencoder import code_node
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run

pytestmark = pytest.mark.usefixtures("single_thread_torch")
AUTOENCODER = TrainConfig(**{**TEMPLATES["autoencoder_digits"].train, "device": "cpu", "epochs": 2})


def _mean_code(run) -> float:
    run.model.eval()
    with torch.no_grad():
        run.model(run.trainer.x_val)
    return float(run.trainer.autoencoder.code.abs().mean())


def test_the_code_is_the_narrowest_node_after_its_activation():
    run = prepare_run(TEMPLATES["autoencoder_digits"].spec(), AUTOENCODER)
    assert code_node(run.model) == "bottleneck_relu" and run.trainer.panels == ("autoencoder",)


def test_input_noise_masks_the_training_inputs_only():
    run = prepare_run(TEMPLATES["autoencoder_digits"].spec(), dataclasses.replace(AUTOENCODER, input_noise=0.5))
    seen = []
    run.model.enc1.register_forward_pre_hook(lambda module, args: seen.append((module.training, args[0].clone())))
    trainer = run.trainer
    events = list(trainer.run())
    assert events[-1]["kind"] == "done"
    trained = torch.cat([x for training, x in seen if training])  # [steps * B, 64]
    kept = (trained != 0).float().sum() / (trainer.x_train != 0).float().sum() / 2  # 2 epochs of every row
    assert 0.4 < float(kept) < 0.6  # about half the non-zero pixels survive the mask
    evaluated = [x for training, x in seen if not training][0]
    assert torch.equal(evaluated, trainer.x_val[: len(evaluated)])  # evaluation sees the clean input


def test_a_sparsity_penalty_shrinks_the_code():
    plain = prepare_run(TEMPLATES["autoencoder_digits"].spec(), AUTOENCODER)
    sparse = prepare_run(TEMPLATES["autoencoder_digits"].spec(), dataclasses.replace(AUTOENCODER, sparsity=1.0))
    list(plain.trainer.run()), list(sparse.trainer.run())
    assert _mean_code(sparse) < 0.5 * _mean_code(plain)


def test_the_live_views_hold_reconstructions_and_two_dimensional_codes():
    spec = parse_spec(
        graph(
            "ae2",
            [
                ("x", "Input", {"shape": [64]}),
                ("enc", "Linear", {"out_features": 2}),
                ("dec", "Linear", {"out_features": 64}),
                ("out", "Sigmoid"),
            ],
        )
    )[0]
    run = prepare_run(spec, dataclasses.replace(AUTOENCODER, task="unsupervised", epochs=1))
    list(run.trainer.run())
    views = run.trainer.panel_data()["autoencoder"]
    assert views["image_shape"] == [8, 8] and len(views["inputs"]) == len(views["reconstructions"]) == 8
    assert len(views["codes"][0]) == 2 and len(views["labels"]) == len(views["codes"]) and views["class_names"]


def test_the_options_are_refused_for_a_task_that_does_not_reconstruct():
    config = TrainConfig(**{**TEMPLATES["mlp_digits"].train, "device": "cpu", "input_noise": 0.2})
    with pytest.raises(ConfigError, match="input_noise applies to the tasks reconstruction and unsupervised"):
        prepare_run(TEMPLATES["mlp_digits"].spec(), config)


# --- against a loop written here from the definitions ------------------------------------------------------------


def autoencoder_reference(start: dict, x: torch.Tensor, config: TrainConfig, rng_state: torch.Tensor) -> dict:
    """The template's autoencoder trained by hand: masking noise (each input value zeroed with probability
    input_noise, from torch's global generator in the state the run started with), target the clean input, loss
    MSE + sparsity * mean |code| (the code: bottleneck_relu's output), Adam, the run's seeded order each epoch."""
    p = {name: value.clone().requires_grad_(True) for name, value in start.items()}
    adam = torch.optim.Adam(p.values(), lr=config.lr)
    order = torch.Generator().manual_seed(config.seed)
    torch.set_rng_state(rng_state)

    def dense(h, layer):
        return h @ p[f"{layer}.weight"].T + p[f"{layer}.bias"]

    for _ in range(config.epochs):
        perm = torch.randperm(len(x), generator=order)
        for s in range(0, len(x), config.batch_size):
            clean = x[perm[s : s + config.batch_size]]
            noisy = clean * (torch.rand(clean.shape) >= config.input_noise).float()
            code = torch.relu(dense(torch.relu(dense(noisy, "enc1")), "bottleneck"))
            out = torch.sigmoid(dense(torch.relu(dense(code, "dec1")), "dec2"))
            loss = ((out - clean) ** 2).mean() + config.sparsity * code.abs().mean()
            adam.zero_grad()
            loss.backward()
            adam.step()
    return {name: value.detach() for name, value in p.items()}


def test_denoising_and_sparsity_train_what_the_hand_written_loop_trains():
    """Same seed, same first weights, 2 epochs on 64 rows: every weight within 1e-6 of the reference (what is
    left is float32 rounding in a different order of operations, about 1e-7; a mask drawn at another rate, the
    penalty on another node or scaled differently moves the weights by 1e-4 or more)."""
    config = dataclasses.replace(AUTOENCODER, input_noise=0.3, sparsity=0.5, batch_size=16)
    run = prepare_run(TEMPLATES["autoencoder_digits"].spec(), config)
    trainer = run.trainer
    trainer.x_train = trainer.x_train[:64]  # 4 steps an epoch
    start = {name: value.detach().clone() for name, value in run.model.named_parameters()}
    rng_state = torch.get_rng_state()
    events = list(trainer.run())
    assert events[-1]["kind"] == "done" and trainer.step == 8, events[-1]
    reference = autoencoder_reference(start, trainer.x_train, config, rng_state)
    for name, want in reference.items():
        got = dict(run.model.named_parameters())[name].detach()
        assert not torch.equal(want, start[name]), f"{name} never moved"
        gap = float((got - want).abs().max())
        assert gap <= 1e-6, f"{name} differs from the reference by {gap:.3g}"
