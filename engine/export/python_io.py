"""The parts of model.py around the network class: its docstring, its constants, the input normalisation step,
`predict` and `load_model` (engine/export/python_source.py writes the network class and puts the file together).

What a generated file offers, for a network trained on standardised iris rows:

    from model import load_model, predict
    print(predict(load_model(), [[5.1, 3.5, 1.4, 0.2]]))  # raw rows -> ['setosa']

    model = load_model()                   # NormalizeInputs: (x - INPUT_MEAN) / INPUT_STD, then the network
    model = load_model(normalize=False)    # inputs already normalised (the network alone would do the same)
    model.network                          # the network class itself, to read or fine-tune

Every value from the spec or meta.json enters the file through engine/export/literal.py: as a literal
(`py_literal`: class names, shapes, numbers, which Python reads back exactly), as a checked name (`py_identifier`)
or, in the docstring and comments, as `inert_text` that cannot end them (the spec's name, the version).
"""

from __future__ import annotations

import math

from builder.analysis.validate import Analysis
from engine.compile.op_records import output_kind
from engine.export.literal import inert_text, one_line, py_identifier, py_literal
from engine.export.preprocess import InputNormalization, class_names_of

WRAPPER = "NormalizeInputs"  # the class that puts the normalisation in front of the network
NUMBERS_PER_LINE = 6


def input_dtype_name(meta: dict) -> str:
    """The Input's dtype as model.py and its README name it: one of two fixed words, never meta.json's text."""
    return "int64" if meta.get("input_dtype") == "int64" else "float32"


def string_tuple(names: list[str]) -> str:
    """A tuple of strings as source (py_literal: each reads back as exactly the string it was made from)."""
    return py_literal(tuple(str(name) for name in names))


def number_tuple(name: str, values: list[float]) -> str:
    """`NAME = (v, ...)`, a few numbers a line, each written so that Python reads back the same float."""
    if not all(math.isfinite(float(v)) for v in values):
        raise ValueError(f"{name} holds a number that is not finite")
    texts = [py_literal(float(v)) for v in values]
    if len(texts) <= NUMBERS_PER_LINE:
        return f"{name} = ({', '.join(texts)}{',' if len(texts) == 1 else ''})"
    rows = [", ".join(texts[i : i + NUMBERS_PER_LINE]) + "," for i in range(0, len(texts), NUMBERS_PER_LINE)]
    return "\n".join([f"{name} = (", *(f"    {row}" for row in rows), ")"])


def shape_text(shape) -> str:
    """(B, 1, 8, 8) for comments and docstrings: the sizes as ints, so nothing else can get in."""
    return "(" + ", ".join(["B", *(str(int(d)) for d in shape)]) + ")"


def example_row(analysis: Analysis, meta: dict) -> str:
    """Source for one raw input row of the right size, for the usage lines: [[0.0] * 4]."""
    size = math.prod(analysis.shapes[analysis.input_id])
    zero = "0" if input_dtype_name(meta) == "int64" else "0.0"
    return f"[[{zero}] * {size}]"


def usage_lines(analysis: Analysis, meta: dict) -> list[str]:
    """The two lines that load model.py and run it on a raw row (the README's first lines, the docstring's)."""
    what = "class name" if class_names_of(meta) else "output"
    return [
        "from model import load_model, predict  # in the folder of model.py; needs torch and safetensors",
        f"print(predict(load_model(), {example_row(analysis, meta)}))  # a raw row, as in the data -> its {what}",
    ]


def docstring(analysis: Analysis, meta: dict, norm: InputNormalization | None, normalize: bool) -> str:
    input_shape = shape_text(analysis.shapes[analysis.input_id])
    output_shape = shape_text(analysis.shapes[analysis.output_id])
    dtype = input_dtype_name(meta)
    title, version = inert_text(analysis.spec.name), inert_text(str(meta.get("netcanvas_version", "")), 40)
    lines = [
        f'"""{title}: a network built with NetCanvas {version}'.rstrip() + ", as plain PyTorch.",
        "",
        "Needs only torch and safetensors:",
        "",
        *(f"    {line}" for line in usage_lines(analysis, meta)),
        "",
        "    model = load_model()  # reads weights.safetensors next to this file; eval mode",
        f"    y = model(x)  # x: {input_shape} {dtype} -> y: {output_shape}",
    ]
    if norm is not None:
        how = "as they are in the data (raw)" if normalize else "already normalised"
        lines += [
            "",
            f"Inputs are taken {how}. The network was trained on (raw - INPUT_MEAN) / INPUT_STD",
            f"({inert_text(norm.kind)}); {WRAPPER} applies that step while its `normalize` is True.",
            "load_model(normalize=False) skips it, for inputs that are already normalised;",
            "load_model().network is the network alone.",
        ]
    return "\n".join(lines) + '\n"""\n'


def constants(analysis: Analysis, meta: dict, norm: InputNormalization | None) -> str:
    shape = tuple(int(d) for d in analysis.shapes[analysis.input_id])
    lines = [
        f"INPUT_SHAPE = {py_literal(shape)}  # one sample, without the batch dimension",
        f"INPUT_DTYPE = torch.{input_dtype_name(meta)}",
        f"CLASS_NAMES = {string_tuple(class_names_of(meta))}  # output unit k is class CLASS_NAMES[k]",
    ]
    if norm is not None:
        values = norm.to_dict()
        lines += [
            f"# the network was trained on (raw - INPUT_MEAN) / INPUT_STD ({inert_text(norm.kind)}); "
            + ("one value for every feature" if len(values["mean"]) == 1 else "one value per feature"),
            number_tuple("INPUT_MEAN", values["mean"]),
            number_tuple("INPUT_STD", values["std"]),
        ]
    return "\n".join(lines) + "\n"


