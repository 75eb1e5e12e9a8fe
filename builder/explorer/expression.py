"""A scalar expression as a graph of nodes, for the Backprop explorer: a safe parser (a whitelist of operators
and functions, never eval). builder/explorer/expression_trace.py computes the forward values, the backward gradients and
the steps in between.

    parsed = parse_expression("(x + y) * z")           # an Expression, or a ParseError (reason, column)

Grammar (Python's precedence): sums of products of unary minus of powers (`**` or `^`, right to left) of numbers,
variable names, the calls exp, log, sigmoid, tanh, relu (one argument) and max (two), and brackets.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

FUNCTIONS = {"exp": 1, "log": 1, "sigmoid": 1, "tanh": 1, "relu": 1, "max": 2}
SYMBOLS = ("**", "+", "-", "*", "/", "^", "(", ")", ",")
MAX_LENGTH = 500  # characters
MAX_DEPTH = 40  # nesting of brackets, calls, unary minus and exponents
MAX_EXPONENT = 100.0  # the largest magnitude of a number written as an exponent
NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
OP_NAMES = ("q", "p", "r", "s", "t", "u", "v", "g", "h", "k", "m", "n", "a", "c", "d", "e")
OUTPUT_NAMES = ("f", "out", "result")


@dataclass(frozen=True)
class ParseError:
    reason: str  # "unexpected '@'"
    column: int  # 1-based
    expression: str
    hint: str = ""
    says_where: bool = True  # False: the reason says where itself ("... the limit is 500 characters")

    @property
    def message(self) -> str:
        """One sentence (it follows "The expression cannot be read: " on the page)."""
        where = f" at column {self.column}" if self.says_where else ""
        return f"{self.reason}{where}" + (f": {self.hint}" if self.hint else "") + "."

    @property
    def caret(self) -> str:
        """The expression and a line with a caret under the culprit."""
        return f"{self.expression}\n{' ' * (self.column - 1)}^"


@dataclass(frozen=True)
class Node:
    id: str  # n0, n1, ... in the order made, which is a topological order
    kind: str  # "input", "constant" or "op"
    op: str  # "+", "-", "*", "/", "**", "neg" or a function name; "" for inputs and constants
    inputs: tuple[str, ...]
    name: str  # x for an input, 2 for a constant, q, p, ... and f for operations
    label: str  # "q = x + y"; an input's or a constant's name
    value: float | None = None  # a constant's


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    port: int  # which argument of the target


@dataclass(frozen=True)
class Expression:
    text: str
    nodes: tuple[Node, ...]  # topological order
    edges: tuple[Edge, ...]
    output: str
    variables: tuple[str, ...]  # in order of first appearance

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)


# --- parsing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "symbol" or "end"
    text: str
    column: int


class _Refusal(Exception):
    """Raised inside the parser only; parse_expression returns it as a ParseError."""

    def __init__(self, reason: str, column: int, hint: str = ""):
        super().__init__(reason)
        self.reason, self.column, self.hint = reason, column, hint


@dataclass
class _Raw:
    kind: str
    op: str
    inputs: tuple[int, ...]
    name: str = ""
    value: float | None = None


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text[i] == "." and tokens and (tokens[-1].kind == "name" or tokens[-1].text == ")"):
            raise _Refusal("unexpected '.'", i + 1, "attribute access is not allowed")
        number, name = NUMBER.match(text, i), NAME.match(text, i)
        if number:
            kind, end = "number", number.end()
        elif name:
            kind, end = "name", name.end()
        else:
            symbol = next((s for s in SYMBOLS if text.startswith(s, i)), None)
            if symbol is None:
                raise _Refusal(f"unexpected {text[i]!r}", i + 1)
            kind, end = "symbol", i + len(symbol)
        tokens.append(_Token(kind, text[i:end], i + 1))
        i = end
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]):
        self.tokens, self.pos = tokens, 0
        self.raw: list[_Raw] = []
        self.variables: dict[str, int] = {}

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.pos += 1
        return token

    def add(self, raw: _Raw) -> int:
        self.raw.append(raw)
        return len(self.raw) - 1

    def sum(self, depth: int) -> int:
        node = self.product(depth)
        while self.peek().text in ("+", "-"):
            op = self.take().text
            node = self.add(_Raw("op", op, (node, self.product(depth))))
        return node

    def product(self, depth: int) -> int:
        node = self.unary(depth)
        while self.peek().text in ("*", "/"):
            op = self.take().text
            node = self.add(_Raw("op", op, (node, self.unary(depth))))
        return node

    def unary(self, depth: int) -> int:
        if self.peek().text != "-":
            return self.power(depth)
        minus = self.take()
        _check_depth(depth + 1, minus)
        number, after = self.peek(), self.peek(1)
        if number.kind == "number" and after.text not in ("**", "^"):  # -2 is a constant; -2 ** 2 is -(2 ** 2)
            self.take()
            return self.add(_Raw("constant", "", (), "-" + number.text, -_number(number)))
        return self.add(_Raw("op", "neg", (self.unary(depth + 1),)))

    def power(self, depth: int) -> int:
        base = self.primary(depth)
        if self.peek().text not in ("**", "^"):
            return base
        _check_depth(depth + 1, self.take())
        exponent_token = self.peek()
        exponent = self.unary(depth + 1)
        value = self.raw[exponent].value
        if self.raw[exponent].kind == "constant" and value is not None and abs(value) > MAX_EXPONENT:
            limit = f"an exponent's magnitude may be at most {MAX_EXPONENT:g}"
            raise _Refusal(f"exponent {self.raw[exponent].name} is too large", exponent_token.column, limit)
        return self.add(_Raw("op", "**", (base, exponent)))

    def primary(self, depth: int) -> int:
        token = self.take()
        if token.kind == "number":
            node = self.add(_Raw("constant", "", (), token.text, _number(token)))
        elif token.kind == "name":
            node = self.name(token, depth)
        elif token.text == "(":
            _check_depth(depth + 1, token)
            node = self.sum(depth + 1)
            self.expect_close(token)
        else:
            raise _unexpected(token)
        if self.peek().text == "(":
            raise _Refusal("unexpected '('", self.peek().column, f"only {', '.join(FUNCTIONS)} can be called")
        return node

    def name(self, token: _Token, depth: int) -> int:
        called = self.peek().text == "("
        if token.text in FUNCTIONS and not called:
            raise _Refusal(f"'{token.text}' is a function", token.column, f"write {token.text}(...)")
        if called and token.text not in FUNCTIONS:
            raise _Refusal(
                f"unknown function '{token.text}'", token.column, f"the functions are {', '.join(FUNCTIONS)}"
            )
        if called:
            return self.call(token, depth)
        if token.text not in self.variables:
            self.variables[token.text] = self.add(_Raw("input", "", (), token.text))
        return self.variables[token.text]

    def call(self, function: _Token, depth: int) -> int:
        bracket = self.take()
        _check_depth(depth + 1, bracket)
        args = [self.sum(depth + 1)]
        while self.peek().text == ",":
            self.take()
            args.append(self.sum(depth + 1))
        self.expect_close(bracket)
        wanted = FUNCTIONS[function.text]
        if len(args) != wanted:
            reason = f"{function.text}() takes {wanted} argument{'s' if wanted > 1 else ''}, not {len(args)}"
            raise _Refusal(reason, function.column)
        return self.add(_Raw("op", function.text, tuple(args)))

    def expect_close(self, opening: _Token) -> None:
        token = self.take()
        if token.kind == "end":
            raise _Refusal("unclosed '('", opening.column)
        if token.text != ")":
            raise _unexpected(token)


def _check_depth(depth: int, token: _Token) -> None:
    if depth > MAX_DEPTH:
        raise _Refusal(f"the expression nests deeper than {MAX_DEPTH} levels", token.column)


def _number(token: _Token) -> float:
    value = float(token.text)
    if not math.isfinite(value):
        raise _Refusal(f"number {token.text} is too large", token.column)
    return value


def _unexpected(token: _Token) -> _Refusal:
    if token.kind == "end":
        return _Refusal("unexpected end of the expression", token.column)
    return _Refusal(f"unexpected {token.text!r}", token.column)


def parse_expression(text: str) -> Expression | ParseError:
    """The expression's graph, or a ParseError that points at the culprit; never raises on user input."""
    if len(text) > MAX_LENGTH:
        reason = (
            f"it is {len(text):,} characters long and the limit is {MAX_LENGTH} characters; the text is kept for "
            f"you to shorten (the caret marks character {MAX_LENGTH + 1})"
        )
        return ParseError(reason, MAX_LENGTH + 1, text, says_where=False)
    if not text.strip():
        return ParseError("the expression is empty", 1, text, "type one, such as (x + y) * z")
    parser = _Parser([])
    try:
        parser = _Parser(_tokens(text))
        root = parser.sum(0)
        if parser.peek().kind != "end":
            raise _unexpected(parser.peek())
    except _Refusal as refusal:
        return ParseError(refusal.reason, refusal.column, text, refusal.hint)
    return _finish(text, parser.raw, root)


