"""The arithmetic of the Backprop explorer's operations (builder/explorer/expression_trace.py): each operation's value,
and what each of its edges carries back, written as torch.autograd writes them (float64, IEEE rules), so that
the explorer's gradients are torch's wherever torch's are finite numbers (tests/test_expression_torch.py).

    value, error = computed(apply, "exp", [1000.0])      # (nan, OverflowError): Python refuses, torch gives inf
    local, carried = edge_gradient("relu", [-1.0], 0.0, 0, math.inf)   # (0.0, 0.0): relu blocks, as in torch

Conventions (torch's): relu passes nothing back where its output is 0 (even an infinite gradient); max(a, b)
with a == b gives each side half; d(a ** b)/da is 0 where b == 0 (whatever the gradient arriving);
d(a ** b)/db is 0 where a == 0 and b >= 0. Everywhere else a derivative is the formula's IEEE value: 0 ** -0.5
is inf, 0 * inf is nan, and such a value on the way back is shown as it is.
"""

from __future__ import annotations

import math

INF = math.inf


def computed(function, *args) -> tuple[float, Exception | None]:
    """function(*args), or (nan, the error) where Python refuses what IEEE would call inf or nan."""
    try:
        result = function(*args)
    except (ArithmeticError, ValueError) as error:
        return math.nan, error
    return result, None


def _sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))


def _power_value(a: float, b: float) -> float:
    if a == 0 and b < 0:
        raise ZeroDivisionError("0 to a negative power")  # math.pow calls it a domain error
    return math.pow(a, b)


def apply(op: str, args: list[float]) -> float:
    """The operation's value; raises ArithmeticError or ValueError where it is not a finite real number."""
    a, b = args[0], args[-1]
    binary = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b}
    unary = {"neg": lambda: -a, "exp": lambda: math.exp(a), "log": lambda: math.log(a), "tanh": lambda: math.tanh(a)}
    others = {"**": lambda: _power_value(a, b), "sigmoid": lambda: _sigmoid(a), "relu": lambda: max(a, 0.0)}
    others["max"] = lambda: a if a >= b else b
    return {**binary, **unary, **others}[op]()


# --- IEEE arithmetic where Python raises ------------------------------------------------------------------------


def divide(a: float, b: float) -> float:
    """a / b with IEEE's answers for b == 0: ±inf, or nan for 0 / 0."""
    if b != 0 or math.isnan(a):
        return a / b
    if a == 0:
        return math.nan
    return math.copysign(INF, a) * math.copysign(1.0, b)


def power(a: float, b: float) -> float:
    """C's pow(a, b): 0 ** -1 = inf, (-2) ** 0.5 = nan, an overflow ±inf."""
    odd_integer = b == int(b) and int(b) % 2 == 1 if math.isfinite(b) else False
    try:
        return math.pow(a, b)
    except OverflowError:
        return -INF if a < 0 and odd_integer else INF
    except ValueError:
        if a == 0:  # a negative exponent
            return math.copysign(INF, a) if odd_integer else INF
        return math.nan  # a negative base, an exponent that is not an integer


def logarithm(a: float) -> float:
    if a > 0:
        return math.log(a)
    return -INF if a == 0 else math.nan


# --- what an edge carries back ----------------------------------------------------------------------------------


def edge_gradient(op: str, args: list[float], result: float, port: int, grad: float) -> tuple[float, float]:
    """(d(result)/d(args[port]), what the edge carries back to that argument) given the gradient `grad` of the
    result, both as torch computes them: a blocked edge carries exactly 0."""
    a, b = args[0], args[-1]
    if op in ("relu", "max", "**") and _blocked(op, args, result, port):
        return 0.0, 0.0
    if op == "max":
        tie = a == b
        return (0.5, grad / 2) if tie else (1.0, grad)
    if op == "/":
        if port == 0:
            return divide(1.0, b), divide(grad, b)
        ratio = divide(divide(a, b), b)
        return -ratio, -grad * ratio
    if op == "log":
        return divide(1.0, a), divide(grad, a)
    if op == "sigmoid":
        return (1.0 - result) * result, grad * (1.0 - result) * result
    local = _local(op, a, b, result, port)
    return local, grad * local


def _blocked(op: str, args: list[float], result: float, port: int) -> bool:
    """Where torch's formula masks the edge to 0 whatever the gradient arriving."""
    a, b = args[0], args[-1]
    if op == "relu":
        return result <= 0
    if op == "max":
        mine, other = (a, b) if port == 0 else (b, a)
        return mine < other
    return port == 0 and b == 0  # d(a ** b)/da where b == 0


def _local(op: str, a: float, b: float, result: float, port: int) -> float:
    if op == "*":
        return b if port == 0 else a
    if op == "**" and port == 0:
        return b * power(a, b - 1)
    if op == "**":
        return 0.0 if a == 0 and b >= 0 else result * logarithm(a)
    if op == "tanh":
        return 1.0 - result * result
    if op == "exp":
        return result
    return {"+": 1.0, "-": 1.0 if port == 0 else -1.0, "neg": -1.0, "relu": 1.0}[op]
