"""ONNX: write with torch's exporter (torch.export based, dynamic batch axis), check with onnx.checker, run with
onnxruntime — the runtime the file's consumer will use.

    write_onnx(model, example, path, input_name="x", output_name="fc2")
    add_metadata(path, {"netcanvas.class_names": '["a", "b"]'})
    outputs = run_onnx(path, [batch_a, batch_b])     # NetCanvasError with one line if the file is not sound
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import NetCanvasError

BATCH_AXIS = "batch"


class OnnxCheckError(NetCanvasError):
    """The written ONNX file does not pass onnx.checker or does not run in onnxruntime."""


@contextlib.contextmanager
def quiet_exporter():
    """The exporter logs and warns about things that do not concern the user (missing torchvision ops...)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def write_onnx(model: nn.Module, example: torch.Tensor, path: Path, input_name: str, output_name: str) -> None:
    """Export `model` (eval mode) to `path` as one self-contained file whose batch dimension is dynamic."""
    batch = torch.export.Dim(BATCH_AXIS, min=1)
    with quiet_exporter():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            dynamic_shapes=({0: batch},),
            input_names=[input_name],
            output_names=[output_name],
            external_data=False,
            verbose=False,
        )


def add_metadata(path: Path, props: dict[str, str]) -> None:
    """Store `props` in the file's metadata_props (onnxruntime: session.get_modelmeta().custom_metadata_map)."""
    import onnx

    model = onnx.load(str(path))
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)


def run_onnx(path: Path, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    """Check the file with onnx.checker, then run each batch through onnxruntime; the outputs as tensors."""
    import onnx
    import onnxruntime

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as err:  # onnx raises ValidationError or InferenceError
        raise OnnxCheckError(f"onnx.checker rejects {path.name}: {_first_line(err)}") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (model_input,) = session.get_inputs()
    if not isinstance(model_input.shape[0], str):
        fixed = model_input.shape[0]
        raise OnnxCheckError(f"{path.name} has a fixed batch size {fixed}; expected a dynamic batch axis")
    outputs = []
    for batch in batches:
        try:
            (result,) = session.run(None, {model_input.name: batch.numpy()})
        except Exception as err:  # onnxruntime's own error classes
            raise OnnxCheckError(
                f"onnxruntime cannot run {path.name} on a batch of {len(batch)}: {_first_line(err)}"
            ) from None
        outputs.append(torch.from_numpy(np.asarray(result)))
    return outputs


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
