"""The write lock on PostgreSQL is taken on the driver's connection, and fails as SQLAlchemy
would: a lock wait that times out is SQLAlchemy's OperationalError (what the service's handling
of a lost or busy database catches), and the connection is usable again after it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

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
