"""model.py's classes for block uses: each Block node of the network is an instance of a class written from its
body's compiled GraphModule (engine/compile/fx_module.py compiles a use to a nested GraphModule), innermost
first. Uses whose bodies read the same (the same block, parameter values and input shapes) share one class:

    class Basic(nn.Module):
        \"\"\"Block 'basic': (B, 64, 56, 56) -> (B, 64, 56, 56); attribute names are the inner node ids.\"\"\"
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels=64, out_channels=64, kernel_size=(3, 3), padding=(1, 1), bias=False)
            ...

The network's class then builds `self.res2 = Basic2()`, so the weights' keys read `res2.conv1.weight` as the
compiled network's. A Recurrent's cell is a class the same way, whose forward takes x_t and the state as a list and
returns the new state as one (`def forward(self, x_t: Tensor, state: list[Tensor]) -> list[Tensor]`), and the
network builds `self.rnn = Recurrent(cell=LstmCell(), hidden=32, ...)`.
"""

from __future__ import annotations

import keyword

from torch import fx

from engine.compile.fx_module import class_name
from engine.export.literal import inert_text, py_identifier
from engine.export.python_lines import INIT_INDENT, forward_lines, init_lines, local_names, shape_comment


def _unique(base: str, taken: set[str]) -> str:
    """`base`, or base2, base3 ...: no name the file uses and no keyword (block 'none' -> class None2)."""
    name, k = base, 2
    while name in taken or keyword.iskeyword(name):
        name, k = f"{base}{k}", k + 1
    return name


def _shapes(value: fx.Node | list) -> str:
    """A value's shape as a comment: (B, 5); a cell's state, a list: [(B, 5), (B, 5)] (from the items read)."""
    if isinstance(value, list):
        return "[" + ", ".join(_shapes(v) for v in value) + "]"
    if "spec_shape" not in value.meta:  # a cell's state placeholder: its items are read as state[k]
        return _shapes(sorted(value.users, key=lambda item: item.args[1]))
    return shape_comment(value.meta["spec_shape"])


def _body_source(gm: fx.GraphModule, name: str, block: str, block_names: dict[int, str]) -> str:
    local = local_names(gm)
    inputs = [n for n in gm.graph.nodes if n.op == "placeholder"]
    output = next(n for n in gm.graph.nodes if n.op == "output").args[0]
    typed = lambda value: "list[Tensor]" if isinstance(value, list) or value.type is not None else "Tensor"  # noqa: E731
    shapes = f"{', '.join(_shapes(n) for n in inputs)} -> {_shapes(output)}"
    arguments = ", ".join(f"{py_identifier(local[n])}: {typed(n)}" for n in inputs)
    lines = [
        f"class {py_identifier(name)}(nn.Module):",
        f'    """Block \'{inert_text(block)}\': {shapes}; attribute names are the inner node ids."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        *(" " * INIT_INDENT + line for line in init_lines(gm, block_names)),
        "",
        f"    def forward(self, {arguments}) -> {typed(output)}:",
        *(f"        {line}" for line in forward_lines(gm)),
    ]
    return "\n".join(lines) + "\n"


def _bodies(module: fx.GraphModule, node: fx.Node) -> list[tuple[fx.GraphModule, str]]:
    """(compiled body, block name) of what a call_module node holds: a Block use's body, or a Recurrent's cells."""
    if "spec_block" in node.meta:
        return [(module.get_submodule(node.target), node.meta["spec_block"])]
    if "spec_cell" in node.meta:
        recurrent = module.get_submodule(node.target)
        cells = [recurrent.cell] + ([recurrent.cell_reverse] if recurrent.cell_reverse is not None else [])
        return [(cell, node.meta["spec_cell"]) for cell in cells]
    return []


def block_classes(gm: fx.GraphModule, taken: set[str]) -> tuple[dict[int, str], list[str]]:
    """(class name per nested block GraphModule, by id(); the classes' sources, innermost first). `taken`: names
    the file already uses (the new class names are added to it)."""
    block_names: dict[int, str] = {}
    by_source: dict[str, str] = {}  # a class's source with its name left out -> its name
    sources: list[str] = []

    def visit(module: fx.GraphModule) -> None:
        for node in module.graph.nodes:
            for body, block in _bodies(module, node) if node.op == "call_module" else ():
                visit(body)
                text = _body_source(body, "CLASS", block, block_names)
                if text not in by_source:
                    by_source[text] = _unique(class_name(block), taken)
                    taken.add(by_source[text])
                    sources.append(text.replace("class CLASS(", f"class {by_source[text]}(", 1))
                block_names[id(body)] = by_source[text]

    visit(gm)
    return block_names, sources