def _finish(text: str, raw: list[_Raw], root: int) -> Expression:
    """Names the operations (q, p, ... and f for the output), writes their labels and lists the edges."""
    variables = tuple(r.name for r in raw if r.kind == "input")
    free = (n for n in OP_NAMES + tuple(f"q{k}" for k in range(1, len(raw) + 1)) if n not in variables)
    for index, r in enumerate(raw):
        if r.kind == "op":
            output_name = next(n for n in OUTPUT_NAMES + ("f_out",) if n not in variables)
            r.name = output_name if index == root else next(free)
    nodes = tuple(
        Node(f"n{i}", r.kind, r.op, tuple(f"n{k}" for k in r.inputs), r.name, _label(r, raw), r.value)
        for i, r in enumerate(raw)
    )
    edges = tuple(Edge(source, n.id, port) for n in nodes for port, source in enumerate(n.inputs))
    return Expression(text, nodes, edges, f"n{root}", variables)


def _label(r: _Raw, raw: list[_Raw]) -> str:
    args = [raw[k].name for k in r.inputs]
    if r.kind != "op":
        return r.name
    if r.op == "neg":
        return f"{r.name} = -{args[0]}"
    if r.op in FUNCTIONS:
        return f"{r.name} = {r.op}({', '.join(args)})"
    return f"{r.name} = {args[0]} {r.op} {args[1]}"
