"""The archive as the MCP server reads it: SQL through the barriers of `harvester query` (a
read-only connection, the function allow-list, a time bound, the secret tables hidden), answers
cut to a number of rows, a size and a length of value with a note saying so, and a read-only
engine for the reports that take one (row counts, the harvest's health).

Every statement runs in a worker thread (the SDK runs sync tools so), on a connection of its
own: an endless query holds its thread until its time bound, never the server.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from .._core.errors import ConfigError, ReadOnlyViolation
from .._store import db
from .._store.query import SECRET_TABLES, QueryLimits, query


@dataclass(frozen=True)
class Bounds:
    """What one answer may cost: `harvester mcp --timeout/--max-rows/--max-bytes`."""

    timeout: float = 15.0  # seconds one statement may run
    max_rows: int = 500  # rows in one answer
    max_bytes: int = 256_000  # the answer's rows as JSON text
    max_chars: int = 2_000  # one text value shown (the rest is cut, with a note)
    max_value_bytes: int = 16_000_000  # one value SQLite may build (a body, a group_concat)


@dataclass
class Rows:
    """One answer: its columns, the rows shown, and why it was cut (if it was)."""

    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return bool(self.notes)

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "columns": self.columns,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated,
        }
        if self.notes:
            answer["note"] = "; ".join(self.notes)
        return answer

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


READ_ONLY = (
    "refused: the archive is read-only here (writes, ATTACH, PRAGMAs that change anything, "
    "COPY, SET, more than one statement, and functions outside the allow-list are refused)"
)


class Archive:
    """One database, read through bounded, read-only statements."""

    def __init__(self, database_url: str, bounds: Bounds | None = None) -> None:
        self.database_url = database_url
        self.bounds = bounds or Bounds()
        self._engine: Engine | None = None  # the read-only view of `_base`
        self._base: Engine | None = None
        self._lock = threading.Lock()  # tools run in worker threads: one engine for them all

    @property
    def dialect(self) -> str:
        return "PostgreSQL" if db.is_postgres_url(self.database_url) else "SQLite"

    def check(self) -> None:
        """That the database is there and readable (a ConfigError line otherwise)."""
        self.rows("SELECT 1")

    def rows(self, sql: str, limit: int | None = None) -> Rows:
        """One statement's rows: at most `limit` (and `bounds.max_rows`) of them, at most
        `bounds.max_bytes` as JSON, each text value at most `bounds.max_chars` long."""
        if not sql.strip():
            raise ConfigError("the query is empty: write one SELECT statement")
        bounds = self.bounds
        wanted = min(limit or bounds.max_rows, bounds.max_rows)
        limits = QueryLimits(
            timeout=bounds.timeout, max_value_bytes=bounds.max_value_bytes, rows=wanted + 1
        )
        try:
            with query(self.database_url, sql, limits, hidden=SECRET_TABLES) as answer:
                return _collect(answer.columns, answer.rows, wanted, limit, bounds)
        except ReadOnlyViolation:  # its message names `harvester query`: say it for here
            raise ReadOnlyViolation(READ_ONLY) from None
        except ConfigError as exc:
            text = str(exc)
            if "no such table" in text or ("relation" in text and "does not exist" in text):
                raise ConfigError(f"{text} (list_tables names the tables)") from None
            raise

    def count(self, table: str) -> int:
        """The rows of a table of ours (a name from the guide, never the caller's text)."""
        return int(self.rows(f"SELECT count(*) FROM {table}").rows[0][0])

    @property
    def engine(self) -> Engine:
        """For the reports that take an engine. On PostgreSQL every transaction on it is
        read-only; on SQLite only the reports' SELECTs run on it."""
        with self._lock:
            if self._engine is None:
                self._base = db.create_db_engine(self.database_url)
                self._engine = self._base.execution_options(postgresql_readonly=True)
            return self._engine

    def close(self) -> None:
        with self._lock:
            if self._base is not None:
                self._base.dispose()
            self._base = self._engine = None


def _collect(
    columns: list[str], stream: Any, wanted: int, asked: int | None, bounds: Bounds
) -> Rows:
    answer = Rows(columns, [])
    size = 0
    cut_values = False
    for row in stream:
        if len(answer.rows) == wanted:
            if asked is not None and asked <= bounds.max_rows:
                answer.notes.append(f"more rows than the {wanted} asked for (limit)")
            else:
                answer.notes.append(
                    f"more rows than the {wanted} one answer holds: narrow the query "
                    "(WHERE, LIMIT, an aggregate)"
                )
            break
        values = [_value(v, bounds.max_chars) for v in row]
        cut_values = cut_values or any(
            isinstance(v, str) and isinstance(o, str) and v != o
            for v, o in zip(values, row, strict=True)
        )
        size += len(json.dumps(values, ensure_ascii=False, default=str).encode("utf-8"))
        if size > bounds.max_bytes:
            answer.notes.append(
                f"stopped after {len(answer.rows)} rows: the answer passed "
                f"{bounds.max_bytes:,} bytes (select fewer columns or rows)"
            )
            break
        answer.rows.append(values)
    if cut_values:
        answer.notes.append(
            f"text values longer than {bounds.max_chars:,} characters are cut (use substr() or "
            "a JSON function to read a part of one)"
        )
    return answer


def _value(value: Any, max_chars: int) -> Any:
    """A value as JSON can carry it: long text cut, bytes and other types named."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):  # PostgreSQL's numeric (an average, a sum)
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value)):,} bytes>"
    text = value if isinstance(value, str) else str(value)
    if len(text) > max_chars:
        return f"{text[:max_chars]}… [{len(text) - max_chars:,} more characters]"
    return text
