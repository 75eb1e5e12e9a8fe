"""Catalog entries: convolution and pooling (shapes [C, L] for 1-D, [C, H, W] for 2-D)."""

from __future__ import annotations

from builder.ops.opdef import OpDef, Param, ShapeError, fmt, pair

CONV_PARAMS = (
    Param("out_channels", "int", min=1),
    Param("kernel_size", "size", min=1),
    Param("stride", "size", 1, min=1),
    Param("padding", "size", 0, min=0),
    Param("dilation", "size", 1, min=1),
    Param("groups", "int", 1, min=1),
    Param("bias", "bool", True),
)
CONV1D_PARAMS = tuple(Param(p.name, "int", p.default, min=p.min) if p.kind == "size" else p for p in CONV_PARAMS)
KEY = ("out_channels", "kernel_size", "stride", "padding")


def _check_rank(op: str, shape, rank: int, src: str, what: str) -> None:
    if len(shape) != rank:
        raise ShapeError(f"{op} expects {what}; got {fmt(shape)} from {src}")


def _out_len(op: str, size: int, k: int, s: int, pad: int, d: int, src: str, axis: str) -> int:
    span = d * (k - 1) + 1
    out = (size + 2 * pad - span) // s + 1
    if size + 2 * pad < span or out <= 0:
        raise ShapeError(
            f"{op} kernel {k}{f' (dilation {d})' if d > 1 else ''} spans {span} but the input {axis} "
            f"is {size} (+{2 * pad} padding) from {src}",
            code="impossible_size",
        )
    return out


def _check_groups(op: str, p, c_in: int, src: str) -> None:
    g = p["groups"]
    if c_in % g or p["out_channels"] % g:
        raise ShapeError(
            f"{op} groups={g} must divide both in_channels ({c_in}, from {src}) and out_channels ({p['out_channels']})",
            code="bad_param",
        )


def _conv1d(p, ins, srcs):
    _check_rank("Conv1d", ins[0], 2, srcs[0], "[channels, length]")
    c, length = ins[0]
    _check_groups("Conv1d", p, c, srcs[0])
    k, s, pad, d = (pair(p[n])[0] for n in ("kernel_size", "stride", "padding", "dilation"))
    return (p["out_channels"], _out_len("Conv1d", length, k, s, pad, d, srcs[0], "length"))


def _conv2d(p, ins, srcs):
    _check_rank("Conv2d", ins[0], 3, srcs[0], "[channels, height, width]")
    c, h, w = ins[0]
    _check_groups("Conv2d", p, c, srcs[0])
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(p[n]) for n in ("kernel_size", "stride", "padding", "dilation"))
    return (
        p["out_channels"],
        _out_len("Conv2d", h, kh, sh, ph, dh, srcs[0], "height"),
        _out_len("Conv2d", w, kw, sw, pw, dw, srcs[0], "width"),
    )


def _conv_count(p, ins):
    kernel = 1
    for k in pair(p["kernel_size"]) if len(ins[0]) == 3 else (pair(p["kernel_size"])[0],):
        kernel *= k
    return p["out_channels"] * (ins[0][0] // p["groups"]) * kernel + (p["out_channels"] if p["bias"] else 0)


def _convt2d(p, ins, srcs):
    _check_rank("ConvTranspose2d", ins[0], 3, srcs[0], "[channels, height, width]")
    c, h, w = ins[0]
    _check_groups("ConvTranspose2d", p, c, srcs[0])
    out = [p["out_channels"]]
    for size, k, s, pad, d, op in zip(
        (h, w), *(pair(p[n]) for n in ("kernel_size", "stride", "padding", "dilation", "output_padding"))
    ):
        if op >= max(s, d):
            raise ShapeError(
                f"ConvTranspose2d output_padding {op} must be smaller than stride or dilation", code="bad_param"
            )
        length = (size - 1) * s - 2 * pad + d * (k - 1) + op + 1
        if length <= 0:
            raise ShapeError(
                f"ConvTranspose2d gives output size {length} from {fmt(ins[0])} ({srcs[0]}); reduce padding",
                code="impossible_size",
            )
        out.append(length)
    return tuple(out)


def _convt_count(p, ins):
    kh, kw = pair(p["kernel_size"])
    return ins[0][0] * (p["out_channels"] // p["groups"]) * kh * kw + (p["out_channels"] if p["bias"] else 0)


def _pool(op: str, rank: int):
    def rule(p, ins, srcs):
        what = "[channels, length]" if rank == 2 else "[channels, height, width]"
        _check_rank(op, ins[0], rank, srcs[0], what)
        ks = pair(p["kernel_size"])
        stride = pair(p["stride"]) if p["stride"] is not None else ks
        pads = pair(p["padding"])
        out = [ins[0][0]]
        axes = ("length",) if rank == 2 else ("height", "width")
        for size, k, s, pad, axis in zip(ins[0][1:], ks, stride, pads, axes):
            if pad > k // 2:
                raise ShapeError(f"{op} padding {pad} must be at most half the kernel size {k}", code="bad_param")
            out.append(_out_len(op, size, k, s, pad, 1, srcs[0], axis))
        return tuple(out)

    return rule


def _adaptive(p, ins, srcs):
    _check_rank("AdaptiveAvgPool2d", ins[0], 3, srcs[0], "[channels, height, width]")
    return (ins[0][0], *pair(p["output_size"]))


def _pool_params(kind: str = "size"):
    return (
        Param("kernel_size", kind, min=1),
        Param("stride", kind, None, min=1, help="defaults to kernel_size"),
        Param("padding", kind, 0, min=0),
    )


OPS = [
    OpDef(
        "Conv1d",
        "convolution",
        "1-D convolution over [channels, length].",
        _conv1d,
        params=CONV1D_PARAMS,
        count=_conv_count,
        key_params=KEY,
    ),
    OpDef(
        "Conv2d",
        "convolution",
        "2-D convolution over [channels, height, width].",
        _conv2d,
        params=CONV_PARAMS,
        count=_conv_count,
        key_params=KEY,
    ),
    OpDef(
        "ConvTranspose2d",
        "convolution",
        "Transposed 2-D convolution (upsampling).",
        _convt2d,
        params=CONV_PARAMS[:4] + (Param("output_padding", "size", 0, min=0),) + CONV_PARAMS[4:],
        count=_convt_count,
        key_params=KEY,
    ),
    OpDef(
        "MaxPool1d",
        "convolution",
        "Max pooling over length.",
        _pool("MaxPool1d", 2),
        params=_pool_params("int"),
        key_params=("kernel_size",),
    ),
    OpDef(
        "MaxPool2d",
        "convolution",
        "Max pooling over height and width.",
        _pool("MaxPool2d", 3),
        params=_pool_params(),
        key_params=("kernel_size",),
    ),
    OpDef(
        "AvgPool2d",
        "convolution",
        "Average pooling over height and width.",
        _pool("AvgPool2d", 3),
        params=_pool_params(),
        key_params=("kernel_size",),
    ),
    OpDef(
        "AdaptiveAvgPool2d",
        "convolution",
        "Averages each channel down to output_size.",
        _adaptive,
        params=(Param("output_size", "size", 1, min=1),),
        key_params=("output_size",),
    ),
]
