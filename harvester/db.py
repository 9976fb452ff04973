"""The database: an engine with SQLite set up for a long-running service, and its migrations.

SQLite runs in WAL mode (readers never wait for the writer), with a busy timeout (writers queue
instead of failing) and foreign keys on. The driver's own transaction handling is turned off so
harvester says when a transaction begins: `write()` takes the write lock up front with
`BEGIN IMMEDIATE`, which is what makes the OAuth refresh single-flight across processes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Executable, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from .errors import ConfigError

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


def create_db_engine(url: str) -> Engine:
    """An engine with harvester's connection settings; for SQLite the file's folder is created."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, future=True)
    except Exception as exc:  # unknown dialect, bad URL
        raise ConfigError(f"HARVESTER_DATABASE_URL is not usable: {exc}") from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


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

    On SQLite this is `BEGIN IMMEDIATE`: other writers (threads or processes) wait for it.
    """
    with engine.connect() as connection:
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
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert: Any = (
        postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    )
    statement = dialect_insert(model).values({**key, **(on_insert or {}), **values})
    connection.execute(
        statement.on_conflict_do_update(index_elements=list(key), set_=dict(values), where=only_if)
    )


def upgrade(engine: Engine) -> bool:
    """Apply pending Alembic migrations; return True if any ran.

    Cheap when the database is current (one SELECT). Otherwise the migrations run inside one
    write transaction, so two processes starting together cannot both migrate.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    head = ScriptDirectory.from_config(config).get_current_head()
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
