"""`harvester query`: SQL against the archive that cannot change it.

Three walls: the file is opened read-only (`mode=ro`), `PRAGMA query_only` is on, and an
authorizer refuses anything but reading (writes, ATTACH, loading extensions, most PRAGMAs), so
the refusal comes back as one clear line before anything runs.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _SAFE_PRAGMAS:
        return sqlite3.SQLITE_OK  # these only read (arg2 is their argument, a table name)
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 in ("sqlite_master", "sqlite_schema"):
        # SQLite asks this while setting up a second json_each of one statement; the file is
        # opened read-only with query_only on, so no update can happen
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def run_query(
    database_url: str, sql: str, limit: int | None = None, timeout: float = 60.0
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; return (column names, rows). It is stopped after `timeout`
    seconds or on Ctrl-C (SQLite would otherwise never give the process back)."""
    path = sqlite_path(database_url)
    if path is None:
        raise ConfigError("harvester query works on SQLite databases only")
    if not Path(path).exists():
        raise ConfigError(f"no database at {path} (run `harvester db upgrade` or a job first)")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    deadline = time.monotonic() + timeout
    interrupted = threading.Event()

    def keep_going() -> int:  # called by SQLite every few thousand steps
        return 1 if interrupted.is_set() or time.monotonic() > deadline else 0

    try:
        connection.execute("PRAGMA query_only = ON")
        connection.set_authorizer(_authorizer)
        connection.set_progress_handler(keep_going, 10_000)
        with _ctrl_c_sets(interrupted):
            try:
                cursor = connection.execute(sql)
                columns = [description[0] for description in cursor.description or ()]
                rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
            except sqlite3.DatabaseError as exc:
                raise _explain(exc, interrupted.is_set(), timeout) from None
            except sqlite3.Warning as exc:  # "You can only execute one statement at a time."
                raise ConfigError(f"SQL error: {exc}") from None
        return columns, rows
    finally:
        connection.close()


def _explain(exc: sqlite3.DatabaseError, by_user: bool, timeout: float) -> ConfigError:
    text = str(exc)
    if "not authorized" in text or "authorization denied" in text or "readonly" in text.lower():
        return ReadOnlyViolation(
            "harvester query is read-only: this statement would change the database or reach "
            "outside it (writes, ATTACH, VACUUM, PRAGMA and extensions are refused)"
        )
    if text == "interrupted":
        if by_user:
            return ConfigError("query interrupted")
        return ConfigError(f"the query ran longer than {timeout:g} s and was stopped (--timeout)")
    return ConfigError(f"SQL error: {text}")


@contextmanager
def _ctrl_c_sets(event: threading.Event) -> Iterator[None]:
    """While a query runs, Ctrl-C asks SQLite to stop (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: event.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
