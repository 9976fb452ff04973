"""`harvester db upgrade` (a new database created and migrated), and `harvester db copy`: a
SQLite archive moved to PostgreSQL whole (documents, results, runs, cursors, tokens), resumed
after an interruption, verified by counts and hashes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table, text

from harvester._archive import copy as dbcopy
from harvester._archive.archive import Archive
from harvester._config.settings import Settings
from harvester._core.clock import ManualClock, iso_seconds
from harvester._service.runtime import Runtime
from harvester._store import db
from harvester.simulator import Simulator
from tests.helpers import CliResult, db_rows, job

TABLES = ("documents", "runs", "result_parts", "latest", "cursors", "oauth_tokens")


def harvest(runtime: Runtime, sim: Simulator, clock: ManualClock) -> None:
    """A small archive: chunked results, links, a cursor, a stored session."""
    sim.config.chunk_size = 50
    week_ago = iso_seconds(clock.now() - 7 * 86400)
    for spec in (
        job("search", "results/search_series", finish_range_begin=week_ago),
        job("info", "member/info"),
        job("cats", "constants/categories"),
    ):
        assert runtime.runner.run(spec).status == "success"
    with db.write(runtime.engine) as conn:
        conn.execute(
            text(
                "INSERT INTO cursors (job, value, updated_at) "
                "VALUES ('search', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
            )
        )


def counts(url: str) -> dict[str, int]:
    return {name: int(str(db_rows(url, f"SELECT count(*) FROM {name}")[0][0])) for name in TABLES}


@pytest.fixture
def archive(runtime: Runtime, clock: ManualClock, sim: Simulator) -> Runtime:
    harvest(runtime, sim, clock)
    return runtime


def test_copy_moves_everything_and_verifies_it(
    archive: Runtime,
    settings: Settings,
    postgres_url: str,
    run_cli: Callable[..., CliResult],
) -> None:
    source = settings.database_url
    done = run_cli("db", "copy", "--to", postgres_url, env={"HARVESTER_DATABASE_URL": source})
    assert done.code == 0, done.err
    assert "copy verified" in done.out
    assert "MISMATCH" not in done.out
    source_file = source.removeprefix("sqlite:///")
    expected = {
        name: int(str(db_rows(Path(source_file), f"SELECT count(*) FROM {name}")[0][0]))
        for name in TABLES
    }
    assert counts(postgres_url) == expected
    assert all(expected[name] > 0 for name in TABLES)
    bodies = "SELECT sha256, body FROM results ORDER BY id"
    assert db_rows(postgres_url, bodies) == db_rows(Path(source_file), bodies)  # exact text
    # harvester query reads the copy; new runs continue after the copied ids
    query = run_cli(
        "query",
        "SELECT count(*) AS n FROM results",
        "--format",
        "csv",
        env={"HARVESTER_DATABASE_URL": postgres_url},
    )
    assert query.code == 0, query.err
    assert query.out.split() == ["n", str(expected["result_parts"])]
    target = db.open_database(postgres_url)
    try:
        new_run = Archive(target, ManualClock()).open_run("after", "cli")
    finally:
        target.dispose()
    assert new_run == int(str(db_rows(Path(source_file), "SELECT max(id) FROM runs")[0][0])) + 1


def test_an_interrupted_copy_resumes_and_a_damaged_one_is_caught(
    archive: Runtime, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = db.open_database(postgres_url)
    real = dbcopy._copy_table

    def dies_at_latest(source: Engine, into: Engine, table: Table) -> int:
        if table.name == "latest":
            raise KeyboardInterrupt  # the user's Ctrl-C, halfway
        return real(source, into, table)

    try:
        monkeypatch.setattr(dbcopy, "_copy_table", dies_at_latest)
        with pytest.raises(KeyboardInterrupt):
            dbcopy.copy_archive(archive.engine, target)
        monkeypatch.setattr(dbcopy, "_copy_table", real)
        report = dbcopy.copy_archive(archive.engine, target)
        assert report.ok, report.checks
        assert report.copied["runs"] == 0 and report.copied["result_parts"] == 0  # resumed
        assert report.copied["latest"] > 0
        with db.write(target) as conn:  # one byte changed on the target
            conn.execute(
                text(
                    "UPDATE documents SET body = body || ' ' WHERE size = "
                    "(SELECT min(size) FROM documents)"
                )
            )
        damaged = dbcopy.copy_archive(archive.engine, target)
        assert not damaged.ok
        assert damaged.bad_documents >= 1
        assert [c.table for c in damaged.checks if not c.ok] == ["documents"]
    finally:
        target.dispose()


@pytest.mark.migrations
def test_db_upgrade_creates_the_database(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'h.db'}"
    first = run_cli("db", "upgrade", env={"HARVESTER_DATABASE_URL": url})
    assert first.code == 0 and "upgraded" in first.out
    second = run_cli("db", "upgrade", env={"HARVESTER_DATABASE_URL": url})
    assert "up to date" in second.out
