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
import operator

import torch
from torch import fx, nn

from builder.analysis.validate import Analysis
from engine.compile import layers
from engine.compile.fx_module import class_name
from engine.export import python_io
from engine.export.literal import inert_text, py_identifier, py_literal
from engine.export.preprocess import input_normalization

MODULE_NAMES = frozenset({"torch", "nn", "F", "Tensor", "load_file", "Path", "self"})  # used by the file itself
LINE_LENGTH = 120  # long constructor calls are wrapped as ruff format would at this line length
INIT_INDENT = 8  # the statements of __init__


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


def _is_torch_default(cls: type[nn.Module], name: str, value) -> bool:
    """Whether torch.nn's `cls` takes `value` for `name` when it is left out (an int default stands for a tuple
    of that int: stride 1 is (1, 1))."""
    param = inspect.signature(cls).parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        return False
    default = param.default
    if isinstance(value, tuple) and type(default) is int:
        return value == (default,) * len(value)
    return type(value) is type(default) and value == default


def constructor_call(cls: type[nn.Module], args: dict) -> tuple[str, list[str]]:
    """(callee, ["name=value", ...]) of the call `cls(**args)`: `Name` with every argument for a layer of
    engine/compile/layers.py (copied into the file), `nn.Name` without the arguments that are torch's defaults
    for a torch.nn class."""
    if not is_custom_layer(cls):
        args = {name: value for name, value in args.items() if not _is_torch_default(cls, name, value)}
    texts = [f"{py_identifier(name)}={py_literal(value)}" for name, value in args.items()]
    if is_custom_layer(cls):
        return cls.__name__, texts
    assert getattr(nn, cls.__name__, None) is cls, f"no source form for {cls.__qualname__}"
    return f"nn.{cls.__name__}", texts


def wrapped(head: str, items: list[str], indent: int) -> list[str]:
    """`head(items)` as ruff format writes it at `indent`: one line, the items on one line of their own, or one
    item a line."""
    one_line = f"{head}({', '.join(items)})"
    if indent + len(one_line) <= LINE_LENGTH:
        return [one_line]
    if indent + 4 + len(", ".join(items)) <= LINE_LENGTH:
        return [f"{head}(", f"    {', '.join(items)}", ")"]
    return [f"{head}(", *(f"    {item}," for item in items), ")"]


def init_lines(gm: fx.GraphModule, block_names: dict[int, str] | None = None) -> list[str]:
    """The body of __init__ after super(): one submodule per module node, built with the arguments its module
    was built with (engine.compile.fx_module keeps them in the fx node's meta["spec_args"]); a block use is an
    instance of its body's class (`block_names`, engine/export/python_blocks.py)."""
    lines = []
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        if "spec_block" in node.meta:
            block_class = py_identifier((block_names or {})[id(gm.get_submodule(node.target))])
            lines.append(f"self.{py_identifier(node.target)} = {block_class}()")
            continue
        if "spec_cell" in node.meta:
            lines += _recurrent_init(gm, node, block_names or {})
            continue
        assert "spec_args" in node.meta, (
            f"model.py is written from a GraphModule compiled by engine.compile.fx_module; submodule "
            f"'{node.target}' has no meta['spec_args'] (the arguments it was built with)"
        )
        callee, texts = constructor_call(type(gm.get_submodule(node.target)), node.meta["spec_args"])
        lines += wrapped(f"self.{py_identifier(node.target)} = {callee}", texts, INIT_INDENT)
    return lines


def _recurrent_init(gm: fx.GraphModule, node: fx.Node, block_names: dict[int, str]) -> list[str]:
    """`self.rnn = Recurrent(cell=LstmCell(), hidden=..., ...)`: the cells are instances of their bodies' classes."""
    recurrent = gm.get_submodule(node.target)
    texts = [f"cell={py_identifier(block_names[id(recurrent.cell)])}()"]
    texts += [f"{py_identifier(name)}={py_literal(value)}" for name, value in node.meta["spec_args"].items()]
    if recurrent.cell_reverse is not None:
        texts.append(f"cell_reverse={py_identifier(block_names[id(recurrent.cell_reverse)])}()")
    return wrapped(f"self.{py_identifier(node.target)} = Recurrent", texts, INIT_INDENT)


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


