"""The vocabulary of the op catalog: parameter schemas, op definitions and shape errors.

An op is described once: its parameters (type, default, range or choices), how many inputs it takes,
its shape rule `(params, input_shapes) -> output_shape` and its parameter-count rule. Shapes never
include the batch dimension. Shape rules raise ShapeError for impossible inputs; the validator turns
it into an Issue that names the node.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

Shape = tuple[int, ...]


class Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = Required()


class ShapeError(Exception):
    """Raised by a shape rule when the inputs cannot work; `fix` may suggest a repair."""

    def __init__(self, message: str, fixes: tuple = (), code: str = "shape_mismatch"):
        super().__init__(message)
        self.fixes = tuple(fixes)
        self.code = code


@dataclass(frozen=True)
class Param:
    """One user-chosen parameter.

    kind: "int", "float", "bool", "choice", "shape" (list of positive ints), "size" (int or [h, w]).
    A default of None means "derived" (e.g. a pool's stride defaults to its kernel size).
    """

    name: str
    kind: str
    default: object = REQUIRED
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    help: str = ""
    exclusive_max: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class OpDef:
    name: str
    group: str
    doc: str
    shape: Callable[[dict, list[Shape], list[str]], Shape]  # (params, input shapes, producer ids)
    params: tuple[Param, ...] = ()
    count: Callable[[dict, list[Shape]], int] = lambda p, ins: 0
    min_inputs: int = 1
    max_inputs: int | None = 1
    dtype_in: str = "float32"  # "float32", "int64", or "any" (passes its input's dtype through)
    key_params: tuple[str, ...] = field(default=())

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite(v: int | float) -> bool:
    """Whether a number is finite as a float: not inf, and not an integer too large to convert."""
    return math.isfinite(v) if isinstance(v, float) else abs(v) <= sys.float_info.max


def _range_error(p: Param, v) -> str | None:
    if p.min is not None and v < p.min:
        return f"must be >= {p.min:g}, got {v!r}"
    if p.max is not None and (v >= p.max if p.exclusive_max else v > p.max):
        bound = "<" if p.exclusive_max else "<="
        return f"must be {bound} {p.max:g}, got {v!r}"
    return None


def check_value(p: Param, v) -> tuple[object, str | None]:
    """Return (normalised value, error message or None) for one parameter value."""
    if p.default is None and v is None:
        return None, None
    if p.kind == "int":
        return (v, _range_error(p, v)) if _is_int(v) else (v, f"expected an integer, got {v!r}")
    if p.kind == "float":
        if not (_is_int(v) or isinstance(v, float)) or v != v:
            return v, f"expected a number, got {v!r:.40}"
        if not _finite(v):
            return v, f"expected a finite number, got {v!r:.40}"
        return float(v), _range_error(p, v)
    if p.kind == "bool":
        return (v, None) if isinstance(v, bool) else (v, f"expected true or false, got {v!r}")
    if p.kind == "choice":
        return (v, None) if v in p.choices else (v, f"expected one of {list(p.choices)}, got {v!r}")
    if p.kind == "shape":
        if not isinstance(v, list | tuple) or not v or not all(_is_int(d) and d > 0 for d in v):
            return v, f"expected a non-empty list of positive integers, got {v!r}"
        return list(v), None
    if p.kind == "size":
        pair = [v, v] if _is_int(v) else v
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not all(_is_int(d) for d in pair):
            return v, f"expected an integer or a pair [h, w], got {v!r}"
        errors = [e for e in (_range_error(p, d) for d in pair) if e]
        return (v if _is_int(v) else list(v)), (errors[0] if errors else None)
    raise ValueError(f"unknown param kind {p.kind}")  # our bug, not the user's


def resolve_params(op: OpDef, given: dict) -> tuple[dict, list[tuple[str, str]]]:
    """Fill defaults and check every value. Returns (params, [(param name, message)])."""
    errors = []
    known = {p.name for p in op.params}
    for name in sorted(set(given) - known):
        allowed = ", ".join(sorted(known)) or "none"
        errors.append((name, f"unknown parameter '{name}' for {op.name} (allowed: {allowed})"))
    resolved = {}
    for p in op.params:
        if p.name not in given:
            if p.required:
                errors.append((p.name, f"{op.name} needs parameter '{p.name}'"))
            resolved[p.name] = p.default
            continue
        value, err = check_value(p, given[p.name])
        if err:
            errors.append((p.name, f"parameter '{p.name}' {err}"))
        resolved[p.name] = value
    return resolved, errors


def pair(v) -> tuple[int, int]:
    """A `size` parameter as (h, w)."""
    return (v, v) if _is_int(v) else (int(v[0]), int(v[1]))


def fmt(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
