"""The database: one set of functions over SQLite and PostgreSQL, and the migrations.

Callers never ask which database they are on; the few places where the two differ are here,
behind one switch (`is_postgres`): the engine's settings, the write lock (`write`, and
`write_own` for rows that need none), the lock of token grants (`grant_lock`), the lock that
keeps table rebuilds one at a time (`rebuild_lock`), inserts that
ignore or update an existing key (`insert_ignoring`, `upsert`), the planner's statistics
(`analyze`), the read-only connection of `harvester query` (`read_only_rows`) and read
replicas (`open_reading`, `replica_position`). Only `_store.pg` imports psycopg. The lock that
elects one active service is `_store.lock`'s (`_store.lease` on PostgreSQL), which stands on
this module (never the other way round).

SQLite runs in WAL mode (readers never wait for the writer), with a busy timeout (writers queue
instead of failing) and foreign keys on. The driver's own transaction handling is turned off so
harvester says when a transaction begins: `write()` takes the write lock up front with
`BEGIN IMMEDIATE`, which is what makes the OAuth refresh single-flight across processes. On
PostgreSQL the same lock is a transaction-level advisory lock taken as the transaction's first
statement: writers queue one after another across hosts, and the lock ends with the transaction.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Executable, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from .._core.errors import AuthError, ConfigError
from .._core.logs import get_logger
from .._core.text import error_line
from . import driver, liveness, pg

log = get_logger("harvester.db")

if os.name == "posix":  # elsewhere harvester stops at start-up (harvester.posix)
    import fcntl

BUSY_TIMEOUT_MS = 60_000


def migrations_path() -> Path:
    """Where the Alembic scripts are: `harvester._migrations` is the repo's migrations/ folder,
    mapped into the package by pyproject.toml, so checkouts and wheels find it the same way."""
    return Path(str(resources.files("harvester._migrations")))


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def is_postgres(bind: Engine | Connection | Dialect) -> bool:
    """The one question of which database this is; asked only in this module."""
    dialect = bind if isinstance(bind, Dialect) else bind.dialect
    return dialect.name == "postgresql"


def create_db_engine(
    url: str, read_only: bool = False, setting: str = "HARVESTER_DATABASE_URL"
) -> Engine:
    """An engine with harvester's connection settings; for SQLite the file's folder is created.
    `read_only` (a read replica): every PostgreSQL transaction is read-only, and a SQLite file
    is opened read-only and never created."""
    path = sqlite_path(url)
    if path is not None and not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    tag = pg.new_tag()
    if is_postgres_url(url):
        url, options = pg.engine_arguments(url, tag, read_only=read_only)
    elif path is not None and read_only:
        if not path.is_file():
            raise ConfigError(f"{setting}: no database file at {path}")
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    try:
        engine = create_engine(url, future=True, **options)
    except Exception as exc:  # unknown dialect, bad URL
        raise ConfigError(f"{setting} is not usable: {exc}") from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, read_only)
    else:
        pg.track_connections(engine, tag)
        liveness.ping_when_in_doubt(engine)
    return engine


def is_postgres_url(url: str) -> bool:
    try:
        return make_url(url).drivername.split("+")[0] in ("postgresql", "postgres")
    except Exception:  # a bad URL is reported by create_engine
        return False


def _configure_sqlite(engine: Engine, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # straight to the driver: this runs for every transaction, and going through
        # SQLAlchemy's execution machinery here would cost more than the writes themselves
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        driver.execute(connection, f"BEGIN {mode}")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction that holds the database's write lock from its first statement.

    On SQLite this is `BEGIN IMMEDIATE`: other writers (threads or processes) wait for it. On
    PostgreSQL it is `pg_advisory_xact_lock` as the first statement: writers on every host that
    opens the same database wait for it, and it is released at commit or rollback.
    """
    if is_postgres(engine):
        with _postgres_write(engine) as connection:
            yield connection
        return
    with _immediate(engine).connect() as locked, locked.begin():
        yield locked


@contextmanager
def _postgres_write(engine: Engine) -> Iterator[Connection]:
    """PostgreSQL's write transaction. A pooled connection is not asked whether it is alive
    when it was used a moment ago (`liveness`): one whose server vanished without a word fails
    at the write lock, before anything ran, and the transaction begins again once on a fresh
    one (the pool's other connections are pinged before use from then on); a warning says so."""
    for attempt in (1, 2):
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                pg.take_write_lock(connection)
            except DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated:
                    log.warning("db.write_begun_again", error=error_line(exc))
                    continue
                raise
            with transaction:
                yield connection
            return


def _immediate(engine: Engine) -> Engine:
    """The engine whose transactions begin IMMEDIATE (SQLite), made once per engine: every run
    writes twice, and options set per connection cost a copy of it each time."""
    found: Engine | None = engine.__dict__.get("_harvester_immediate")
    if found is None:
        found = engine.execution_options(sqlite_begin="IMMEDIATE")
        engine.__dict__["_harvester_immediate"] = found
    return found


OWN_ROW_LOCK_SECONDS = 5.0


