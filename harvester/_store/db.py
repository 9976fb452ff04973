"""The database: one set of functions over SQLite and PostgreSQL, and the migrations.

Callers never ask which database they are on; the few places where the two differ are here,
behind one switch (`is_postgres`): the engine's settings, the write lock (`write`), inserts that
ignore or update an existing key (`insert_ignoring`, `upsert`), the planner's statistics
(`analyze`) and the read-only connection of `harvester query` (`read_only_rows`). Only
`_store.pg` imports psycopg. The lock that elects one active service is `_store.lock`'s,
which stands on this module (never the other way round).

SQLite runs in WAL mode (readers never wait for the writer), with a busy timeout (writers queue
instead of failing) and foreign keys on. The driver's own transaction handling is turned off so
harvester says when a transaction begins: `write()` takes the write lock up front with
`BEGIN IMMEDIATE`, which is what makes the OAuth refresh single-flight across processes. On
PostgreSQL the same lock is a transaction-level advisory lock taken as the transaction's first
statement: writers queue one after another across hosts, and the lock ends with the transaction.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Executable, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from .._core.errors import ConfigError
from . import pg

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


def create_db_engine(url: str) -> Engine:
    """An engine with harvester's connection settings; for SQLite the file's folder is created."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if is_postgres_url(url):
        url, options = pg.engine_arguments(url)
    try:
        engine = create_engine(url, future=True, **options)
    except Exception as exc:  # unknown dialect, bad URL
        raise ConfigError(f"HARVESTER_DATABASE_URL is not usable: {exc}") from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def is_postgres_url(url: str) -> bool:
    try:
        return make_url(url).drivername.split("+")[0] in ("postgresql", "postgres")
    except Exception:  # a bad URL is reported by create_engine
        return False


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # straight to the driver: this runs for every transaction, and going through
        # SQLAlchemy's execution machinery here would cost more than the writes themselves
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.connection.driver_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction that holds the database's write lock from its first statement.

    On SQLite this is `BEGIN IMMEDIATE`: other writers (threads or processes) wait for it. On
    PostgreSQL it is `pg_advisory_xact_lock` as the first statement: writers on every host that
    opens the same database wait for it, and it is released at commit or rollback.
    """
    with engine.connect() as connection:
        if is_postgres(connection):
            with connection.begin():
                pg.take_write_lock(connection)
                yield connection
            return
        locked = connection.execution_options(sqlite_begin="IMMEDIATE")
        with locked.begin():
            yield locked


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read transaction: a consistent snapshot that never blocks the writer (WAL)."""
    with engine.connect() as connection, connection.begin():
        yield connection


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
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(self.sql, params)
        return cursor


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
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise ConfigError(f"cannot open the database: {exc.orig}") from None
    return True


def open_database(url: str) -> Engine:
    """An engine on an up-to-date database: what every command that touches the database uses."""
    engine = create_db_engine(url)
    upgrade(engine)
    return engine
