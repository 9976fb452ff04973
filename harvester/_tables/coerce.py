"""Values from a document to a column's kind, never raising (pure).

Drift never costs data: a missing field is NULL, an unknown one stays in the raw body, and a
value of an unexpected type is kept when it means the same (a numeric string for a number) or
becomes NULL — the document is always derived. A value no column can hold never costs the rest
of its document either: an integer past 64 bits is NULL, text with a lone surrogate or a NUL
(which neither SQLite's UTF-8 nor PostgreSQL's text takes) is kept with those escaped as JSON
writes them (`\\ud800`, `\\u0000`); the row maker notes each such value by column, and the
keeper names them in `tables_skipped`. A boolean is never an id (`true` is not subsession 1).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .schema import BOOL, ID, INT, JSON, REAL, SECONDS, TEXT, TIME, Spec

Converter = Callable[[Any], Any]
Note = Callable[[str, str], None]  # (column, what was wrong): a value no column could hold

INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what an INTEGER (SQLite) or BIGINT (PostgreSQL) holds
PAST_64_BITS = "an integer past 64 bits"
ESCAPED = "a lone surrogate or NUL escaped"
BOOL_ID = "a boolean, not an id"


def as_int(value: Any) -> int | None:
    kind = type(value)
    if kind is int:
        return value if INT_MIN <= value <= INT_MAX else None
    if kind is bool or value is None:
        return int(value) if kind is bool else None
    if kind is float:
        return int(value) if math.isfinite(value) and value == int(value) else None
    if kind is str:
        try:
            return as_int(int(value.strip()))
        except ValueError:
            number = as_float(value)
            return as_int(number) if number is not None else None
    return None


def as_float(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        try:
            return float(value)
        except OverflowError:  # past the float range: no REAL column holds it
            return None
    if kind is str:
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def as_id(value: Any) -> int | None:
    """An id: as `as_int`, but a boolean is none (a key of 1 from `true` would be a lie)."""
    return None if type(value) is bool else as_int(value)


def storable(text: str) -> bool:
    """True if both databases store this text as it is: no lone surrogate, no NUL."""
    if text.isascii():
        return "\x00" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def escaped(text: str) -> str:
    """The text with its lone surrogates and NULs escaped as JSON writes them."""
    if text.isascii() or storable(text):
        return text.replace("\x00", "\\u0000")
    out = []
    for ch in text:
        code = ord(ch)
        out.append(f"\\u{code:04x}" if code == 0 or 0xD800 <= code <= 0xDFFF else ch)
    return "".join(out)


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value if storable(value) else escaped(value)
    if isinstance(value, (dict, list)):
        return as_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_bool(value: Any) -> bool | None:
    if type(value) is bool:
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "0", "1"):
        return value.strip().lower() in ("true", "1")
    return None


def as_json(value: Any) -> str | None:
    return _json_text(value)[0]


def _json_text(value: Any) -> tuple[str | None, bool]:
    """The value as JSON text, and whether a lone surrogate or NUL had to be escaped."""
    if value is None:
        return None, False
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except ValueError:  # NaN or an infinity, which is not JSON
        return None, False
    return (text, False) if storable(text) else (escaped(text), True)


def as_seconds(value: Any) -> float | None:
    """iRacing's times are integers of 1/10,000 s; -1 (or any negative) means none."""
    number = value if type(value) is int else as_float(value)
    if number is None or number < 0:
        return None
    try:
        return number / 10_000
    except OverflowError:
        return None


_CONVERTERS: dict[str, Converter] = {
    ID: as_id,
    INT: as_int,
    REAL: as_float,
    TEXT: as_text,
    TIME: as_text,
    BOOL: as_bool,
    JSON: as_json,
    SECONDS: as_seconds,
}


def _negative_is_none(convert: Converter) -> Converter:
    def converted(value: Any) -> Any:
        result = convert(value)
        return None if result is not None and result < 0 else result

    return converted


def _ignore(column: str, why: str) -> None:
    """The default `note`: nothing kept (a caller that does not ask)."""


_TEXTUAL = (TEXT, TIME, JSON)
_NUMERIC = (ID, INT, REAL, SECONDS)


def _noting(column: str, kind: str, convert: Converter) -> Callable[[Any, Note], Any]:
    """A column's converter that notes (by column) a value no column of its kind could hold."""
    if kind in _TEXTUAL:

        def textual(value: Any, note: Note) -> Any:
            if type(value) is str and kind != JSON:
                if storable(value):
                    return value
                note(column, ESCAPED)
                return escaped(value)
            if kind == JSON or isinstance(value, (dict, list)):
                text, fixed = _json_text(value)
                if fixed:
                    note(column, ESCAPED)
                return text
            return convert(value)  # a number or a boolean: always storable

        return textual

    def other(value: Any, note: Note) -> Any:
        result = convert(value)
        if result is None and kind in _NUMERIC:
            if type(value) is bool and kind == ID:
                note(column, BOOL_ID)
            elif type(value) is int and (
                (kind in (ID, INT) and not INT_MIN <= value <= INT_MAX)
                or not -_FLOAT_MAX <= value <= _FLOAT_MAX
            ):
                note(column, PAST_64_BITS if kind in (ID, INT) else PAST_FLOATS)
        return result

    return other