@contextmanager
def write_own(engine: Engine) -> Iterator[Connection]:
    """A short write transaction of rows one process owns (a standby's heartbeat row) or that a
    lock of their own already serialises (the session's tokens, under the grant lock).

    On PostgreSQL it takes no write lock and is not fenced: a standby's heartbeat never waits
    for whatever holds the write lock (a frozen active service included), and rotated tokens are
    committed the moment they arrive, even by a service that has just lost its lease (they are
    the only valid ones). Its lock waits are bounded to a few seconds. On SQLite, `write`.
    """
    with engine.connect() as connection:
        if is_postgres(connection):
            with connection.begin():
                pg.short_transaction(connection, OWN_ROW_LOCK_SECONDS)
                yield connection
            return
        locked = connection.execution_options(sqlite_begin="IMMEDIATE")
        with locked.begin():
            yield locked


GRANT_POLL_SECONDS = 0.05
_memory_grants = threading.Lock()  # in-memory SQLite: one process is all there is


@contextmanager
def grant_lock(engine: Engine, timeout: float) -> Iterator[None]:
    """One token grant at a time across every process that opens this database, without the
    write lock (writers go on while a grant waits for the token endpoint); AuthError after
    waiting `timeout` seconds. PostgreSQL: an advisory lock of its own. A SQLite file: a file
    lock beside it (`harvester.db.grant-lock`); in-memory SQLite: a lock of this process."""
    if is_postgres(engine):
        with pg.grant_lock(engine, timeout):
            yield
        return
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        if not _memory_grants.acquire(timeout=timeout):
            raise AuthError(_GRANT_BUSY.format(timeout=timeout))
        try:
            yield
        finally:
            _memory_grants.release()
        return
    fd = os.open(path.with_name(path.name + ".grant-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AuthError(_GRANT_BUSY.format(timeout=timeout)) from None
                time.sleep(GRANT_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_memory_rebuilds = threading.Lock()
REBUILD_BUSY = (
    "another `harvester tables rebuild` is running ({who}); run this one again when it ends"
)


@contextmanager
def rebuild_lock(engine: Engine) -> Iterator[None]:
    """One `harvester tables rebuild` at a time on this database, across processes and (on
    PostgreSQL) hosts: held for the whole rebuild, never waited for: a second rebuild stops at
    once with ConfigError naming the holder. PostgreSQL: an advisory lock of its own. A SQLite
    file: a file lock beside it (`harvester.db.rebuild-lock`, holding the holder's pid and host);
    in-memory SQLite: a lock of this process. A killed holder's lock ends with it."""
    if is_postgres(engine):
        with pg.rebuild_lock(engine, REBUILD_BUSY):
            yield
        return
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        if not _memory_rebuilds.acquire(blocking=False):
            raise ConfigError(REBUILD_BUSY.format(who="in this process"))
        try:
            yield
        finally:
            _memory_rebuilds.release()
        return
    fd = os.open(path.with_name(path.name + ".rebuild-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held_by = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            raise ConfigError(REBUILD_BUSY.format(who=held_by or "a process")) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_GRANT_BUSY = (
    "another process has been talking to the token endpoint for {timeout:g} s (it holds the "
    "grant lock); the next request tries again"
)


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read transaction: a consistent snapshot that never blocks the writer (WAL)."""
    with engine.connect() as connection, connection.begin():
        yield connection


@contextmanager
def savepoint(connection: Connection, name: str = "harvester") -> Iterator[None]:
    """A savepoint in the caller's transaction, on the driver's connection: if the block
    raises, what it wrote is undone and the transaction goes on. (SQLAlchemy's `begin_nested`
    costs some 80 µs a time, sixty times the two statements: on every result derived.)"""
    driver.execute(connection, f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        driver.execute(connection, f"ROLLBACK TO SAVEPOINT {name}")
        driver.execute(connection, f"RELEASE SAVEPOINT {name}")
        raise
    driver.execute(connection, f"RELEASE SAVEPOINT {name}")


class Prepared:
    """A Core statement compiled once for the engine's dialect and run on the DBAPI cursor of
    the caller's transaction.

    On the hot path of every run, SQLAlchemy's per-call machinery costs several times SQLite's
    own work (building, compiling, events, result wrapping). This keeps the portable statement
    (compiled per dialect, with its parameter style) and hands it straight to the driver.
    Parameters are passed by bind name; the driver's cursor is returned (rowcount, fetchone).
    """

    def __init__(self, engine: Engine, statement: Executable) -> None:
        compiled = statement.compile(dialect=engine.dialect)  # type: ignore[attr-defined]
        self.sql = str(compiled)
        self._names: list[str] | None = compiled.positiontup
        self._defaults: dict[str, Any] = dict(compiled.params)  # columns' scalar defaults

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        merged = {**self._defaults, **values}
        params = tuple(merged[n] for n in self._names) if self._names is not None else merged
        return driver.execute(connection, self.sql, params)


def dialect_insert(bind: Engine | Connection | Dialect, model: Any) -> Any:
    """An INSERT with ON CONFLICT clauses (SQLite's and PostgreSQL's are the same SQL)."""
    return (postgresql.insert if is_postgres(bind) else sqlite.insert)(model)


def insert_ignoring(bind: Engine | Connection, model: Any, key: list[str] | None = None) -> Any:
    """An INSERT that skips rows whose key exists (`INSERT OR IGNORE`, `ON CONFLICT DO
    NOTHING`); the driver's rowcount counts only the rows inserted."""
    return dialect_insert(bind, model).on_conflict_do_nothing(index_elements=key)


INSERT_BATCH = 500  # rows per multi-row INSERT (well under SQLite's bound-parameter limit)


def insert_new(connection: Connection, model: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows whose key is not there yet, `INSERT_BATCH` rows per statement; return
    how many were new (counted from RETURNING: drivers differ in what rowcount says of a
    multi-row insert)."""
    key = next(iter(model.__table__.primary_key.columns))
    new = 0
    for start in range(0, len(rows), INSERT_BATCH):
        batch = rows[start : start + INSERT_BATCH]
        statement = insert_ignoring(connection, model).values(list(batch)).returning(key)
        new += len(connection.execute(statement).all())
    return new


def upsert(
    connection: Connection,
    model: Any,
    key: Mapping[str, Any],
    values: Mapping[str, Any],
    only_if: Any = None,
    on_insert: Mapping[str, Any] | None = None,
) -> None:
    """Insert a row, or update it where its key exists (SQLite and PostgreSQL). `only_if` is a
    condition on the existing row for the update (e.g. never move a mark back); `on_insert` are
    values a new row needs that an update must not change (the row must be valid as inserted:
    SQLite checks NOT NULL before it looks for the conflict)."""
    statement = dialect_insert(connection, model).values({**key, **(on_insert or {}), **values})
    connection.execute(
        statement.on_conflict_do_update(index_elements=list(key), set_=dict(values), where=only_if)
    )


def analyze(engine: Engine) -> None:
    """Refresh the query planner's statistics (sampled), so the views stay fast as the archive
    grows."""
    with write(engine) as conn:
        if not is_postgres(conn):
            conn.exec_driver_sql("PRAGMA analysis_limit = 1000")
        conn.exec_driver_sql("ANALYZE")


def after_bulk_copy(connection: Connection, tables: list[Any]) -> None:
    """After rows were copied in with their ids: new ids continue after the largest one
    (PostgreSQL's sequences do not see explicit ids; SQLite takes max(id) + 1 anyway)."""
    if is_postgres(connection):
        pg.reset_sequences(connection, [t.name for t in tables if "id" in t.primary_key.columns])


def read_only_rows(
    database_url: str, sql: str, timeout: float, hidden: Collection[str] = ()
) -> AbstractContextManager[tuple[list[str], Iterator[tuple[Any, ...]]]]:
    """`harvester query` on PostgreSQL: column names and a stream of rows of one reading
    statement, in a read-only transaction with a statement timeout, reading none of the
    `hidden` tables (see `pg.read_only`)."""
    return pg.read_only(database_url, sql, timeout, hidden)


@functools.cache
def _migration_head() -> str | None:
    """The newest migration's revision, read once per process: finding it loads every migration
    script, which costs more than the rest of the check that a database is current."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    return config


def upgrade(engine: Engine) -> bool:
    """Apply pending Alembic migrations; return True if any ran.

    Cheap when the database is current (one SELECT). Otherwise the migrations run inside one
    write transaction, so two processes starting together cannot both migrate.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    head = _migration_head()
    config = _alembic_config()
    try:
        with engine.connect() as connection:
            if MigrationContext.configure(connection).get_current_revision() == head:
                return False
        with write(engine) as connection:
            if MigrationContext.configure(connection).get_current_revision() == head:
                return False
            if is_postgres(connection):  # a migration may rewrite a large table
                pg.unbounded_statements(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise ConfigError(f"cannot open the database: {error_line(exc)}") from None
    return True


def open_database(url: str) -> Engine:
    """An engine on an up-to-date database: what every command that touches the database uses."""
    engine = create_db_engine(url)
    upgrade(engine)
    return engine


def open_reading(url: str, setting: str) -> Engine:
    """A read-only engine on a database harvester must not migrate (a read replica, named by
    `setting`): it must already be at this version's schema."""
    from alembic.runtime.migration import MigrationContext

    engine = create_db_engine(url, read_only=True, setting=setting)
    head = _migration_head()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        engine.dispose()
        raise ConfigError(f"{setting}: cannot open the database: {error_line(exc)}") from None
    if current != head:
        engine.dispose()
        raise ConfigError(
            f"{setting}: the database is at schema revision {current or 'none'}, this harvester "
            f"reads revision {head}: run `harvester db upgrade` on the primary "
            "(HARVESTER_DATABASE_URL) and let the replica catch up"
        )
    return engine


def replica_position(engine: Engine) -> tuple[float, float] | None:
    """(the time up to which it shows its primary's commits, its own time), as epoch seconds,
    when the database is a PostgreSQL replica; None otherwise (see `pg.replica_position`)."""
    if not is_postgres(engine):
        return None
    with read(engine) as connection:
        return pg.replica_position(connection)
