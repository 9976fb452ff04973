"""What started a run and how long it took (migration 0010), on SQLite and PostgreSQL: runs
recorded before the upgrade keep everything and have no parent nor real duration, new runs
record both, `harvester runs` shows them, and the downgrade gives the old table back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from harvester._archive.archive import Archive
from harvester._archive.run import Trigger
from harvester._core.clock import ManualClock
from harvester._core.counts import RunCounts
from harvester._observe.reports import RUN_COLUMNS, list_runs
from harvester._store import db
from tests.helpers import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables yet, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'harvester.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database(migrated=False)


@pytest.fixture
def engine(empty_url: str) -> Iterator[Engine]:
    engine = db.create_db_engine(empty_url)
    yield engine
    engine.dispose()


def migrate(engine: Engine, revision: str, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(db.migrations_path()))
    with db.write(engine) as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def as_dicts(rows: list[tuple[object, ...]]) -> list[dict[str, object]]:
    return [dict(zip(RUN_COLUMNS, row, strict=True)) for row in rows]


OLD_RUN = (
    "INSERT INTO runs (job, trigger, status, started_at, finished_at, requests, bytes, "
    "documents_new, documents_dup, rows_new, rows_dup) VALUES ('old', 'schedule', 'success', "
    "'2026-01-01T00:00:00Z', '2026-01-01T00:00:42Z', 1, 10, 1, 0, 0, 0)"
)


@pytest.mark.migrations
def test_the_upgrade_keeps_old_runs_and_the_downgrade_gives_the_table_back(
    engine: Engine,
) -> None:
    migrate(engine, "0009")
    with db.write(engine) as conn:
        conn.execute(text(OLD_RUN))
    migrate(engine, "0010")
    assert {"parent_run_id", "duration_seconds"} <= columns(engine, "runs")
    assert "jobs_text" in columns(engine, "service")
    [old] = as_dicts(list_runs(engine))
    # recorded before: no parent, and its duration from its times (the only measure it has)
    assert old["trigger"] == "schedule" and old["parent_run"] is None and old["duration"] == 42
    archive = Archive(engine, ManualClock())
    parent = archive.open_run("search", Trigger.SCHEDULE)
    archive.finish_run(parent, "success", RunCounts(), None, seconds=0.1234)
    child = archive.open_run("details", Trigger.PARENT, parent_run=parent)
    archive.finish_run(child, "success", RunCounts(), None, seconds=2.5)
    migrate(engine, "0009", down=True)
    assert not {"parent_run_id", "duration_seconds"} & columns(engine, "runs")
    assert "jobs_text" not in columns(engine, "service")
    with db.read(engine) as conn:
        kept = conn.execute(text("SELECT job, trigger FROM runs ORDER BY id")).all()
    assert [tuple(r) for r in kept] == [
        ("old", "schedule"),
        ("search", "schedule"),
        ("details", "parent"),
    ]
    migrate(engine, "head")


def test_runs_record_their_parent_and_real_duration_and_runs_shows_them(engine: Engine) -> None:
    db.upgrade(engine)
    clock = ManualClock()
    archive = Archive(engine, clock)
    parent = archive.open_run("search", Trigger.STARTUP)
    clock.advance(3600)  # harvester's clock ran an hour (a scaled one, say) ...
    archive.finish_run(parent, "success", RunCounts(), None, seconds=1.25)  # ... in 1.25 s
    child = archive.open_run("details", Trigger.PARENT, parent_run=parent)
    skipped = archive.record_skipped("details", Trigger.PARENT, "still running", parent)
    newest_first = as_dicts(list_runs(engine))
    assert [(r["id"], r["trigger"], r["parent_run"]) for r in newest_first] == [
        (skipped, "parent", parent),
        (child, "parent", parent),
        (parent, "startup", None),
    ]
    assert newest_first[2]["duration"] == 1.2  # real seconds, not the clock's 3600
    assert newest_first[1]["duration"] is None  # still running
    assert newest_first[0]["duration"] == 0.0  # a skipped run took no time
