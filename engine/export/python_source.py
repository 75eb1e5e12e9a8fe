"""`model.py`: readable, standalone PyTorch source for a compiled network (needs only torch and safetensors).

The source is generated from the compiled torch.fx graph, so it is the network that was trained:

    class Lenet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels=1, out_channels=6, kernel_size=(3, 3), padding=(1, 1))
            ...
        def forward(self, x: Tensor) -> Tensor:  # x: (B, 1, 8, 8)
            conv1 = self.conv1(x)  # (B, 6, 8, 8)
            ...

Submodule attributes are the node ids, so `load_model` loads weights.safetensors with strict=True. Around the
class, engine/export/python_io.py writes the constants (CLASS_NAMES, INPUT_MEAN, INPUT_STD), the NormalizeInputs
step that load_model() puts in front of the network for raw inputs, predict() and load_model(). Each
submodule is built with the keyword arguments the compiled one was built with (its op's record in
engine/compile/op_records.py gives them; engine/compile/fx_module.py keeps them in the fx node's
meta["spec_args"]), so `model_source` needs a GraphModule from fx_module.compile_analysis. The custom
layers a network uses (Step, Maxout, LSTMLayer, ...) are copied into the file from
engine/compile/layers.py, with the helper functions they call, so nothing of NetCanvas is needed to run it.
"""

from __future__ import annotations

import ast
import inspect
import keyword

from torch import fx

from builder.analysis.validate import Analysis
from engine.compile import layers
from engine.compile.fx_module import class_name
from engine.export import python_io
from engine.export.literal import inert_text, py_identifier
from engine.export.preprocess import input_normalization
from engine.export.python_blocks import block_classes
from engine.export.python_lines import (
    INIT_INDENT,
    MODULE_NAMES,
    forward_lines,
    init_lines,
    is_custom_layer,
    local_names,
    shape_comment,
)


def imports_source(uses_functional: bool) -> str:
    functional = "import torch.nn.functional as F\n" if uses_functional else ""
    return (
        "from __future__ import annotations\n\n"
        "from pathlib import Path\n\n"
        "import torch\n"
        f"{functional}"
        "from safetensors.torch import load_file\n"
        "from torch import Tensor, nn\n"
    )


# --- the custom layers' source -----------------------------------------------------------------------


def _layer_functions() -> dict[str, object]:
    return {
        name: obj for name, obj in vars(layers).items() if inspect.isfunction(obj) and obj.__module__ == layers.__name__
    }


def _names_in(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}


def layer_sources(classes: list[type]) -> list[str]:
    """Source of the given engine.compile.layers classes and, first, of the module-level helpers they call."""
    functions = _layer_functions()
    sources = [inspect.getsource(cls) for cls in classes]
    needed: set[str] = set()
    pending = set().union(*(_names_in(s) for s in sources)) & set(functions)
    while pending:
        name = pending.pop()
        needed.add(name)
        pending |= (_names_in(inspect.getsource(functions[name])) & set(functions)) - needed
    order = list(functions)  # helpers in their order in engine/compile/layers.py
    return [inspect.getsource(functions[name]) for name in sorted(needed, key=order.index)] + sources


def _custom_classes(gm: fx.GraphModule) -> list[type]:
    used = {getattr(type(m), "written_as", type(m)) for m in gm.modules()}  # a FusedRecurrent is written as Recurrent
    used = {cls for cls in used if is_custom_layer(cls)}
    source_order = list(vars(layers).values())
    return sorted(used, key=source_order.index)


# --- the network class ---------------------------------------------------------------------------------


def network_class_source(gm: fx.GraphModule, analysis: Analysis, name: str, block_names: dict | None = None) -> str:
    placeholder = next(n for n in gm.graph.nodes if n.op == "placeholder")
    input_name = local_names(gm)[placeholder]
    init = init_lines(gm, block_names)
    output_shape = shape_comment(analysis.shapes[analysis.output_id])
    input_shape = shape_comment(analysis.shapes[analysis.input_id])
    title = inert_text(analysis.spec.name)
    body = [
        f"class {py_identifier(name)}(nn.Module):",
        f'    """{title}: {input_shape} -> {output_shape}; attribute names are the node ids."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        *(" " * INIT_INDENT + line for line in init),
        "",
        f"    def forward(self, {input_name}: Tensor) -> Tensor:  # {input_name}: {input_shape}",
        *(f"        {line}" for line in forward_lines(gm)),
    ]
    return "\n".join(body) + "\n"


# --- the whole file ----------------------------------------------------------------------------------


def _class_name(spec_name: str, taken: set[str]) -> str:
    """The network's class: a CamelCase identifier from its name that is no keyword ("none" -> None) and no
    other name the file defines or uses."""
    name = class_name(spec_name)
    while name in taken or keyword.iskeyword(name):
        name += "Net"
    return py_identifier(name)


def model_source(gm: fx.GraphModule, analysis: Analysis, meta: dict, normalize: bool = True) -> str:
    """The whole model.py for the compiled network `gm` of `analysis`; `meta` is the bundle's meta.json. With the
    bundle's input normalisation in meta, load_model() returns the network behind that step (switched on while
    `normalize`); BundleError if meta.json's normalisation does not fit the Input."""

    classes = _custom_classes(gm)
    taken = {c.__name__ for c in classes} | MODULE_NAMES | {python_io.WRAPPER}
    block_names, block_sources = block_classes(gm, taken)  # adds the block classes' names to taken
    name = _class_name(analysis.spec.name, taken)
    norm = input_normalization(meta, analysis.shapes[analysis.input_id])
    sources = layer_sources(classes)
    uses_functional = any("F" in _names_in(source) for source in sources)
    head = (
        python_io.docstring(analysis, meta, norm, normalize)
        + "\n"
        + imports_source(uses_functional)
        + "\n"
        + python_io.constants(analysis, meta, norm)
    )
    parts = [head, *sources, *block_sources, network_class_source(gm, analysis, name, block_names)]
    if norm is not None:
        placeholder = next(n for n in gm.graph.nodes if n.op == "placeholder")
        parts.append(python_io.wrapper_source(local_names(gm)[placeholder]))
    parts += [python_io.predict_source(analysis, meta), python_io.loader_source(name, norm, normalize)]
    return "\n\n".join(part.rstrip("\n") + "\n" for part in parts)
