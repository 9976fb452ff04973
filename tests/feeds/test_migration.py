"""Migration 0011 adds the feeds' tables and its downgrade removes them, on SQLite and
PostgreSQL; the outbox's (feed, key) is unique, which is what tells a row once."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from harvester._store import db
from tests.helpers import migrate_to

TABLES = {"feed_outbox", "feed_state", "feed_targets"}


def migrate(url: str, revision: str, down: bool = False) -> None:
    engine = db.create_db_engine(url)
    try:
        migrate_to(engine, revision, down)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = db.create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.migrations
@pytest.mark.slow
def test_0011_adds_the_feed_tables_and_its_downgrade_removes_them(empty_url: str) -> None:
    migrate(empty_url, "0011")
    assert tables(empty_url) >= TABLES
    engine = db.create_db_engine(empty_url)
    row = "INSERT INTO feed_outbox (feed, key, status, created_at) VALUES ('f', '[1]', 'sent', 'x')"
    with db.write(engine) as conn:
        conn.execute(text(row))
    with pytest.raises(IntegrityError), db.write(engine) as conn:
        conn.execute(text(row))
    engine.dispose()
    migrate(empty_url, "0009", down=True)
    assert not tables(empty_url) & TABLES and "runs" in tables(empty_url)
    migrate(empty_url, "0011")
    assert tables(empty_url) >= TABLES
