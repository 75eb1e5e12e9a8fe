"""Imported once by the forkserver that page jobs start from (engine/runs/page_jobs.py), so that an export's first
ONNX file does not wait for torch's ONNX exporter to load: onnxscript's torch library (its ~470 functions are
translated from their Python source when the exporter's registry is first built) and the parts of torch.export
the exporter imports on first use. Nothing runs on a tensor here: the forkserver must not start torch's threads.

On a quiet 2-core machine this moves about 3-5 s from the click on Export to the server's start (a background
process); every page job and run forked afterwards shares the loaded modules (copy on write).
"""

from __future__ import annotations

import importlib
import logging

WARM_MODULES = (
    "onnx",
    "onnxruntime",
    "onnxscript",
    "torch.onnx",
    "torch._export.passes",
    "torch._export.non_strict_utils",
    "torch._export.serde.serialize",
    "torch._functorch.aot_autograd",
    "torch._functorch.partitioners",
    "torch.export._trace",
    "torch.export._unlift",
    "torch._export.db",
    "torch._inductor.fx_passes",
    "sympy.combinatorics",
    "sympy.tensor.tensor",
)


def warm() -> None:
    """Load the modules and build the registry; a failure here is left for the export itself to report."""
    try:
        _warm()
    except Exception:  # a warm-up must never stop the forkserver from starting
        pass


def _warm() -> None:
    for name in WARM_MODULES:
        importlib.import_module(name)
    from torch.onnx._internal.exporter import _registration

    logger = logging.getLogger("torch.onnx")  # "torchvision is not installed": not the user's concern
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        _registration.ONNXRegistry.from_torchlib()  # builds (and caches) the functions' ONNX IR
    finally:
        logger.setLevel(level)


warm()
