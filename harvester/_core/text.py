"""Small pure helpers for text that crosses harvester's edges: documents parsed, values stored,
messages shown."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any


def printable(text: str, keep: str = "") -> str:
    """One line, fit for a message or a terminal: line breaks, control characters (C0, DEL,
    C1: a server's `\\x1b[2J` never reaches a terminal as an escape), bidi overrides and lone
    surrogates are escaped as Python would write them (`\\n`, `\\x1b`, `\\ud800`). The
    characters in `keep` stay as they are (`"\\n\\t"` for a CSV cell, which may span lines)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else repr(ch)[1:-1] for ch in text)


_SQL_TAIL = re.compile(r"\s*(?:\[SQL: |\[parameters: |\(Background on this error at: ).*", re.S)
_DRIVER = re.compile(r"^\((?:[A-Za-z_][\w.]*)\)\s*")  # SQLAlchemy's "(sqlite3.DatabaseError) "


def error_line(exc: BaseException, limit: int = 500) -> str:
    """An exception as the one printable line a person reads. A database error from SQLAlchemy
    carries the driver's message, then the whole SQL statement, its parameters and a link, over
    many lines: only the driver's message is kept (the statement is for LOG_LEVEL=DEBUG, whose
    traceback shows it); so is a PostgreSQL error's first line (its `LINE 1: ...` and hint are
    not)."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if isinstance(orig, BaseException) else str(exc)
    text = _DRIVER.sub("", _SQL_TAIL.sub("", text))
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return printable(line)[:limit] or type(exc).__name__


def printable_json(text: str) -> str:
    """JSON text fit for a terminal and still the same JSON: `json.dumps` escapes C0 but
    writes DEL, C1 controls and bidi overrides as they are; they become `\\u` escapes (inside
    a string the value is unchanged; outside one only the layout's line breaks occur)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\n" else _json_escape(ch) for ch in text)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


_MENTION = re.compile(r"(?<!\w)@(?=[\w&!#])")
_ANGLE = re.compile(r"<(?=[@#!&]|[a-z][a-z0-9+.-]*:)", re.IGNORECASE)
_SLACK_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^|>\s]*)\|([^>]*)>", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^)>\s]*)>?[^)\n]*\)")
ZWSP = "\u200b"  # zero-width space: shown as nothing, but no mention or link is parsed


def chat_safe(text: str) -> str:
    """A value from a server or the archive fit to go into a chat message (Slack, Discord)
    without acting there: `@everyone`, `@here`, `<!channel>`, `<@U123>`, `<#C1>` are broken by
    a zero-width space and tell no one; a disguised link (`[text](http://evil)`,
    `<http://evil|text>`) loses its markup and shows its address: `text (http://evil)`."""
    while True:  # a link nested in one (`[x]([a](http://evil))`) shows once its outer goes
        plain = _SLACK_LINK.sub(lambda m: f"{m[2]} ({m[1]})", text)
        plain = _MD_LINK.sub(lambda m: f"{m[1]} ({m[2]})" if m[2] else m[1], plain)
        if plain == text:  # each pass removes markup: this ends
            break
        text = plain
    text = _ANGLE.sub("<" + ZWSP, text)
    return _MENTION.sub("@" + ZWSP, text)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text that starts like a formula (`=HYPERLINK(...)`,
    `+`, `-`, `@`, a tab or carriage return) gets a leading `'` (OWASP's advice); numbers and
    other text are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


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
