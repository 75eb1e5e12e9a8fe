"""Mixed precision for the backprop step: `amp` is "off", "bf16" or "fp16" (TrainConfig.amp).

    precision = MixedPrecision(config.amp, device, model)
    with precision.autocast():                       # forward and loss in the low precision where torch allows
        loss = loss_fn(model(xb), yb)
    precision.backward_and_step(loss, optimizer)     # fp16: scaled backward, step skipped on inf/NaN gradients

The weights stay float32 (autocast casts per op), so checkpoints, bundles and exports do not change.
fp16 overflows easily, so its gradients go through a GradScaler: a step whose gradients hold inf or NaN is
skipped and the scale halved; that is the scaler doing its job, not divergence (the loss stays finite).
bf16 has float32's range and needs no scaler, with one exception: on CUDA, torch's autocast runs the fused
recurrent kernels (RNN, LSTM, GRU) in float16 even when bf16 is asked for (seen on an H200 with torch 2.11:
an nn.LSTM's output under bf16 autocast is float16), so a bf16 run of a network with such a layer gets the
GradScaler too. Gate-level cells (Linear, Sigmoid, ... in a Recurrent node) follow bf16 like any other layer.
Evaluation runs in float32.
"""

from __future__ import annotations

import contextlib

import torch

from engine.train.config import AMP_MODES

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def amp_problem(mode: str, device: torch.device, model: torch.nn.Module | None = None) -> str | None:
    """Why `mode` cannot run on `device` (for `model`'s layers), or None."""
    if mode == "off":
        return None
    if device.type == "mps":
        return f"amp '{mode}' is not supported on mps here; use amp 'off'"
    recurrent = _recurrent_node(model) if model is not None and device.type == "cpu" else None
    if recurrent is not None:  # oneDNN has no low-precision RNN/LSTM/GRU kernel: the first step would crash
        return (
            f"amp '{mode}' cannot run node '{recurrent}' on the CPU (torch has no {mode} recurrent kernel "
            "there); use amp 'off' on the CPU, or a GPU"
        )
    if device.type == "cuda" and mode == "bf16" and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        return f"amp 'bf16' needs a GPU with bfloat16 (Ampere or newer); {name} has none: use amp 'fp16'"
    return None


def _recurrent_node(model: torch.nn.Module) -> str | None:
    """The name of the first recurrent layer (RNN, LSTM, GRU) in `model`, or None."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.RNNBase):
            return name.removeprefix("module.")  # DDP wraps the model as .module
    return None


def needs_scaler(mode: str, device: torch.device, model: torch.nn.Module | None) -> bool:
    """fp16 always; bf16 on CUDA when a fused recurrent layer will in fact run in float16 (see above)."""
    if mode == "fp16":
        return True
    fused_recurrent = model is not None and _recurrent_node(model) is not None
    return mode == "bf16" and device.type == "cuda" and fused_recurrent


class MixedPrecision:
    """Autocast and (for fp16) gradient scaling for one device; with mode "off" both are plain float32."""

    def __init__(self, mode: str, device: torch.device, model: torch.nn.Module | None = None):
        assert mode in AMP_MODES, f"unknown amp mode {mode!r} (config.problems missed it)"
        self.mode, self.device = mode, device
        self.scaler = torch.amp.GradScaler(device.type) if needs_scaler(mode, device, model) else None

    def autocast(self):
        if self.mode == "off":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[self.mode])

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)  # skipped when the unscaled gradients hold inf or NaN
        self.scaler.update()

    def scale(self) -> float | None:
        """The fp16 gradient scale now (a host sync; call it at log points only), else None."""
        return None if self.scaler is None else float(self.scaler.get_scale())
