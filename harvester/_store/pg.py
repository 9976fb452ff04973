"""PostgreSQL's side of the database seam (see `_store.db`): the only module that imports
psycopg.

What differs from SQLite: the write lock is a transaction-level advisory lock (writers on every
host queue on it, as SQLite writers queue on BEGIN IMMEDIATE); the active service holds a lease
(`_store.lease`) and each of its write transactions checks, once it holds the write lock, that
the lease is still its own (the fence: `take_write_lock`); token grants queue on an advisory
lock of their own (`grant_lock`), not on the write lock; and `harvester query` runs in a
read-only transaction with a statement timeout.

No wait is unbounded. Every connection carries server-side limits (a statement, a lock wait, a
transaction left idle), TCP keepalives both ways (the server drops a silent client, the client
a silent server) and a connect timeout; the lease's own connection has tighter ones, and a
process can sever every connection of an engine at once (`sever`), which is how an active
service that lost its lease stops writing even when its sockets hang behind a frozen proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url

from .._core.errors import AuthError, ConfigError, LostActiveLock, ReadOnlyViolation
from .._core.text import error_line
from . import driver

# advisory lock keys (one bigint space per database): "harv" + w(rite) / g(rant)
WRITE_LOCK_KEY = 0x68617277
GRANT_LOCK_KEY = 0x68617267
REBUILD_LOCK_KEY = 0x68617274  # one `harvester tables rebuild` at a time
# the server drops a silent peer after about idle + interval * count seconds
KEEPALIVE = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3}
# the server's limits on every connection of harvester: a statement, a wait for a lock (the
# write lock too: as SQLite's busy timeout), a transaction whose client went quiet
LIMITS = {
    "statement_timeout": "600s",
    "lock_timeout": "60s",
    "idle_in_transaction_session_timeout": "300s",
}
# the lease's connection: each of its statements is one short UPDATE or SELECT
LEASE_LIMITS = {
    "statement_timeout": "5s",
    "lock_timeout": "5s",
    "idle_in_transaction_session_timeout": "5s",
}
# the client's side (libpq): give up a connect, and a server that stopped answering (keepalive
# probes unanswered, or data sent and not acknowledged for tcp_user_timeout milliseconds)
CLIENT = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


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


def new_tag() -> str:
    """A name for one engine on the server (`<pid>.<random>`), in the application_name of each of
    its connections: a service taking over ends the sessions of the one it replaces by it."""
    return f"{os.getpid()}.{secrets.token_hex(4)}"


def application_names(tag: str) -> tuple[str, str]:
    """The application_name of an engine's connections and of its lease connection."""
    return f"harvester {tag}", f"harvester lease {tag}"


def _options(limits: dict[str, str]) -> str:
    settings = {**KEEPALIVE, **limits}
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def engine_arguments(url: str, tag: str, read_only: bool = False) -> tuple[str, dict[str, Any]]:
    """The SQLAlchemy URL (psycopg 3) and engine options for a postgresql:// URL, its sessions
    named by `tag`; `read_only` makes every transaction read-only (a replica)."""
    _require_psycopg()
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    options = _options(LIMITS) + (" -c default_transaction_read_only=on" if read_only else "")
    return parsed.render_as_string(hide_password=False), {
        "connect_args": {
            "application_name": application_names(tag)[0],
            "options": options,
            **CLIENT,
        },
    }


# -- every connection of an engine, to sever them at once ----------------------------------------

_connections: weakref.WeakKeyDictionary[Engine, weakref.WeakSet[Any]] = weakref.WeakKeyDictionary()
_tags: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_connections_lock = threading.Lock()


def track_connections(engine: Engine, tag: str) -> None:
    """Remember `engine`'s tag, and every connection it opens (weakly), for `sever`."""
    live: weakref.WeakSet[Any] = weakref.WeakSet()
    with _connections_lock:
        _connections[engine] = live
        _tags[engine] = tag

    @event.listens_for(engine, "connect")
    def _opened(dbapi_connection: Any, _: Any) -> None:
        with _connections_lock:
            live.add(dbapi_connection)


