"""Choosing the torch device for a run: `auto` tries cuda, then mps, then falls back to cpu."""

from __future__ import annotations

import torch

from engine.errors import ConfigError


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _cuda_device(name: str, named: bool = True) -> tuple[torch.device, str]:
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device '{name}' was asked for but no CUDA GPU is available to this torch build "
            f"({torch.__version__}); use device 'auto' or 'cpu'"
        )
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device must be cuda or cuda:N (N a GPU index); got {name!r}") from None
    index = device.index if device.index is not None else 0  # "cuda" is cuda:0 in a process that set no device
    count = torch.cuda.device_count()  # counts devices without creating a CUDA context
    if index >= count:
        raise ConfigError(
            f"device '{name}' was asked for but only {count} CUDA device(s) exist (cuda:0 to cuda:{count - 1})"
        )
    if not named:  # get_device_name creates this process's CUDA context (hundreds of MB on the GPU)
        return device, f"using {name}"
    return device, f"using {name} ({torch.cuda.get_device_name(index)})"


def out_of_memory(device: torch.device, batch_size: int, step: int) -> str:
    """The one line that says a step ran out of device memory and what to do; frees the cached blocks first."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    smaller = max(1, batch_size // 2)
    return (
        f"out of memory on {device} in step {step + 1} with batch_size {batch_size}; "
        f"lower batch_size (try {smaller}) and train again"
    )


def pick_device(name: str = "auto", named: bool = True) -> tuple[torch.device, str]:
    """(device, one-line message saying which device and why); ConfigError if it cannot be had. `named=False`
    leaves the GPU's name out, so that a process that only checks (the web server) starts no CUDA context."""
    if name == "auto":
        if torch.cuda.is_available():
            device, message = _cuda_device("cuda", named)
            return device, message + ", picked by auto"
        if _mps_available():
            return torch.device("mps"), "using mps (Apple GPU), picked by auto"
        return torch.device("cpu"), "using cpu (auto found no cuda or mps device)"
    if name == "cpu":
        return torch.device("cpu"), "using cpu"
    if name == "cuda" or name.startswith("cuda:"):
        return _cuda_device(name, named)
    if name == "mps":
        if not _mps_available():
            raise ConfigError(
                "device 'mps' was asked for but no Apple GPU (MPS) is available; use device 'auto' or 'cpu'"
            )
        return torch.device("mps"), "using mps (Apple GPU)"
    raise ConfigError(f"device must be one of auto, cpu, cuda, cuda:N, mps; got {name!r}")
