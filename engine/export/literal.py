"""The one way a value enters generated source: `py_literal(value)` writes it as a Python literal.

Generated files (model.py; anything a program later parses) are built, never interpolated: every value that comes
from a spec or a bundle (a name, a class name, a number, a shape) goes through `py_literal`, every name the file
defines goes through `py_identifier`, and a docstring or comment gets only `inert_text`, text that cannot end it.

    py_literal(("setosa", 'say "hi"'))  -> ("setosa", 'say "hi"')
    py_literal(float("nan"))            -> float("nan")     (the only non-literal form: a call of the builtin)
    py_literal(object())                -> TypeError
    inert_text("x'; y")                 -> x ; y

`py_literal` is repr-based: str, int, float, bool and None, and lists, tuples and dicts of those. It refuses
anything else with TypeError (a subclass is written as its base type: torch.Size as a tuple). A string's repr
escapes quotes, backslashes, line breaks (\\r, \\u2028 and \\u2029 included), control characters and lone
surrogates, so it always reads back as the same string; the text is checked by reading it back with
ast.literal_eval before it is returned.
"""

from __future__ import annotations

import ast
import keyword
import math

MAX_DEPTH = 32  # lists in lists ...: deeper is refused (nothing we generate nests more than a few levels)
NON_FINITE = {"nan": 'float("nan")', "inf": 'float("inf")', "-inf": '-float("inf")'}
UNSAFE_IN_TEXT = frozenset("\"'\\`")  # quotes (end a docstring or string) and backslashes (escape one)


def _str_literal(value: str) -> str:
    text = str.__repr__(value)
    if text.startswith("'") and '"' not in value and "'" not in value:
        text = '"' + text[1:-1] + '"'  # as ruff format writes strings; nothing inside needs escaping again
    return text


def _float_literal(value: float) -> str:
    value = float(value)
    return float.__repr__(value) if math.isfinite(value) else NON_FINITE[float.__repr__(value)]


def _items(values, depth: int) -> list[str]:
    return [_literal(v, depth + 1) for v in values]


def _literal(value, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise TypeError(f"py_literal: a value nested more than {MAX_DEPTH} levels deep has no literal here")
    if value is None or isinstance(value, bool):
        return "None" if value is None else ("True" if value else "False")
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float_literal(value)
    if isinstance(value, str):
        return _str_literal(value)
    if isinstance(value, tuple):
        items = _items(value, depth)
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(_items(value, depth))}]"
    if isinstance(value, dict):
        keys = list(value)
        if not all(isinstance(k, str | int | float | bool | type(None)) for k in keys):
            raise TypeError("py_literal: a dict's keys must be strings, numbers, booleans or None")
        pairs = [f"{_literal(k, depth + 1)}: {_literal(value[k], depth + 1)}" for k in keys]
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"py_literal: no literal for a value of type {type(value).__name__}")


def _plain(value):
    """`value` with every subclass turned into its base type (what the literal reads back as)."""
    if isinstance(value, bool) or value is None:
        return value
    for base in (int, float, str):
        if isinstance(value, base):
            return base(value)
    if isinstance(value, tuple | list):
        return (list if isinstance(value, list) else tuple)(_plain(v) for v in value)
    return {_plain(k): _plain(v) for k, v in value.items()}


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, tuple | list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(k) and _finite(v) for k, v in value.items())
    return True


def py_literal(value) -> str:
    """Python source that evaluates to `value` (str, int, float, bool, None; lists, tuples, dicts of those).

    TypeError for anything else. Non-finite floats are written float("nan"), float("inf"), -float("inf");
    everything else is a literal that ast.literal_eval reads back equal to `value` (checked here).
    """
    text = _literal(value, 0)
    if _finite(value) and ast.literal_eval(text) != _plain(value):
        raise ValueError(f"py_literal: {text[:60]} does not read back as the value it was made from")
    return text


def py_identifier(name: str) -> str:
    """`name` as it may stand in generated source for a class, attribute or variable name: an ASCII Python
    identifier that is no keyword. ValueError otherwise (names come from validated node ids and from
    engine.compile.fx_module.class_name; this says so where the file is written)."""
    if not (isinstance(name, str) and name.isascii() and name.isidentifier() and not keyword.iskeyword(name)):
        raise ValueError(f"generated source may not use {name!r:.60} as a name: not a plain identifier")
    return name


def inert_text(text: str, limit: int = 80) -> str:
    """`text` made safe inside a docstring or a comment of generated source: no quotes, backslashes or
    backticks, no line breaks of any kind (\\n, \\r, \\u2028, \\u2029, ...), no control or unprintable
    characters; each run of those becomes one space. At most `limit` characters ("..." ends a longer one)."""
    kept = "".join(ch if ch.isprintable() and ch not in UNSAFE_IN_TEXT and not ch.isspace() else " " for ch in text)
    one_line = " ".join(kept.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3].rstrip() + "..."


def one_line(text: str, limit: int = 100) -> str:
    """`text` for plain prose a person reads (README.txt): printable, on one line (each run of line breaks,
    control or unprintable characters becomes one space), at most `limit` characters. Not for source: quotes
    and backslashes stay."""
    kept = "".join(ch if ch.isprintable() and not ch.isspace() else " " for ch in text)
    flat = " ".join(kept.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."
