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
compiled network's.
"""

from __future__ import annotations

import keyword

from torch import fx

from engine.compile.fx_module import class_name


def _unique(base: str, taken: set[str]) -> str:
    """`base`, or base2, base3 ...: no name the file uses and no keyword (block 'none' -> class None2)."""
    name, k = base, 2
    while name in taken or keyword.iskeyword(name):
        name, k = f"{base}{k}", k + 1
    return name


def _body_source(gm: fx.GraphModule, name: str, block: str, block_names: dict[int, str]) -> str:
    from engine.export.python_source import INIT_INDENT, _local_names, forward_lines, init_lines, shape_comment

    local = _local_names(gm)
    inputs = [n for n in gm.graph.nodes if n.op == "placeholder"]
    output = next(n for n in gm.graph.nodes if n.op == "output").args[0]
    shapes = ", ".join(shape_comment(n.meta["spec_shape"]) for n in inputs)
    lines = [
        f"class {name}(nn.Module):",
        f'    """Block \'{block}\': {shapes} -> {shape_comment(output.meta["spec_shape"])}; attribute names are the '
        'inner node ids."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        *(" " * INIT_INDENT + line for line in init_lines(gm, block_names)),
        "",
        f"    def forward(self, {', '.join(f'{local[n]}: Tensor' for n in inputs)}) -> Tensor:",
        *(f"        {line}" for line in forward_lines(gm)),
    ]
    return "\n".join(lines) + "\n"


def block_classes(gm: fx.GraphModule, taken: set[str]) -> tuple[dict[int, str], list[str]]:
    """(class name per nested block GraphModule, by id(); the classes' sources, innermost first). `taken`: names
    the file already uses (the new class names are added to it)."""
    block_names: dict[int, str] = {}
    by_source: dict[str, str] = {}  # a class's source with its name left out -> its name
    sources: list[str] = []

    def visit(module: fx.GraphModule) -> None:
        for node in module.graph.nodes:
            if node.op != "call_module" or "spec_block" not in node.meta:
                continue
            body = module.get_submodule(node.target)
            visit(body)
            block = node.meta["spec_block"]
            text = _body_source(body, "CLASS", block, block_names)
            if text not in by_source:
                by_source[text] = _unique(class_name(block), taken)
                taken.add(by_source[text])
                sources.append(text.replace("class CLASS(", f"class {by_source[text]}(", 1))
            block_names[id(body)] = by_source[text]

    visit(gm)
    return block_names, sources
