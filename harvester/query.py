"""`harvester query`: SQL against the archive that cannot change it.

Three walls: the file is opened read-only (`mode=ro`), `PRAGMA query_only` is on, and an
authorizer refuses anything but reading (writes, ATTACH, loading extensions, most PRAGMAs), so
the refusal comes back as one clear line before anything runs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .db import sqlite_path
from .errors import ConfigError

_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
_SAFE_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "foreign_key_list",
    "table_list",
    "database_list",
    "integrity_check",
    "quick_check",
}
_FORBIDDEN_FUNCTIONS = {"load_extension", "writefile", "edit", "readfile"}


class ReadOnlyViolation(ConfigError):
    """The SQL tried to change the database or reach outside it."""


def _authorizer(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _FORBIDDEN_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _SAFE_PRAGMAS and arg2 is None:
        return sqlite3.SQLITE_OK
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def run_query(
    database_url: str, sql: str, limit: int | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; return (column names, rows)."""
    path = sqlite_path(database_url)
    if path is None:
        raise ConfigError("harvester query works on SQLite databases only")
    if not Path(path).exists():
        raise ConfigError(f"no database at {path} (run `harvester db upgrade` or a job first)")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        connection.execute("PRAGMA query_only = ON")
        connection.set_authorizer(_authorizer)
        try:
            cursor = connection.execute(sql)
        except sqlite3.DatabaseError as exc:
            if "not authorized" in str(exc) or "readonly" in str(exc).lower():
                raise ReadOnlyViolation(
                    "harvester query is read-only: this statement would change the database or "
                    "reach outside it (writes, ATTACH, PRAGMA and extensions are refused)"
                ) from None
            raise ConfigError(f"SQL error: {exc}") from None
        except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
            raise ConfigError(f"SQL error: {exc}") from None
        columns = [description[0] for description in cursor.description or ()]
        rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
        return columns, rows
    finally:
        connection.close()