_BATCHES = """
def batches(values, note, result_id, source, rank, dropped, size):
    rows = []
    for one in values:
        get = one.get
        row = {{{cells}}}
        if {keyed}:
            rows.append(row)
            if len(rows) >= size:
                yield rows
                rows = []
        else:
            dropped[0] += 1
    if rows:
        yield rows
"""

_FLOAT_MAX = sys.float_info.max
PAST_FLOATS = "a number past the float range"

# the kinds whose common case is a value already of the right type, passed through untouched
_PASS_THROUGH = {ID: "int", INT: "int", REAL: "float", TEXT: "str", TIME: "str", BOOL: "bool"}


class RowMaker:
    """Builds a table's rows: every column, coerced; absent ones NULL.

    On the harvest path this runs for every value of every row, so the row builder is one
    generated function: a value already of its column's type (an int within 64 bits, ASCII
    text without NUL) passes through inline, and only the others call their converter (the
    same functions as above, unit-tested alone), which calls `note(column, why)` for a value
    no column could hold (`Derivation` gathers them for `tables_skipped`).
    """

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._key = spec.key
        scope: dict[str, Any] = {
            "int": int,
            "float": float,
            "str": str,
            "bool": bool,
            "lo": INT_MIN,
            "hi": INT_MAX,
        }
        cells = []
        for i, col in enumerate(spec.columns):
            convert = _CONVERTERS[col.kind]
            if col.none_if_negative and col.kind != SECONDS:
                convert = _negative_is_none(convert)
            scope[f"c{i}"] = _noting(col.name, col.kind, convert)
            name = repr(col.name)
            passing = _PASS_THROUGH.get(col.kind)
            slow = f"(None if v is None else c{i}(v, note))"
            if col.kind == SECONDS:  # an int of 1/10,000 s, the common case, inline
                cells.append(
                    f"{name}: (v / 10000 if v >= 0 else None) if (v := get({name})).__class__ "
                    f"is int and v <= hi else {slow}"
                )
            elif passing == "float" and col.none_if_negative:
                cells.append(
                    f"{name}: (v if v >= 0 else None) if (v := get({name})).__class__ is float "
                    f"else {slow}"
                )
            elif passing == "int" and col.none_if_negative:
                cells.append(
                    f"{name}: (v if v >= 0 else None) if (v := get({name})).__class__ is int "
                    f"and v <= hi else {slow}"
                )
            elif passing is None or col.none_if_negative:
                cells.append(f"{name}: c{i}(get({name}), note)")
            elif passing == "int":
                cells.append(
                    f"{name}: v if (v := get({name})).__class__ is int and lo <= v <= hi "
                    f"else {slow}"
                )
            elif passing == "str":
                cells.append(
                    f"{name}: v if (v := get({name})).__class__ is str and v.isascii() "
                    f"and '\\x00' not in v else {slow}"
                )
            else:
                cells.append(f"{name}: v if (v := get({name})).__class__ is {passing} else {slow}")
        source = (
            "def make(values, note):\n    get = values.get\n    return {" + ", ".join(cells) + "}\n"
        )
        keyed = " and ".join(f"row[{k!r}] is not None" for k in spec.key)
        source += f"def keyed(row):\n    return {keyed}\n"
        provenance = {"result_id": "result_id"}
        if spec.entity:
            provenance.update(source="source", source_rank="rank")
        batch_cells = [
            f"{col.name!r}: {provenance[col.name]}" if col.name in provenance else cell
            for col, cell in zip(spec.columns, cells, strict=True)
        ]
        source += _BATCHES.format(cells=", ".join(batch_cells), keyed=keyed)
        exec(compile(source, f"<rows of {spec.name}>", "exec"), scope)  # noqa: S102
        self._make: Callable[[Mapping[str, Any], Note], dict[str, Any]] = scope["make"]
        self.keyed: Callable[[Mapping[str, Any]], bool] = scope["keyed"]
        """True if the row has every key column (a row without its key cannot be stored)."""
        self.batches: Callable[..., Iterator[list[dict[str, Any]]]] = scope["batches"]
        """`batches(values, note, result_id, source, rank, dropped, size)`: the rows of
        `values` with their provenance, in lists of at most `size`; a row without its key is
        counted in `dropped[0]` instead (the derive loop, generated: one dict a row)."""

    def __call__(self, values: Mapping[str, Any], note: Note = _ignore) -> dict[str, Any]:
        return self._make(values, note)