def tag_of(engine: Engine) -> str:
    """The engine's tag (one is made for an engine `_store.db` did not create)."""
    with _connections_lock:
        if engine not in _tags:
            _tags[engine] = new_tag()
        return _tags[engine]


def sever(engine: Engine) -> int:
    """Shut down the socket of every open connection of `engine`, now: a thread waiting on one
    (a statement, a lock, a server behind a frozen proxy) gets an error at once, and nothing
    more is sent on them. The pool replaces them as they are next used. Returns how many."""
    with _connections_lock:
        live = list(_connections.get(engine, ()))
    return sum(shutdown_socket(connection) for connection in live)


def shutdown_socket(connection: Any) -> bool:
    """Shut down one psycopg connection's socket (without closing the descriptor libpq owns)."""
    try:
        if connection.closed:
            return False
        duplicate = os.dup(connection.pgconn.socket)
    except Exception:  # closed meanwhile, or never connected
        return False
    sock = socket.socket(fileno=duplicate)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # not connected any more
        return False
    finally:
        sock.close()
    return True


# -- the write lock and the fence ---------------------------------------------------------------


class Fence(Protocol):
    """What an active service's lease lets its writers check (`_store.lease`)."""

    def alive(self) -> bool:
        """Its own clock's verdict: renewed in time, not lost."""

    def holds(self, connection: Connection) -> bool:
        """The database's verdict, asked inside the writer's transaction."""


# the engines of active services -> their lease
_fences: weakref.WeakKeyDictionary[Engine, Fence] = weakref.WeakKeyDictionary()

LOST = (
    "this service lost its lease on the active role (not renewed in time, or taken over): it "
    "writes nothing more, and another service takes over"
)


def take_write_lock(connection: Connection) -> None:
    """The first statement of a write transaction: wait for, then hold, the write lock. On the
    active service's engine (fenced), check before and after that its lease still stands: a
    writer that passed the second check holds the write lock until it commits, and a service
    that took the lease after it either ends its connection first (`_store.lease`) or waits for
    the write lock, so the old active one's writes never interleave with the new one's."""
    fence = _fences.get(connection.engine)
    if fence is not None and not fence.alive():
        raise LostActiveLock(LOST)
    driver.execute(connection, f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
    if fence is not None and not (fence.holds(connection) and fence.alive()):
        raise LostActiveLock(LOST)


def fence(engine: Engine, lease: Fence) -> None:
    """From now on every write transaction on `engine` checks `lease` (see `take_write_lock`)."""
    _fences[engine] = lease


def unfence(engine: Engine) -> None:
    _fences.pop(engine, None)


def short_transaction(connection: Connection, lock_seconds: float) -> None:
    """Bound this transaction's lock waits (a row of its own: it should never wait long)."""
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{max(1, int(lock_seconds * 1000))}ms'")


def unbounded_statements(connection: Connection) -> None:
    """Lift the statement timeout for this transaction (migrations: one may rewrite a table)."""
    connection.exec_driver_sql("SET LOCAL statement_timeout = 0")


def reset_sequences(connection: Connection, tables: list[str]) -> None:
    """Each table's id sequence continues after its largest id (after a copy with ids)."""
    for table in tables:
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )


# -- token grants: one at a time, without the write lock ----------------------------------------


@contextmanager
def grant_lock(engine: Engine, timeout: float) -> Iterator[None]:
    """Hold the grant lock (a session-level advisory lock, on a pooled connection in autocommit:
    no transaction stays open while a grant talks to iRacing) for as long as the block runs;
    wait at most `timeout` seconds for it. A killed process's lock ends with its connection."""
    from sqlalchemy.exc import OperationalError

    with engine.connect() as base:
        conn = base.execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.exec_driver_sql(f"SET lock_timeout = '{max(1, int(timeout * 1000))}ms'")
            try:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({GRANT_LOCK_KEY})")
            except OperationalError as exc:
                if not isinstance(exc.orig, _require_psycopg().errors.LockNotAvailable):
                    raise
                raise AuthError(
                    f"another process has been talking to the token endpoint for {timeout:g} s "
                    "(it holds the grant lock); the next request tries again"
                ) from None
            finally:
                conn.exec_driver_sql("RESET lock_timeout")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({GRANT_LOCK_KEY})")
        except BaseException:
            base.invalidate()  # a connection in an unknown state never goes back to the pool
            raise


