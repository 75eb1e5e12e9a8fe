"""DBN and DSN training against small references written here from the math, in plain torch: the same seed, the
same initial weights, the same data and a few updates must give the same weights to 1e-6.

DBN (engine.train.dbn_trainer, engine.train.rules.rbm; Hinton's practical guide): each RBM in turn, bottom
first, by CD-1 on what the layer below gives (the data, then p(h1 | data) computed once with rbm1 pretrained):
    h+ = sigmoid(v0 W^T + c);  h ~ Bernoulli(h+);  v- = sigmoid(h W + b);  h- = sigmoid(v- W^T + c)
    W += lr (h+^T v0 - h-^T v-) / B;  c += lr mean(h+ - h-);  b += lr mean(v0 - v-)
then the whole network fine-tuned on the labels by backprop (cross entropy, a fresh optimizer; SGD here: Adam
divides each gradient by its own size plus 1e-8, so on the inputs' always-zero pixels, whose gradients are
rounding noise of 1e-11, it turns that noise into steps of 5e-6).

DSN (engine.train.dsn_trainer; Deng and Yu): module k reads the input joined with the outputs of modules
1..k-1 and is trained alone on the cross entropy of its own output (a fresh Adam over its own weights), the
modules below frozen.

Random numbers as the trainers document them: the example order of every epoch is one seeded generator's
next permutation, over the whole run; each RBM's hidden samples come from a generator seeded with the run's
seed when its phase starts. The differences left are float32 rounding (addmm and in-place adds against plain
matmuls and +=), about 1e-7 here; a wrong rule (a CD update scaled by 1.01, a module reading the wrong inputs,
a frozen module that moves) differs by 1e-4 or more.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from builder.library.templates import TEMPLATES
from engine.compile.fx_module import compile_analysis
from engine.train.backprop import seed_everything
from engine.train.config import TrainConfig
from engine.train.dbn_trainer import DBNTrainer
from engine.train.dsn_trainer import DSNTrainer
from engine.train.losses import Sink
from engine.train.pipeline import analysis_for_training, fitted_dataset

pytestmark = pytest.mark.usefixtures("single_thread_torch")
N_TRAIN, N_VAL, BATCH = 40, 20, 10  # 4 updates an epoch
TOLERANCE = 1e-6


def _small_run(template: str, trainer_class, **overrides):
    """The template's network and data cut to N_TRAIN / N_VAL rows; (trainer, initial weights, data)."""
    config = TrainConfig(**{**TEMPLATES[template].train, "device": "cpu", "batch_size": BATCH, **overrides})
    analysis = analysis_for_training(TEMPLATES[template].spec(), config)
    full = fitted_dataset(analysis, config)
    data = dataclasses.replace(
        full,
        x_train=full.x_train[:N_TRAIN],
        y_train=full.y_train[:N_TRAIN],
        x_val=full.x_val[:N_VAL],
        y_val=full.y_val[:N_VAL],
    )
    seed_everything(config.seed)
    model = compile_analysis(analysis)
    start = {name: value.detach().clone() for name, value in model.state_dict().items()}
    trainer = trainer_class(model, data, config, Sink.from_analysis(analysis), analysis)
    return trainer, start, data


def _assert_same_weights(model, reference: dict, start: dict) -> None:
    for name, want in reference.items():
        got = model.state_dict()[name]
        assert not torch.equal(want, start[name]), f"{name} never moved: the comparison would be empty"
        gap = float((got - want).abs().max())
        assert gap <= TOLERANCE, f"{name} differs from the reference by {gap:.3g} (more than {TOLERANCE})"


# --- DBN ------------------------------------------------------------------------------------------------------


def cd1_update(w, c, b, v0, lr, generator) -> None:
    """One CD-1 update of an RBM (w: (H, V), c: (H,), b: (V,)) from the batch v0 (B, V), in place."""
    h_pos = torch.sigmoid(v0 @ w.T + c)
    h_sample = torch.bernoulli(h_pos, generator=generator)
    v_neg = torch.sigmoid(h_sample @ w + b)
    h_neg = torch.sigmoid(v_neg @ w.T + c)
    w += lr * (h_pos.T @ v0 - h_neg.T @ v_neg) / len(v0)
    c += lr * (h_pos - h_neg).mean(0)
    b += lr * (v0 - v_neg).mean(0)


