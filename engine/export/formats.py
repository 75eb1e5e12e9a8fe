"""What the export formats are, which nodes block which format (and why), and the fixed batch each export is
checked on. Plain data and small rules; engine/export/exporter.py does the work. The op settings a format
cannot express are the `blocks` of each op's record in engine/compile/op_records.py.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from builder.analysis.validate import Analysis
from engine.compile.op_records import OP_RECORDS, OpRecord

FORMATS = ("onnx", "torchscript", "python")
FORMAT_FILES = {"onnx": "model.onnx", "torchscript": "model.ts", "python": "model.py"}
FORMAT_TITLES = {"onnx": "ONNX", "torchscript": "TorchScript", "python": "PyTorch source"}
FORMAT_USES = {
    "onnx": "onnxruntime, TensorRT, OpenVINO, browsers (onnxruntime-web)",
    "torchscript": "torch.jit.load in Python or LibTorch (C++), no model code needed",
    "python": "plain PyTorch: read it, change it, fine-tune it (needs torch and safetensors)",
}
TOLERANCE = 1e-4  # largest absolute difference from the trained model an export may show
CHECK_BATCH = 8  # samples in the fixed check batch
SECOND_BATCH = 3  # ONNX also runs a batch of this size, to prove the batch axis is dynamic
CHECK_SEED = 0
FORMAT_CHECKS = {  # how each file is proven before it is offered
    "onnx": f"checked by onnx.checker and run in onnxruntime on batches of {CHECK_BATCH} and {SECOND_BATCH}",
    "torchscript": "loaded with torch.jit.load in a fresh Python without NetCanvas",
    "python": "imported in a fresh Python without NetCanvas, weights loaded strictly",
}


def blocking_reasons(
    analysis: Analysis, fmt: str, records: Mapping[str, OpRecord] = OP_RECORDS, where: str = ""
) -> list[str]:
    """One line per node that keeps `fmt` from being exported: "op 'node' blocks FORMAT because ...". Which op
    settings block which format is the `blocks` of the op's record (engine/compile/op_records.py). The bodies
    of block uses and of Recurrent cells are looked into too, and such a node is named through its use:
    "block 'res2' › ConvTranspose2d 'up' blocks ..."."""
    ops = {n.id: n.op for n in analysis.spec.nodes}
    reasons = []
    for node_id in analysis.order:
        op, params = ops[node_id], analysis.params.get(node_id, {})
        for blocker in records[op].blocks:
            if blocker.format == fmt and blocker.applies(params):
                reasons.append(f"{where}{op} '{node_id}' blocks {FORMAT_TITLES[fmt]} because {blocker.because(params)}")
        inner = analysis.uses.get(node_id) or analysis.cells.get(node_id)
        if inner is not None:
            reasons += blocking_reasons(inner.body, fmt, records, f"{where}block '{node_id}' › ")
    return reasons


def vocabulary_size(analysis: Analysis) -> int:
    """Token ids an int64 input may hold: below every Embedding's num_embeddings."""
    sizes = [analysis.params[n.id]["num_embeddings"] for n in analysis.spec.nodes if n.op == "Embedding"]
    return min(sizes, default=2)


def check_batches(analysis: Analysis) -> dict[str, torch.Tensor]:
    """The fixed inputs every export is compared on: the same seed gives the same tensors."""
    shape = tuple(analysis.shapes[analysis.input_id])
    generator = torch.Generator().manual_seed(CHECK_SEED)
    batches = {}
    for name, size in (("batch", CHECK_BATCH), ("second_batch", SECOND_BATCH)):
        if analysis.params[analysis.input_id].get("dtype") == "int64":
            batches[name] = torch.randint(0, vocabulary_size(analysis), (size, *shape), generator=generator)
        else:
            batches[name] = torch.randn((size, *shape), generator=generator)
    return batches


def max_abs_diff(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> float:
    """Largest absolute difference over every batch. NaN or inf where the trained model has the same value
    count as equal; inf when a shape differs or only one side is not finite."""
    worst = 0.0
    for name, want in expected.items():
        have = got.get(name)
        if have is None or tuple(have.shape) != tuple(want.shape):
            return float("inf")
        want, have = want.double(), have.double()
        same = (want == have) | (want.isnan() & have.isnan())  # equal infinities, NaN where NaN is expected
        diff = torch.where(same, torch.zeros_like(want), (have - want).abs())
        largest = float(diff.max()) if diff.numel() else 0.0
        if largest != largest:  # NaN: one side is NaN and the other is not
            return float("inf")
        worst = max(worst, largest)
    return worst
