"""Rows to text for the CLI: an aligned table, CSV, a JSON array, or JSON lines (pure)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

FORMATS = ("table", "csv", "json", "ndjson")
MAX_CELL = 80


def render(columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> str:
    return "".join(render_stream(columns, rows, fmt))


def render_stream(columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> Iterator[str]:
    """The text of an answer piece by piece, as its rows arrive (a table waits for all its
    rows, to align them, but keeps only their cut cells)."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            yield _drain(buffer)
        yield _drain(buffer)
    elif fmt == "json":
        yield "["
        first = True
        for row in rows:
            yield ("\n  " if first else ",\n  ") + json_object(columns, row)
            first = False
        yield "]\n" if first else "\n]\n"
    elif fmt == "ndjson":
        for row in rows:
            yield json_object(columns, row) + "\n"
    else:
        yield table(columns, [[_cell(value) for value in row] for row in rows])


def json_object(columns: Sequence[str], row: Sequence[Any]) -> str:
    """A row as one JSON object. A float JSON cannot hold (SQLite reads `1e999` in a document
    as infinity) is written as PostgreSQL's to_json writes it, the string "Infinity",
    "-Infinity" or "NaN": Python's own `Infinity` is not JSON, and a reader refuses it."""
    values = {name: _json_value(value) for name, value in zip(columns, row, strict=True)}
    return json.dumps(values, default=str, allow_nan=False)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned text table; long cells are cut (use csv or json for whole values)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(name) for name in columns]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(name.ljust(w) for name, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
