"""Small pure helpers for text that crosses harvester's edges: documents parsed, values stored,
messages shown."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any


def printable(text: str) -> str:
    """One line, fit for a message: line breaks, control characters and lone surrogates are
    escaped as Python would write them (`\\n`, `\\x07`, `\\ud800`)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def parse_json(text: str) -> Any:
    """JSON from received text (a UTF-8 byte-order mark allowed); ValueError for anything that
    is not strict JSON: `NaN`, `Infinity` and `-Infinity` (which Python would accept, and which
    SQLite's JSON functions then refuse) and nesting too deep for Python included.

    A number past the float range (`1e999`) is JSON, but Python would read it as infinity,
    which no JSON writer, no JSON column and no cursor takes back: it is kept as its text (a
    str), so no value parsed here is ever infinite."""
    try:
        return json.loads(
            text.lstrip("\ufeff"), parse_constant=_not_strict, parse_float=_finite_or_text
        )
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _not_strict(name: str) -> Any:
    raise ValueError(f"not strict JSON: it contains {name}")


def _finite_or_text(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text


def storable(text: str) -> bool:
    """False for text SQLite cannot store as UTF-8 (a lone surrogate from a `\\ud800` escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def nearest(word: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The (at most `n`) choices closest to a word that was not one of them, nearest first."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)


def did_you_mean(close: Sequence[str], otherwise: str = "") -> str:
    """The end of a one-line error: `; did you mean `a`?` (or `` `a` or `b` ``) for the
    matches `nearest` found, `otherwise` when there are none."""
    if not close:
        return otherwise
    return f"; did you mean {' or '.join(f'`{name}`' for name in close)}?"


ParamValue = str | int | float | bool | list[str | int | float | bool]


def query_value(value: ParamValue) -> str:
    """A parameter as it goes in the query string: booleans lower-case, lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(query_value(item) for item in value)
    return str(value)
