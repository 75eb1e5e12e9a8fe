"""The lines of model.py's classes, written from a compiled torch.fx GraphModule: the statements of __init__ (one
submodule per module node, built with the keyword arguments it was built with) and of forward (one line per graph
node, with its output shape as a comment). engine/export/python_source.py puts them into the network's class,
engine/export/python_blocks.py into a block body's or a cell's class.
"""

from __future__ import annotations

import inspect
import keyword
import operator

import torch
from torch import fx, nn

from engine.compile import layers
from engine.export.literal import py_identifier, py_literal

MODULE_NAMES = frozenset({"torch", "nn", "F", "Tensor", "load_file", "Path", "self"})  # used by the file itself
LINE_LENGTH = 120  # long constructor calls are wrapped as ruff format would at this line length
INIT_INDENT = 8  # the statements of __init__


def is_custom_layer(cls: type) -> bool:
    """A class of engine/compile/layers.py, whose source model.py carries."""
    return cls.__module__ == layers.__name__


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


def shape_comment(shape) -> str:
    return "(" + ", ".join(["B", *(str(int(d)) for d in shape)]) + ")"


def local_names(gm: fx.GraphModule) -> dict[fx.Node, str]:
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
    names = local_names(gm)
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
