"""What started a run and how long it took (migration 0010), on SQLite and PostgreSQL: runs
recorded before the upgrade keep everything and have no parent nor real duration, new runs
record both, `harvester runs` shows them, and the downgrade gives the old table back."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from harvester._archive.archive import Archive
from harvester._archive.run import Trigger
from harvester._core.clock import ManualClock
from harvester._core.counts import RunCounts
from harvester._observe.reports import RUN_COLUMNS, list_runs
from harvester._store import db
from tests.helpers import migrate_to


def columns(empty_engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(empty_engine).get_columns(table)}


def as_dicts(rows: list[tuple[object, ...]]) -> list[dict[str, object]]:
    return [dict(zip(RUN_COLUMNS, row, strict=True)) for row in rows]


OLD_RUN = (
    "INSERT INTO runs (job, trigger, status, started_at, finished_at, requests, bytes, "
    "documents_new, documents_dup, rows_new, rows_dup) VALUES ('old', 'schedule', 'success', "
    "'2026-01-01T00:00:00Z', '2026-01-01T00:00:42Z', 1, 10, 1, 0, 0, 0)"
)


@pytest.mark.migrations
def test_the_upgrade_keeps_old_runs_and_the_downgrade_gives_the_table_back(
    empty_engine: Engine,
) -> None:
    migrate_to(empty_engine, "0009")
    with db.write(empty_engine) as conn:
        conn.execute(text(OLD_RUN))
    migrate_to(empty_engine, "0010")
    assert {"parent_run_id", "duration_seconds"} <= columns(empty_engine, "runs")
    assert "jobs_text" in columns(empty_engine, "service")
    [old] = as_dicts(list_runs(empty_engine))
    # recorded before: no parent, and its duration from its times (the only measure it has)
    assert old["trigger"] == "schedule" and old["parent_run"] is None and old["duration"] == 42
    archive = Archive(empty_engine, ManualClock())
    parent = archive.open_run("search", Trigger.SCHEDULE)
    archive.finish_run(parent, "success", RunCounts(), None, seconds=0.1234)
    child = archive.open_run("details", Trigger.PARENT, parent_run=parent)
    archive.finish_run(child, "success", RunCounts(), None, seconds=2.5)
    migrate_to(empty_engine, "0009", down=True)
    assert not {"parent_run_id", "duration_seconds"} & columns(empty_engine, "runs")
    assert "jobs_text" not in columns(empty_engine, "service")
    with db.read(empty_engine) as conn:
        kept = conn.execute(text("SELECT job, trigger FROM runs ORDER BY id")).all()
    assert [tuple(r) for r in kept] == [
        ("old", "schedule"),
        ("search", "schedule"),
        ("details", "parent"),
    ]
    migrate_to(empty_engine, "head")


def test_runs_record_their_parent_and_real_duration_and_runs_shows_them(
    empty_engine: Engine,
) -> None:
    db.upgrade(empty_engine)
    clock = ManualClock()
    archive = Archive(empty_engine, clock)
    parent = archive.open_run("search", Trigger.STARTUP)
    clock.advance(3600)  # harvester's clock ran an hour (a scaled one, say) ...
    archive.finish_run(parent, "success", RunCounts(), None, seconds=1.25)  # ... in 1.25 s
    child = archive.open_run("details", Trigger.PARENT, parent_run=parent)
    skipped = archive.record_skipped("details", Trigger.PARENT, "still running", parent)
    newest_first = as_dicts(list_runs(empty_engine))
    assert [(r["id"], r["trigger"], r["parent_run"]) for r in newest_first] == [
        (skipped, "parent", parent),
        (child, "parent", parent),
        (parent, "startup", None),
    ]
    assert newest_first[2]["duration"] == 1.2  # real seconds, not the clock's 3600
    assert newest_first[1]["duration"] is None  # still running
    assert newest_first[0]["duration"] == 0.0  # a skipped run took no time
