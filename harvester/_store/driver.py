"""Statements sent straight to the database driver, failing as SQLAlchemy would.

On the path of every write (the write lock, SQLite's BEGIN, `db.Prepared`, savepoints, the
tables' writer) SQLAlchemy's execution machinery costs more client CPU than the work. These
skip it and keep what it gives on failure: the driver's error becomes SQLAlchemy's class of it
(`OperationalError`, `IntegrityError`, ...), which the service's handling of a lost database
knows, and a lost connection is invalidated at once, its pool suspect (`liveness`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from . import liveness


def execute(connection: Connection, sql: str, params: Any = None) -> Any:
    """Run `sql` (with `params`, if any) on a new cursor of `connection`'s driver; the cursor."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        return cursor.execute(sql) if params is None else cursor.execute(sql, params)
    except connection.dialect.loaded_dbapi.Error as exc:
        raise error(connection, exc, sql) from exc


def executemany(connection: Connection, sql: str, rows: Iterable[Any]) -> None:
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    except connection.dialect.loaded_dbapi.Error as exc:
        raise error(connection, exc, sql) from exc


def error(connection: Connection, exc: Any, sql: str) -> Exception:
    """The driver's error `exc` as SQLAlchemy's execution would raise it (see the module)."""
    dialect = connection.dialect
    lost = connection.invalidated  # already: found lost by an earlier statement
    if not lost and dialect.is_disconnect(exc, connection.connection.dbapi_connection, None):
        lost = True
        connection.invalidate(exc)
        liveness.suspect(connection.engine)
    converted: Exception = DBAPIError.instance(
        sql, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
    )
    return converted
