"""Values from a document to a column's kind, never raising (pure).

Drift never costs data: a missing field is NULL, an unknown one stays in the raw body, and a
value of an unexpected type is kept when it means the same (a numeric string for a number) or
becomes NULL — the document is always derived.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from .schema import BOOL, ID, INT, JSON, REAL, SECONDS, TEXT, TIME, Spec

Converter = Callable[[Any], Any]


def as_int(value: Any) -> int | None:
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is bool or value is None:
        return int(value) if kind is bool else None
    if kind is float:
        return int(value) if math.isfinite(value) and value == int(value) else None
    if kind is str:
        try:
            return int(value.strip())
        except ValueError:
            number = as_float(value)
            return as_int(number) if number is not None else None
    return None


def as_float(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    if kind is str:
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
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
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_seconds(value: Any) -> float | None:
    """iRacing's times are integers of 1/10,000 s; -1 (or any negative) means none."""
    number = value if type(value) is int else as_float(value)
    if number is None or number < 0:
        return None
    return number / 10_000


_CONVERTERS: dict[str, Converter] = {
    ID: as_int,
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


# the kinds whose common case is a value already of the right type, passed through untouched
_PASS_THROUGH = {ID: "int", INT: "int", REAL: "float", TEXT: "str", TIME: "str", BOOL: "bool"}


class RowMaker:
    """Builds a table's rows: every column, coerced; absent ones NULL.

    On the harvest path this runs for every value of every row, so the row builder is one
    generated function: a value already of its column's type passes through inline, and only
    the others call their converter (the same functions as above, unit-tested alone).
    """

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._key = spec.key
        scope: dict[str, Any] = {"int": int, "float": float, "str": str, "bool": bool}
        cells = []
        for i, col in enumerate(spec.columns):
            convert = _CONVERTERS[col.kind]
            if col.none_if_negative and col.kind != SECONDS:
                convert = _negative_is_none(convert)
            scope[f"c{i}"] = convert
            name = repr(col.name)
            passing = _PASS_THROUGH.get(col.kind)
            if passing == "int" and col.none_if_negative:
                cells.append(
                    f"{name}: (v if v >= 0 else None) if (v := get({name})).__class__ is int "
                    f"else (None if v is None else c{i}(v))"
                )
            elif passing is None or col.none_if_negative:
                cells.append(f"{name}: c{i}(get({name}))")
            else:
                cells.append(
                    f"{name}: v if (v := get({name})).__class__ is {passing} "
                    f"else (None if v is None else c{i}(v))"
                )
        source = "def make(values):\n    get = values.get\n    return {" + ", ".join(cells) + "}\n"
        exec(compile(source, f"<rows of {spec.name}>", "exec"), scope)  # noqa: S102
        self._make: Callable[[Mapping[str, Any]], dict[str, Any]] = scope["make"]

    def __call__(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return self._make(values)

    def keyed(self, row: Mapping[str, Any]) -> bool:
        """True if the row has every key column (a row without its key cannot be stored)."""
        return all(row[name] is not None for name in self._key)