def dbn_reference(start: dict, x, y, config: TrainConfig) -> dict:
    p = {name: value.clone() for name, value in start.items()}
    order = torch.Generator().manual_seed(config.seed)
    v = x
    for rbm in ("rbm1", "rbm2"):  # greedy: bottom first, each on what the one below gives
        w, c, b = p[f"{rbm}.weight"], p[f"{rbm}.h_bias"], p[f"{rbm}.v_bias"]
        hidden_sampler = torch.Generator().manual_seed(config.seed)
        for _ in range(config.pretrain_epochs):
            perm = torch.randperm(len(v), generator=order)
            for s in range(0, len(v), BATCH):
                cd1_update(w, c, b, v[perm[s : s + BATCH]], config.pretrain_lr, hidden_sampler)
        v = torch.sigmoid(v @ w.T + c)
    assert config.optimizer == "sgd"
    trained = ["rbm1.weight", "rbm1.h_bias", "rbm2.weight", "rbm2.h_bias", "fc.weight", "fc.bias"]
    params = {name: p[name].clone().requires_grad_(True) for name in trained}
    for _ in range(config.epochs):  # fine-tuning: the whole network on the labels, plain gradient descent
        perm = torch.randperm(len(x), generator=order)
        for s in range(0, len(x), BATCH):
            xb, yb = x[perm[s : s + BATCH]], y[perm[s : s + BATCH]]
            h1 = torch.sigmoid(xb @ params["rbm1.weight"].T + params["rbm1.h_bias"])
            h2 = torch.sigmoid(h1 @ params["rbm2.weight"].T + params["rbm2.h_bias"])
            loss = F.cross_entropy(h2 @ params["fc.weight"].T + params["fc.bias"], yb)
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                for value, grad in zip(params.values(), grads):
                    value -= config.lr * grad
    return {**p, **{name: value.detach() for name, value in params.items()}}


def test_dbn_pretraining_by_cd1_layer_by_layer_then_fine_tuning_matches_the_reference():
    trainer, start, data = _small_run("dbn_digits", DBNTrainer, epochs=2, pretrain_epochs=1, optimizer="sgd", lr=0.1)
    events = list(trainer.run())
    assert events[-1]["kind"] == "done" and trainer.step == 3 * 4 + 4, events[-1]
    reference = dbn_reference(start, data.x_train.float(), data.y_train, trainer.config)
    _assert_same_weights(trainer.model, reference, start)


def test_dbn_pretraining_alone_matches_the_reference_cd1_updates():
    """Stopped when fine-tuning starts: the RBMs hold what CD-1 alone taught them (v_bias included)."""
    trainer, start, data = _small_run("dbn_digits", DBNTrainer, epochs=1, pretrain_epochs=1, optimizer="sgd")
    for event in trainer.run():
        if event["kind"] == "phase" and event["phase"] == "finetune":
            break
    reference = dbn_reference(start, data.x_train.float(), data.y_train, dataclasses.replace(trainer.config, epochs=0))
    _assert_same_weights(trainer.model, {k: v for k, v in reference.items() if k.startswith("rbm")}, start)


# --- DSN ------------------------------------------------------------------------------------------------------


def dsn_output(p: dict, x: torch.Tensor, module: int) -> torch.Tensor:
    """Module `module`'s output: module k reads [x, out_1, ..., out_{k-1}] through a sigmoid hidden layer."""
    outputs = []
    for k in range(1, module + 1):
        inputs = torch.cat([x, *outputs], dim=1)
        hidden = torch.sigmoid(inputs @ p[f"m{k}_hidden.weight"].T + p[f"m{k}_hidden.bias"])
        outputs.append(hidden @ p[f"m{k}_out.weight"].T + p[f"m{k}_out.bias"])
    return outputs[-1]


def dsn_reference(start: dict, x, y, config: TrainConfig) -> dict:
    p = {name: value.clone() for name, value in start.items()}
    order = torch.Generator().manual_seed(config.seed)
    for module in (1, 2, 3):
        own = [f"m{module}_{layer}.{kind}" for layer in ("hidden", "out") for kind in ("weight", "bias")]
        for name in own:
            p[name] = p[name].clone().requires_grad_(True)
        adam = torch.optim.Adam([p[name] for name in own], lr=config.lr)  # fresh, over this module's weights
        for _ in range(config.epochs):
            perm = torch.randperm(len(x), generator=order)
            for s in range(0, len(x), BATCH):
                loss = F.cross_entropy(dsn_output(p, x[perm[s : s + BATCH]], module), y[perm[s : s + BATCH]])
                adam.zero_grad()
                loss.backward()
                adam.step()
        for name in own:
            p[name] = p[name].detach()  # frozen from here on
    return p


def test_dsn_modules_trained_in_turn_on_their_own_outputs_match_the_reference():
    trainer, start, data = _small_run("dsn_digits", DSNTrainer, epochs=2)
    events = list(trainer.run())
    assert events[-1]["kind"] == "done" and trainer.step == 3 * 2 * 4, events[-1]
    reference = dsn_reference(start, data.x_train.float(), data.y_train, trainer.config)
    _assert_same_weights(trainer.model, reference, start)
