"""The write lock on PostgreSQL is taken on the driver's connection, and fails as SQLAlchemy
would: a lock wait that times out is SQLAlchemy's OperationalError (what the service's handling
of a lost or busy database catches), and the connection is usable again after it. So do the
other statements sent straight to the driver (`db.Prepared`, savepoints, the tables' writer),
on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError, OperationalError

from harvester._store import db, pg
from harvester._store.db import open_database


def test_a_write_lock_that_times_out_is_sqlalchemys_error(postgres_url: str) -> None:
    engine = open_database(postgres_url)
    try:
        with db.write(engine):  # holds the write lock until the block ends
            with engine.connect() as other, other.begin():
                other.exec_driver_sql("SET LOCAL lock_timeout = '50ms'")
                with pytest.raises(OperationalError, match="lock timeout"):
                    pg.take_write_lock(other)
        with db.write(engine) as conn:  # the lock and the pool's connections are fine
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_a_driver_statement_fails_as_sqlalchemys_error(backend: str) -> None:
    """A statement the archive sends straight to the driver that the database refuses is
    SQLAlchemy's error of that kind, the driver's behind it; a savepoint around it undoes
    what the block wrote, and the transaction goes on."""
    engine = open_database(backend)
    insert = db.Prepared(
        engine, text("INSERT INTO cursors (job, value, updated_at) VALUES (:job, :value, 'x')")
    )

    def two_cursors_in_a_savepoint(conn: Connection) -> None:
        with db.savepoint(conn):
            insert.execute(conn, {"job": "b", "value": "2"})
            insert.execute(conn, {"job": "a", "value": "3"})  # the key is taken

    try:
        with db.write(engine) as conn:
            insert.execute(conn, {"job": "a", "value": "1"})
            with pytest.raises(IntegrityError) as refused:
                two_cursors_in_a_savepoint(conn)
            assert isinstance(refused.value.orig, engine.dialect.loaded_dbapi.IntegrityError)
            assert not refused.value.connection_invalidated
            rows = conn.execute(text("SELECT job, value FROM cursors ORDER BY job")).all()
            assert [tuple(row) for row in rows] == [("a", "1")]
    finally:
        engine.dispose()
