"""PostgreSQL's side of the database seam (see `_store.db`): the only module that imports
psycopg.

Three things differ from SQLite: the write lock is a transaction-level advisory lock (writers on
every host queue on it, as SQLite writers queue on BEGIN IMMEDIATE); the active service holds a
session-level advisory lock on a connection of its own (the server frees it the moment that
connection is gone: a killed process, a lost host once TCP keepalives give up), and each of its
write transactions checks it still does (the fence: `take_write_lock`); and `harvester query`
runs in a read-only transaction with a statement timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import weakref
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from .._core.errors import ConfigError, LostActiveLock, ReadOnlyViolation

# advisory lock keys (one bigint space per database): "harv" + w(rite) / a(ctive)
WRITE_LOCK_KEY = 0x68617277
ACTIVE_LOCK_KEY = 0x68617261
# the server drops a silent peer after about idle + interval * count seconds
KEEPALIVE = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3}


def _require_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "HARVESTER_DATABASE_URL is a PostgreSQL database, which needs psycopg: "
            "pip install 'harvester[postgres]'"
        ) from None
    return psycopg


def libpq_url(url: str) -> str:
    """The URL as libpq reads it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def engine_arguments(url: str) -> tuple[str, dict[str, Any]]:
    """The SQLAlchemy URL (psycopg 3) and engine options for a postgresql:// URL."""
    _require_psycopg()
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    options = " ".join(f"-c {name}={value}" for name, value in KEEPALIVE.items())
    return parsed.render_as_string(hide_password=False), {
        "pool_pre_ping": True,
        "connect_args": {"application_name": "harvester", "options": options},
    }


def take_write_lock(connection: Connection) -> None:
    """The first statement of a write transaction: wait for, then hold, the write lock. On the
    active service's engine (fenced), then check that its session still holds the active lock:
    a writer that passed this check holds the write lock until it commits, and a service that
    took the active lock after it can write only once it has, so the old active one's writes
    never interleave with the new one's."""
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
    holder = _fences.get(connection.engine)
    if holder is not None and not connection.exec_driver_sql(_HELD_BY, (holder,)).scalar():
        raise LostActiveLock(
            "this service lost the active lock (its lock connection is gone): it writes "
            "nothing more, and another service takes over"
        )


def reset_sequences(connection: Connection, tables: list[str]) -> None:
    """Each table's id sequence continues after its largest id (after a copy with ids)."""
    for table in tables:
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )


# -- the active service's lock -------------------------------------------------------------------


def connect_for_lock(engine: Engine) -> Any:
    """A connection of its own (not pooled, autocommit) to hold the session-level lock."""
    psycopg = _require_psycopg()
    options = " ".join(f"-c {name}={value}" for name, value in KEEPALIVE.items())
    return psycopg.connect(
        libpq_url(engine.url.render_as_string(hide_password=False)),
        autocommit=True,
        application_name=f"harvester active pid={os.getpid()}",
        options=options,
        connect_timeout=10,
    )


def try_session_lock(connection: Any) -> bool:
    row = connection.execute(f"SELECT pg_try_advisory_lock({ACTIVE_LOCK_KEY})").fetchone()
    return bool(row[0])


def release_session_lock(connection: Any) -> None:
    """Unlock, then close: the lock is free when this returns (a close alone frees it once the
    server has noticed the session end, a moment later)."""
    with contextlib.suppress(Exception):  # a lost connection: the server freed it already
        connection.execute(f"SELECT pg_advisory_unlock({ACTIVE_LOCK_KEY})")
    connection.close()


# the engines of active services -> the server pid of the session holding their active lock
_fences: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()
_HELD_BY = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    f"AND classid = 0 AND objid = {ACTIVE_LOCK_KEY} AND objsubid = 1 AND pid = %s)"
)


def fence(engine: Engine, lock_connection: Any) -> None:
    """From now on every write transaction on `engine` checks that the session of
    `lock_connection` still holds the active lock (see `take_write_lock`)."""
    _fences[engine] = int(lock_connection.info.backend_pid)


def unfence(engine: Engine) -> None:
    _fences.pop(engine, None)


