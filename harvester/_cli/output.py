"""Rows to text for the CLI: an aligned table, CSV, a JSON array, or JSON lines (pure).

The values are the archive's, so a server's: none reaches the terminal as a control sequence
(`_core.text.printable`, `printable_json`), and a CSV cell that starts like a formula is
neutralised with a leading `'` unless the caller asks for the values raw."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .._core.text import csv_cell, printable, printable_json

FORMATS = ("table", "csv", "json", "ndjson")
MAX_CELL = 80


def render(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str, raw_csv: bool = False
) -> str:
    return "".join(render_stream(columns, rows, fmt, raw_csv))


def render_stream(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str, raw_csv: bool = False
) -> Iterator[str]:
    """The text of an answer piece by piece, as its rows arrive (a table waits for all its
    rows, to align them, but keeps only their cut cells). `raw_csv`: CSV cells exactly as
    stored (no formula neutralised, no control character escaped)."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row if raw_csv else [_csv_value(value) for value in row])
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
    return printable_json(json.dumps(values, default=str, allow_nan=False))


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _csv_value(value: Any) -> Any:
    """A CSV cell fit for a spreadsheet and a terminal: no formula, no control sequence (a
    value's line breaks and tabs stay: CSV quotes them)."""
    return csv_cell(printable(value, keep="\n\t")) if isinstance(value, str) else value


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
    text = printable(text.replace("\n", " "))
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