@contextmanager
def rebuild_lock(engine: Engine, busy: str) -> Iterator[None]:
    """Hold the rebuild lock (a session-level advisory lock on a connection kept for the
    block, in autocommit) or raise ConfigError at once naming the server session that holds
    it. A killed process's lock ends with its connection."""
    with engine.connect() as base:
        conn = base.execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = conn.exec_driver_sql(
                f"SELECT pg_try_advisory_lock({REBUILD_LOCK_KEY})"
            ).scalar()
            if not taken:
                holder = conn.exec_driver_sql(
                    "SELECT a.pid, a.application_name, a.client_addr, a.backend_start "
                    "FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 "
                    f"AND l.objid = {REBUILD_LOCK_KEY} AND l.objsubid = 1"
                ).first()
                who = (
                    f"PostgreSQL session {holder[0]}, {holder[1] or 'no application name'}, "
                    f"from {holder[2] or 'a local socket'}, connected {holder[3]:%Y-%m-%d %H:%M}"
                    if holder is not None
                    else "a session that has just ended"
                )
                raise ConfigError(busy.format(who=who))
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({REBUILD_LOCK_KEY})")
        except BaseException:
            base.invalidate()  # a connection in an unknown state never goes back to the pool
            raise


# -- the lease's own connection -------------------------------------------------------------------


def connect_for_lease(engine: Engine) -> Any:
    """A connection of its own (not pooled, autocommit) for the lease, with tight limits."""
    psycopg = _require_psycopg()
    return psycopg.connect(
        libpq_url(engine.url.render_as_string(hide_password=False)),
        autocommit=True,
        application_name=application_names(tag_of(engine))[1],
        options=_options(LEASE_LIMITS),
        **CLIENT,
    )


@contextmanager
def deadline(connection: Any, seconds: float) -> Iterator[None]:
    """The client's own bound on what runs on `connection` in the block: past `seconds` its
    socket is shut down, so a statement behind a frozen proxy or a cut link fails then instead
    of never (the server's limits cannot help when the server never sees the statement)."""
    timer = threading.Timer(seconds, shutdown_socket, (connection,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def terminate(connection: Any, names: tuple[str, ...], backend_pid: int | None) -> list[int]:
    """End the server sessions of a replaced service (by application name, and its lease
    backend), so its locks and any transaction it left open end with them; wait (bounded) until
    they are gone. Returns their process ids."""
    rows = connection.execute(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND (application_name = ANY(%s) OR pid = %s)",
        (list(names), backend_pid or 0),
    ).fetchall()
    pids = [int(row[0]) for row in rows]
    if pids:
        for _ in range(100):  # pg_terminate_backend only signals: wait for them to end
            left = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            if not left[0]:
                break
            time.sleep(0.05)
    return pids


def replica_position(connection: Connection) -> tuple[float, float] | None:
    """For a replica (a server in recovery): (the time up to which it shows its primary's
    commits, its own time now), as epoch seconds; None for a primary. A replica streaming with
    nothing left to replay is current now; otherwise it is as old as its last replayed commit."""
    row = connection.exec_driver_sql(
        "SELECT pg_is_in_recovery(), extract(epoch FROM pg_last_xact_replay_timestamp()), "
        "extract(epoch FROM clock_timestamp()), "
        "pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
        "AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')"
    ).one()
    if not row[0]:
        return None
    now = float(row[2])
    if row[3]:
        return now, now
    return (float(row[1]) if row[1] is not None else 0.0), now


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
            options=_options(LIMITS) + " -c default_transaction_read_only=on",
            **CLIENT,
        )
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot open the database: {error_line(exc)}") from None
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
