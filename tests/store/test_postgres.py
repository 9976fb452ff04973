"""PostgreSQL as the archive: migrations, the write lock across connections, the active lock,
runs of other hosts, and `harvester query` read-only with a timeout."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from harvester._archive.archive import HOST, Archive
from harvester._core.clock import ManualClock
from harvester._core.errors import ConfigError, LostActiveLock, ReadOnlyViolation
from harvester._store import db, pg
from harvester._store.lease import LeaseLock
from harvester._store.query import run_query
from tests.helpers import PostgresServer, db_rows, wait_for


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = db.open_database(postgres_url)
    yield engine
    engine.dispose()


@pytest.mark.slow
def test_the_migrations_build_every_table_and_view_and_go_back_down(
    postgres_server: PostgresServer,
) -> None:
    from alembic import command
    from alembic.config import Config

    url = postgres_server.new_database(migrated=False)
    engine = db.open_database(url)
    names = {
        row[0]
        for row in db_rows(
            url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    assert {"runs", "documents", "result_parts", "results", "latest_results"} <= names
    assert {"result_rows", "latest_result_rows", "subsessions", "oauth_tokens"} <= names
    assert db_rows(
        url,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'documents' AND column_name = 'body'",
    ) == [("text",)]
    config = Config()
    config.set_main_option("script_location", str(db.migrations_path()))
    with db.write(engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert db_rows(
        url, "SELECT count(*) FROM information_schema.views WHERE table_schema = 'public'"
    ) == [(0,)]
    assert db.upgrade(engine)
    engine.dispose()


def test_a_missing_driver_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigError, match=r"pip install 'harvester\[postgres\]'"):
        db.create_db_engine("postgresql://someone@127.0.0.1/archive")


def test_writers_queue_on_the_write_lock_across_connections(engine: Engine) -> None:
    """As BEGIN IMMEDIATE on SQLite: a second writer waits for the first one's commit."""
    holding = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with db.write(engine) as conn:
            conn.execute(text("INSERT INTO auth_state (id) VALUES (7)"))
            holding.set()
            release.wait(30)
            order.append("first commits")

    def second() -> None:
        holding.wait(30)
        with db.write(engine) as conn:
            order.append("second writes")
            conn.execute(text("UPDATE auth_state SET block_reason = 'x' WHERE id = 7"))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    waiting = "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    wait_for(lambda: bool(db_rows(str(engine.url.set(drivername="postgresql")), waiting)))
    release.set()
    for thread in threads:
        thread.join(30)
    assert order == ["first commits", "second writes"]


def test_one_lease_per_database_free_once_its_connection_is_gone(postgres_url: str) -> None:
    """Two engines (two services): one lease; the holder's lease connection closing (as a
    killed process's) frees it at once, without waiting for it to lapse."""
    first, second = db.open_database(postgres_url), db.create_db_engine(postgres_url)
    active, standby = LeaseLock(first, ttl=60), LeaseLock(second, ttl=60)
    try:
        assert active.holder() is None
        assert active.try_acquire() and active.still_held()
        assert not standby.try_acquire()
        assert active.holder() == os.getpid()  # status sees who holds it
        active._connection.close()  # as a killed process's connection
        name = pg.application_names(active.name)[1]
        gone = f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{name}'"
        wait_for(lambda: db_rows(postgres_url, gone) == [(0,)])
        assert standby.try_acquire()
        with pytest.raises(LostActiveLock), db.write(first) as conn:  # fenced at once
            conn.execute(text("INSERT INTO auth_state (id) VALUES (9)"))
        standby.release()
        assert standby.holder() is None
    finally:
        active.release()
        standby.release()
        first.dispose()
        second.dispose()


def test_the_active_service_takes_over_the_scheduled_runs_of_other_processes(
    engine: Engine,
) -> None:
    """Only the lease's holder runs scheduled runs: one left `running` by another process is a
    replaced active service's (dead, or alive but fenced: frozen, cut off), on any host. A
    manual run is left to its own host to judge."""
    archive = Archive(engine, ManualClock())
    with db.write(engine) as conn:
        for trigger, host in (("schedule", "elsewhere"), ("cli", "elsewhere"), ("cli", HOST)):
            conn.execute(
                text(
                    "INSERT INTO runs (job, trigger, status, started_at, pid, host) "
                    "VALUES ('j', :t, 'running', '2026-01-01T00:00:00Z', 1, :h)"
                ),
                {"t": trigger, "h": host},
            )
    with db.write(engine) as conn:  # a living process of this host (pid 1), not ours
        conn.execute(
            text(
                "INSERT INTO runs (job, trigger, status, started_at, pid, host) "
                "VALUES ('j', 'schedule', 'running', '2026-01-01T00:00:00Z', 1, :h)"
            ),
            {"h": HOST},
        )
    assert archive.mark_interrupted() == 0  # not ours to judge
    assert archive.mark_interrupted(active_service=True) == 2
    url = str(engine.url.set(drivername="postgresql"))
    rows = dict(db_rows(url, "SELECT trigger || ':' || host, status FROM runs"))
    assert rows == {
        "schedule:elsewhere": "interrupted",  # the dead active one's
        "cli:elsewhere": "running",  # a `harvester run` on its own host, maybe still going
        f"cli:{HOST}": "running",  # a living `harvester run` here (pid 1)
        f"schedule:{HOST}": "interrupted",  # a replaced active one's, fenced for good
    }


def test_query_reads_and_streams(postgres_url: str, engine: Engine) -> None:
    columns, rows = run_query(postgres_url, "SELECT g AS n FROM generate_series(1, 100000) g", 5)
    assert columns == ["n"] and rows == [(1,), (2,), (3,), (4,), (5,)]
    columns, rows = run_query(postgres_url, "SELECT count(*) AS c FROM runs WHERE job = 'x'")
    assert rows == [(0,)]


def test_query_gives_json_values_as_their_text_as_sqlite_does(postgres_url: str) -> None:
    """A row of result_rows is JSON text on both backends (not a Python dict, which CSV output
    would print as a repr), and the driver does not parse what it only passes on."""
    sql = """SELECT '{"a": [1, "x"]}'::json AS j, '{"b":2}'::jsonb AS k, 'null'::json AS n"""
    _, rows = run_query(postgres_url, sql)
    assert rows == [('{"a": [1, "x"]}', '{"b": 2}', "null")]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM runs",
        "WITH gone AS (DELETE FROM runs RETURNING id) SELECT * FROM gone",
        "SELECT 1; DELETE FROM runs",
        "SELECT 1; COMMIT; DROP TABLE runs",
        "COPY (SELECT 1) TO PROGRAM 'true'",
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT set_config('transaction_read_only', 'off', true)",
        "EXPLAIN ANALYZE DELETE FROM runs",
        "SET TRANSACTION READ WRITE",
        "CREATE TABLE x (a int)",
        "SELECT nextval('runs_id_seq')",
    ],
)
def test_query_refuses_to_change_anything(postgres_url: str, engine: Engine, sql: str) -> None:
    with pytest.raises(ReadOnlyViolation, match="read-only"):
        run_query(postgres_url, sql)
    assert db_rows(
        postgres_url, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'"
    ) == [(1,)]


def test_query_stops_at_its_timeout_and_reports_sql_errors(
    postgres_url: str, engine: Engine
) -> None:
    with pytest.raises(ConfigError, match=r"longer than 0.2 s"):
        run_query(postgres_url, "SELECT pg_sleep(5)", timeout=0.2)
    with pytest.raises(ConfigError, match=r"SQL error: .*nope"):
        run_query(postgres_url, "SELECT * FROM nope")