def session_lock_alive(connection: Any) -> bool:
    """True while the lock's connection still answers (so the server still holds the lock)."""
    try:
        connection.execute("SELECT 1").fetchone()
    except Exception:
        return False
    return True


def session_lock_holder(engine: Engine) -> int | None:
    """The pid (on its own host) of the service holding the active lock, -1 when it is held by
    someone else, None when nobody holds it."""
    with engine.connect() as conn:
        name = conn.exec_driver_sql(
            "SELECT coalesce(a.application_name, '') FROM pg_locks AS l "
            "LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            f"AND l.classid = 0 AND l.objid = {ACTIVE_LOCK_KEY} AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).scalar()
    if name is None:
        return None
    found = re.search(r"pid=(\d+)", name)
    return int(found.group(1)) if found else -1


# -- harvester query -----------------------------------------------------------------------------

_READING = ("select", "with", "values", "table", "explain", "show")
# functions that reach outside the database or act on the server, allowed in a read-only
# transaction all the same (so they are refused by name)
_OUTSIDE = re.compile(
    r"\b(pg_read_file|pg_read_binary_file|pg_ls_\w+|pg_stat_file|lo_\w+|dblink\w*|"
    r"pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|set_config|"
    r"pg_advisory\w*|pg_try_advisory\w*|pg_notify|pg_switch_wal|pg_promote|"
    r"pg_logical_emit_message|pg_file_\w+|pg_import_system_collations)\s*\(",
    re.IGNORECASE,
)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_REFUSAL = (
    "harvester query is read-only: this statement would change the database or reach outside "
    "it (writes, COPY, SET, server functions and more than one statement are refused)"
)


def check_reading(sql: str) -> None:
    """Refuse, before anything runs, what is not one reading statement."""
    text = _COMMENTS.sub(" ", sql).strip().rstrip(";").strip()
    first = text.split(None, 1)[0].lower() if text else ""
    if first not in _READING or ";" in _strip_literals(text) or _OUTSIDE.search(text):
        raise ReadOnlyViolation(_REFUSAL)
    if first == "explain" and re.search(r"\banalyze\b", text, re.IGNORECASE):
        raise ReadOnlyViolation(_REFUSAL)  # EXPLAIN ANALYZE runs the statement it explains


# functions that run SQL given as text (or read a whole table given by name): the planner cannot
# see what they will read, so with hidden tables they are refused by name
_RUNS_SQL_TEXT = re.compile(
    r"\b(query_to_xml\w*|cursor_to_xml\w*|table_to_xml\w*|schema_to_xml\w*|"
    r"database_to_xml\w*|ts_stat|ts_rewrite)\b",
    re.IGNORECASE,
)
_RUNS_SQL_REFUSAL = (
    "functions that run SQL given as text (query_to_xml, table_to_xml, ts_stat...) are refused "
    "here: what they read cannot be checked before they run"
)
# the planner's samples of every column, the hidden tables' too (behind the pg_stats views)
_STATISTICS = ("pg_statistic", "pg_statistic_ext_data")


def check_hidden(cursor: Any, sql: str, hidden: frozenset[str]) -> None:
    """Refuse, before it runs, a statement that would read a `hidden` table: the plan names
    every table the statement reads, through views, subqueries and CTEs alike (EXPLAIN plans,
    it does not run), and a function that runs SQL text is refused by name."""
    text = _COMMENTS.sub(" ", sql).strip()
    first = text.split(None, 1)[0].lower() if text else ""
    if _RUNS_SQL_TEXT.search(text):
        raise ConfigError(_RUNS_SQL_REFUSAL)
    if first in ("explain", "show"):
        return  # a plan or a setting: no table's rows
    cursor.execute(f"EXPLAIN (VERBOSE, FORMAT JSON) {sql}")
    plan_text = cursor.fetchone()[0]
    if _RUNS_SQL_TEXT.search(plan_text):  # spelt so the text check missed it (quoted, escaped)
        raise ConfigError(_RUNS_SQL_REFUSAL)
    for name in _relations(json.loads(plan_text)):
        if name.lower() in hidden or name.lower() in _STATISTICS:
            raise hidden_refusal(name.lower())