def wrapper_source(input_name: str) -> str:
    input_name = py_identifier(input_name)
    return f'''class {WRAPPER}(nn.Module):
    """`network` on raw inputs: (x - INPUT_MEAN) / INPUT_STD, then the network; normalize=False skips the step."""

    def __init__(self, network: nn.Module, normalize: bool = True):
        super().__init__()
        self.network = network
        self.normalize = normalize
        per_feature = INPUT_SHAPE if len(INPUT_MEAN) > 1 else (1,)
        self.register_buffer("input_mean", torch.tensor(INPUT_MEAN).reshape(per_feature), persistent=False)
        self.register_buffer("input_std", torch.tensor(INPUT_STD).reshape(per_feature), persistent=False)

    def forward(self, {input_name}: Tensor) -> Tensor:
        if self.normalize:
            {input_name} = ({input_name} - self.input_mean) / self.input_std
        return self.network({input_name})
'''


def predict_source(analysis: Analysis, meta: dict) -> str:
    """`predict(model, rows)`: class names for a classifier (as the app counts a prediction), else the outputs."""
    head = (
        "@torch.no_grad()\n"
        "def predict(model: nn.Module, rows) -> list:\n"
        '    """Rows of raw inputs (nested lists or a tensor, INPUT_SHAPE values each) -> one prediction a row."""\n'
        "    x = torch.as_tensor(rows, dtype=INPUT_DTYPE).reshape(-1, *INPUT_SHAPE)\n"
        "    y = model(x)\n"
    )
    if not class_names_of(meta):
        return head + "    return y.tolist()\n"
    sink = analysis.spec.node(analysis.output_id).op
    yes_above = py_literal(output_kind(sink).yes_above)
    return head + (
        f"    # one output unit for two classes says class 1 above {yes_above}; else the largest unit wins\n"
        f"    index = (y[..., 0] > {yes_above}).long() if y.shape[-1] == 1 else y.argmax(dim=-1)\n"
        "    return [[CLASS_NAMES[i] for i in row] if isinstance(row, list) else CLASS_NAMES[row] "
        "for row in index.tolist()]\n"
    )


def loader_source(name: str, norm: InputNormalization | None, normalize: bool) -> str:
    name = py_identifier(name)
    weights = 'weights_path: str | Path = Path(__file__).with_name("weights.safetensors")'
    load = (
        f"    network = {name}()\n"
        '    network.load_state_dict(load_file(str(weights_path), device="cpu"), strict=True)\n'
    )
    if norm is None:
        head = f"def load_model({weights}) -> {name}:\n"
        body = '    """The network with its trained weights, in eval mode."""\n' + load + "    return network.eval()\n"
        show = "network"
    else:
        head = f"def load_model(\n    {weights}, normalize: bool = {py_literal(bool(normalize))}\n) -> {WRAPPER}:\n"
        body = (
            '    """The network with its trained weights behind the input normalisation, in eval mode."""\n'
            + load
            + f"    return {WRAPPER}(network, normalize).eval()\n"
        )
        show = "network.network"
    main = (
        "\n\n"
        'if __name__ == "__main__":\n'
        "    network = load_model()\n"
        "    example = torch.zeros(2, *INPUT_SHAPE, dtype=INPUT_DTYPE)\n"
        f'    print(type({show}).__name__, "output shape:", tuple(network(example).shape))\n'
    )
    return head + body + main


def readme_text(analysis: Analysis, meta: dict, norm: InputNormalization | None, normalize: bool) -> str:
    """README.txt of the small PyTorch zip: the two usage lines first, then what goes in and what comes out."""
    shape = list(analysis.shapes[analysis.input_id])
    dtype = input_dtype_name(meta)
    names = [one_line(name) for name in class_names_of(meta)]  # one line each: no text can fake a line
    version = inert_text(str(meta.get("netcanvas_version", "")), 40)
    lines = [
        *usage_lines(analysis, meta),
        "",
        f"{inert_text(analysis.spec.name)}: exported by NetCanvas {version}".rstrip(),
        "",
        "model.py             the network as plain PyTorch source, load_model() and predict()",
        "weights.safetensors  its trained weights (load_model reads them with strict=True)",
        "Needs: pip install torch safetensors",
        "",
        f"Input: rows of {math.prod(shape)} {dtype} values, one sample of shape {shape}.",
    ]
    if norm is None:
        lines.append("The network was trained on the values as they are: there is no normalisation step.")
    elif normalize:
        lines += [
            "Give the values as they are in the data (raw): load_model() applies the training normalisation",
            f"({inert_text(norm.kind)}: (x - INPUT_MEAN) / INPUT_STD, the numbers are in model.py) itself.",
            "load_model(normalize=False) skips it, for inputs that are already normalised.",
        ]
    else:
        lines += [
            f"Give inputs already normalised as in training ({inert_text(norm.kind)}: (x - INPUT_MEAN) / INPUT_STD,",
            "the numbers are in model.py); this export was made without the step. load_model(normalize=True) adds it.",
        ]
    output = list(analysis.shapes[analysis.output_id])
    lines.append(f"Output: shape {output} per sample.")
    if names:
        lines.append(f"Classes (CLASS_NAMES in model.py; predict() returns them): {', '.join(names)}")
    return "\n".join(lines) + "\n"