def is_custom_layer(cls: type) -> bool:
    """A class of engine/compile/layers.py, whose source model.py carries."""
    return cls.__module__ == layers.__name__


def _custom_classes(gm: fx.GraphModule) -> list[type]:
    used = {getattr(type(m), "written_as", type(m)) for m in gm.modules()}  # a FusedRecurrent is written as Recurrent
    used = {cls for cls in used if is_custom_layer(cls)}
    source_order = list(vars(layers).values())
    return sorted(used, key=source_order.index)


# --- the network class ---------------------------------------------------------------------------------


def shape_comment(shape) -> str:
    return "(" + ", ".join(["B", *(str(int(d)) for d in shape)]) + ")"


def _local_names(gm: fx.GraphModule) -> dict[fx.Node, str]:
    """A Python variable name per value node: its node id, unless that would hide a name the file uses."""
    names: dict[fx.Node, str] = {}
    taken = set(MODULE_NAMES) | set(keyword.kwlist)
    for node in gm.graph.nodes:
        if node.op == "output":
            continue
        name = node.name
        while name in taken:
            name += "_"
        taken.add(name)
        names[node] = py_identifier(name)
    return names


def _function_name(target) -> str:
    name = getattr(target, "__name__", "")
    assert getattr(torch, name, None) is target, f"no source form for function {target!r}"
    return f"torch.{name}"


def _arg_source(arg, names: dict[fx.Node, str]) -> str:
    if isinstance(arg, fx.Node):
        return names[arg]
    if isinstance(arg, list):
        return "[" + ", ".join(_arg_source(a, names) for a in arg) + "]"
    if isinstance(arg, tuple):
        inner = ", ".join(_arg_source(a, names) for a in arg)
        return f"({inner},)" if len(arg) == 1 else f"({inner})"
    return py_literal(arg)


def _call_source(node: fx.Node, names: dict[fx.Node, str]) -> str:
    args = [_arg_source(a, names) for a in node.args]
    args += [f"{py_identifier(key)}={_arg_source(value, names)}" for key, value in node.kwargs.items()]
    if node.op == "call_module":
        return f"self.{py_identifier(node.target)}({', '.join(args)})"
    assert node.op == "call_function", f"unexpected fx node {node.op}"
    if node.target is operator.getitem:  # a cell's state Input: h = state[0]
        return f"{args[0]}[{args[1]}]"
    return f"{_function_name(node.target)}({', '.join(args)})"


def forward_lines(gm: fx.GraphModule) -> list[str]:
    """The body of forward: one line per graph node, each with its output shape as a comment."""
    names = _local_names(gm)
    lines = []
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        shape = node.meta.get("spec_shape")
        comment = f"  # {shape_comment(shape)}" if shape is not None else ""
        lines.append(f"{names[node]} = {_call_source(node, names)}{comment}")
    output = next(n for n in gm.graph.nodes if n.op == "output")
    lines.append(f"return {_arg_source(output.args[0], names)}")
    return lines


def network_class_source(gm: fx.GraphModule, analysis: Analysis, name: str, block_names: dict | None = None) -> str:
    placeholder = next(n for n in gm.graph.nodes if n.op == "placeholder")
    input_name = _local_names(gm)[placeholder]
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
    from engine.export.python_blocks import block_classes  # it writes a block's body with this module's parts

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
        parts.append(python_io.wrapper_source(_local_names(gm)[placeholder]))
    parts += [python_io.predict_source(analysis, meta), python_io.loader_source(name, norm, normalize)]
    return "\n\n".join(part.rstrip("\n") + "\n" for part in parts)
