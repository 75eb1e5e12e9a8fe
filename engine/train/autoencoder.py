"""Autoencoders as autoencoders: the denoising and sparsity options of a reconstruction run and its live views.

    options = AutoencoderOptions(model, config, task)   # ConfigError when a setting does not fit the task
    out = model(options.corrupt(xb))                     # input_noise: that share of the inputs set to 0
    loss = loss_fn(out, xb) + options.penalty()          # sparsity: weight * mean |code| of this forward
    options.panel_data(x_val)                            # inputs beside reconstructions; the 2-D codes

Denoising (Vincent et al., 2008) uses masking noise: each input value is set to 0 with probability
`input_noise` in training steps (never in evaluation); the target stays the clean input. The code is the
narrowest node of the graph (fewest values per sample, the output and the Input left out, a layer with a
module so a forward hook can read it); the sparsity penalty is the L1 norm of its output, averaged, times
`sparsity`.
"""

from __future__ import annotations

import math

import torch
from torch import fx, nn

from engine.errors import ConfigError
from engine.train.config import TrainConfig

RECONSTRUCTING = ("reconstruction", "unsupervised")
PANEL_ROWS = 8  # inputs shown beside their reconstructions
MAX_CODES = 500  # validation codes drawn in the scatter


def code_node(model: nn.Module) -> str | None:
    """The id of the narrowest module node of a compiled graph (not its output), or None."""
    graph = getattr(model, "graph", None)
    if graph is None:
        return None
    output = next(n for n in graph.nodes if n.op == "output").args[0]
    sized = [
        (math.prod(n.meta["spec_shape"]), -i, n.target)  # the narrowest; of equals the latest (after its activation)
        for i, n in enumerate(graph.nodes)
        if n.op == "call_module" and n is not output and n.meta.get("spec_shape")
    ]
    return min(sized)[2] if sized else None


class AutoencoderOptions:
    """input_noise and sparsity for one run (both off unless the config sets them)."""

    def __init__(self, model: fx.GraphModule, config: TrainConfig, task: str):
        self.noise, self.weight = config.input_noise, config.sparsity
        self.reconstructing = task in RECONSTRUCTING
        if (self.noise or self.weight) and not self.reconstructing:
            field = "input_noise" if self.noise else "sparsity"
            raise ConfigError(f"{field} applies to the tasks reconstruction and unsupervised; the task is '{task}'")
        self.model = model
        self.code_id = code_node(model) if self.reconstructing else None
        self.code: torch.Tensor | None = None  # the code of the newest forward
        if self.code_id is not None:
            getattr(model, self.code_id).register_forward_hook(self._keep_code)
        elif self.weight:
            raise ConfigError("sparsity needs a layer for the code (the narrowest node); the graph has none")

    def _keep_code(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        self.code = output

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """x with `input_noise` of its values set to 0 (a training step's input); x itself when off."""
        if not self.noise:
            return x
        return x * (torch.rand_like(x) >= self.noise).to(x.dtype)

    def penalty(self) -> torch.Tensor | float:
        """sparsity * mean |code| of the newest forward (0-d, on the device); 0.0 when off."""
        if not self.weight or self.code is None:
            return 0.0
        return self.weight * self.code.abs().mean()

    @torch.no_grad()
    def panel_data(self, x: torch.Tensor) -> dict:
        """Inputs beside their reconstructions (square inputs) and the codes when they are 2-D."""
        if not self.reconstructing or len(x) == 0:
            return {}
        was_training = self.model.training
        self.model.eval()
        shown = x[:PANEL_ROWS].reshape(min(len(x), PANEL_ROWS), -1)  # [R, V]
        side = math.isqrt(shown.shape[1])
        data: dict = {}
        if side * side == shown.shape[1]:
            out = self.model(x[:PANEL_ROWS]).reshape(len(shown), -1)  # [R, V]
            data.update(image_shape=[side, side], inputs=_rounded(shown), reconstructions=_rounded(out))
        if self.code_id is not None:
            self.model(x[:MAX_CODES])
            codes = self.code.reshape(len(x[:MAX_CODES]), -1)  # [N, code]
            if codes.shape[1] == 2:
                data["codes"] = _rounded(codes)
        self.model.train(was_training)
        return {"autoencoder": data} if data else {}


def _rounded(t: torch.Tensor) -> list:
    return [[round(float(v), 3) for v in row] for row in t.float().cpu().tolist()]