def hidden_refusal(table: str) -> ConfigError:
    """The one line for a read of a hidden table, on either database."""
    what = (
        "samples of every column's values, the hidden tables' too"
        if table in _STATISTICS
        else "the OAuth session or the login bookkeeping"
    )
    return ConfigError(f"{table} is not readable here: it holds {what}")


def _relations(plan: Any) -> Iterator[str]:
    """Every "Relation Name" in an EXPLAIN (FORMAT JSON) plan."""
    if isinstance(plan, dict):
        for key, value in plan.items():
            if key == "Relation Name" and isinstance(value, str):
                yield value
            else:
                yield from _relations(value)
    elif isinstance(plan, list):
        for item in plan:
            yield from _relations(item)


def _strip_literals(text: str) -> str:
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", text)


@contextmanager
def read_only(
    url: str, sql: str, timeout: float, hidden: Collection[str] = ()
) -> Iterator[tuple[list[str], Iterator[tuple[Any, ...]]]]:
    """Column names and a stream of rows of one reading statement, in a read-only transaction
    (which is also the session's default) with a statement timeout. Rows come from the server
    as they are produced (single-row mode), so memory stays flat however many there are. A
    statement that would read a `hidden` table is refused (`check_hidden`)."""
    check_reading(sql)
    psycopg = _require_psycopg()
    from psycopg import errors

    try:
        connection = psycopg.connect(
            libpq_url(url),
            application_name="harvester query",
            options="-c default_transaction_read_only=on",
            connect_timeout=10,
        )
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot open the database: {str(exc).strip()}") from None
    from psycopg.types.string import TextLoader

    for json_type in ("json", "jsonb"):  # JSON values as the server's text, as SQLite gives them
        connection.adapters.register_loader(json_type, TextLoader)
    finished = False
    try:
        cursor = connection.cursor()
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
        cursor.execute("SELECT 1")  # a snapshot now: read-only can no longer be switched off
        try:
            if hidden:
                check_hidden(cursor, sql, frozenset(name.lower() for name in hidden))
            stream = cursor.stream(sql)
            first = next(stream, None)
        except errors.Error as exc:
            finished = True
            raise explain(exc, timeout) from None
        if first is None and cursor.description is None:  # a stream of no rows names none
            finished = True
            columns = _columns_of(cursor, sql)
        else:
            columns = [column.name for column in cursor.description or ()]

        def rows() -> Iterator[tuple[Any, ...]]:
            nonlocal finished
            if first is None:
                finished = True
                return
            yield tuple(first)
            try:
                for row in stream:
                    yield tuple(row)
            except errors.Error as exc:
                raise explain(exc, timeout) from None
            finally:
                finished = True

        yield columns, rows()
    finally:
        if not finished:  # the reader stopped early (a limit, an error): stop the server too
            with contextlib.suppress(Exception):  # closing below ends the session regardless
                connection.cancel_safe()
        connection.close()  # the server rolls the read-only transaction back


def _columns_of(cursor: Any, sql: str) -> list[str]:
    """The column names of a reading statement whose answer is empty (the server plans it
    under LIMIT 0 and runs nothing); none for what cannot be a subquery (SHOW, EXPLAIN)."""
    from psycopg import errors

    text = _COMMENTS.sub(" ", sql).strip().rstrip(";").strip()
    if text.split(None, 1)[0].lower() not in ("select", "with", "values", "table"):
        return []
    try:
        cursor.execute(f"SELECT * FROM ({text}) AS answer LIMIT 0")
    except errors.Error:
        return []
    return [column.name for column in cursor.description or ()]


def explain(exc: Exception, timeout: float) -> ConfigError:
    from psycopg import errors

    if isinstance(exc, errors.ReadOnlySqlTransaction | errors.InsufficientPrivilege):
        return ReadOnlyViolation(_REFUSAL)
    if isinstance(exc, errors.QueryCanceled):
        return ConfigError(f"the query ran longer than {timeout:g} s and was stopped (--timeout)")
    message = str(exc).strip().split("\n")[0]
    return ConfigError(f"SQL error: {message}")
