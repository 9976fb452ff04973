"""The tables as results are stored (real SQLite, the real archive): each entity once, the
newest document wins, a fetch again replaces, a partial source never overwrites a fuller one,
drift never fails, and the tables always equal a rebuild."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from harvester._archive.archive import Archive, content_hash
from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock
from harvester._core.shapes import Part
from harvester._store import db
from harvester._tables.rebuild import rebuild
from harvester._tables.schema import TABLE_NAMES
from harvester._tables.summary import skipped, summaries
from tests.helpers import DATA

TABLES_DATA = DATA / "tables"


def doc(name: str) -> Any:
    return json.loads((TABLES_DATA / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def engine(backend: str) -> Iterator[Engine]:
    """The derived tables on both backends: SQLite and PostgreSQL."""
    engine = db.open_database(backend)
    yield engine
    engine.dispose()


@pytest.fixture
def archive(engine: Engine) -> Archive:
    return Archive(engine, ManualClock())


def store(archive: Archive, endpoint: str, header: Any, *chunks: Any, **params: str) -> int:
    run_id = archive.open_run("test", "cli")
    parts = [Part(0, json.dumps(header), "application/json")]
    parts += [
        Part(i, json.dumps(c), "application/json", rows=len(c)) for i, c in enumerate(chunks, 1)
    ]
    run = RunContext(JobSpec("test", endpoint), run_id, CancelToken(archive.clock))
    stored = archive.store_result(run, params, iter(parts))
    archive.finish_run(run_id, "success", run.counts, None)
    assert isinstance(archive.clock, ManualClock)
    archive.clock.advance(60)
    return stored.result_id


def query(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with db.read(engine) as conn:
        return [tuple(r) for r in conn.execute(text(sql)).all()]


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {name: query(engine, f"SELECT * FROM {name} ORDER BY 1, 2, 3") for name in TABLE_NAMES}


def assert_equal_to_rebuild(engine: Engine) -> None:
    before = snapshot(engine)
    rebuild(engine)
    assert snapshot(engine) == before


def test_a_subsession_polled_three_times_is_there_once(archive: Archive, engine: Engine) -> None:
    for _ in range(3):
        store(archive, "results/get", doc("results_get"), subsession_id="81000001")
    assert query(engine, "SELECT count(*) FROM subsessions") == [(1,)]
    assert query(engine, "SELECT count(*) FROM session_results") == [(6,)]
    assert query(engine, "SELECT count(*) FROM members") == [(3,)]
    assert_equal_to_rebuild(engine)


def test_a_subsession_fetched_again_replaces_its_rows(archive: Archive, engine: Engine) -> None:
    store(archive, "results/get", doc("results_get"))
    corrected = doc("results_get")
    race = corrected["session_results"][1]["results"]
    race[2]["incidents"] = 12
    del race[1]  # a driver disqualified and removed
    newest = store(archive, "results/get", corrected)
    rows = query(
        engine,
        "SELECT cust_id, incidents, result_id FROM session_results "
        "WHERE simsession_number = 0 ORDER BY cust_id",
    )
    assert rows == [(1001, 2, newest), (1003, 12, newest)]
    assert_equal_to_rebuild(engine)


def test_a_partial_source_never_overwrites_a_fuller_one(archive: Archive, engine: Engine) -> None:
    store(archive, "results/get", doc("results_get"))
    store(
        archive,
        "results/search_series",
        doc("search_series_header"),
        doc("search_series_chunk"),
    )
    rows = query(
        engine,
        "SELECT subsession_id, num_drivers, complete, source FROM subsessions ORDER BY 1",
    )
    assert rows == [
        (81000001, 3, 1, "results/get"),  # the search row (num_drivers 99) came later: no
        (81000003, 3, 0, "results/search_series"),
    ]
    assert_equal_to_rebuild(engine)


def test_the_fuller_source_replaces_a_partial_one(archive: Archive, engine: Engine) -> None:
    store(archive, "results/search_series", doc("search_series_header"), doc("search_series_chunk"))
    store(archive, "results/get", doc("results_get"))
    assert query(
        engine, "SELECT num_drivers, complete FROM subsessions WHERE subsession_id = 81000001"
    ) == [(3, 1)]


def test_members_take_the_fullest_source_and_their_latest_sighting(
    archive: Archive, engine: Engine
) -> None:
    store(archive, "member/get", doc("member_get"))
    store(archive, "results/get", doc("results_get"))  # newer, but only a mention
    store(archive, "lookup/drivers", doc("lookup_drivers"))
    rows = query(
        engine, "SELECT cust_id, display_name, last_seen, source FROM members ORDER BY cust_id"
    )
    assert rows == [
        (1001, "Ada (lookup)", "2026-11-24T19:00:00Z", "lookup/drivers"),
        (1002, "Ben Racer", "2026-11-29T10:00:00Z", "member/get"),
        (1003, "Cy Slow-Renamed", "2026-11-24T19:00:00Z", "member/get"),  # raced after login
        (1004, "Di Partner", None, "lookup/drivers"),
    ]
    store(archive, "member/info", doc("member_info"))
    assert query(engine, "SELECT display_name, last_seen FROM members WHERE cust_id = 1001") == [
        ("Ada Driver", "2026-11-30T08:15:00.123Z")
    ]
    assert_equal_to_rebuild(engine)


def test_reference_tables_from_their_endpoints_and_from_results(
    archive: Archive, engine: Engine
) -> None:
    store(archive, "results/get", doc("results_get"))
    assert query(engine, "SELECT car_name, source_rank FROM cars") == [("Porsche 911 GT3 R", 0)]
    store(archive, "car/get", doc("car_get"))
    store(archive, "track/get", doc("track_get"))
    store(archive, "series/get", doc("series_get"))
    store(archive, "season/list", doc("season_list"))
    store(archive, "series/seasons", doc("series_seasons"))
    store(archive, "results/get", doc("results_get"))  # again: mentions never win now
    assert query(engine, "SELECT car_name, hp FROM cars") == [("Porsche 911 GT3 R (992)", 565)]
    assert query(engine, "SELECT track_config_length FROM tracks") == [(3.66,)]
    assert query(engine, "SELECT series_name FROM series") == [("GT Sprint Series",)]
    assert query(engine, "SELECT season_id, season_name, source FROM seasons ORDER BY 1") == [
        (5901, "GT Sprint - 2026 Season 4", "series/seasons"),
        (5999, "Rookie Mazda - 2026 Season 4", "season/list"),
    ]
    assert_equal_to_rebuild(engine)


def test_laps_events_and_charts(archive: Archive, engine: Engine) -> None:
    store(
        archive,
        "results/lap_data",
        doc("lap_data_header"),
        doc("lap_data_chunk"),
        subsession_id="81000001",
        simsession_number="0",
        cust_id="1001",
    )
    store(archive, "results/event_log", doc("event_log_header"), doc("event_log_chunk"))
    store(archive, "member/chart_data", doc("chart_data"))
    store(archive, "member/chart_data", doc("chart_data"))
    incidents = "SELECT count(*), sum(CASE WHEN incident THEN 1 ELSE 0 END) FROM laps"
    assert query(engine, incidents) == [(3, 1)]
    assert query(engine, "SELECT count(*) FROM event_log") == [(2,)]
    assert query(engine, "SELECT count(*), max(value) FROM member_charts") == [(3, 1852.0)]
    shorter = doc("lap_data_chunk")[:2]
    store(archive, "results/lap_data", doc("lap_data_header"), shorter)
    assert query(engine, "SELECT count(*) FROM laps") == [(2,)]  # replaced, not added to
    assert_equal_to_rebuild(engine)


def test_a_document_that_cannot_be_derived_is_skipped_and_the_harvest_succeeds(
    archive: Archive, engine: Engine, log_stream: Any
) -> None:
    bad = store(archive, "results/get", {"error": "something else entirely"})
    good = store(archive, "results/get", doc("results_get"))
    assert query(engine, "SELECT count(*) FROM results WHERE part = 0") == [(2,)]
    assert query(engine, "SELECT count(*) FROM session_results") == [(6,)]
    ((result_id, endpoint, reason, _),) = skipped(engine)
    assert (result_id, endpoint) == (bad, "results/get")
    assert reason == "results/get: the document has no subsession_id"
    events = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    (event,) = [e for e in events if e["event"] == "tables.skipped"]
    assert event["result_id"] == bad and event["reason"] == reason
    assert good > bad
    assert_equal_to_rebuild(engine)
    assert [s[0] for s in skipped(engine)] == [bad]


def test_a_key_no_column_holds_drops_the_rows_it_keys_and_is_named(
    archive: Archive, engine: Engine
) -> None:
    document = doc("results_get")
    document["subsession_id"] = 2**70  # no integer column holds it
    store(archive, "results/get", document)
    store(archive, "track/get", doc("track_get"))
    assert query(engine, "SELECT count(*) FROM subsessions") == [(0,)]
    assert query(engine, "SELECT count(*) FROM session_results") == [(0,)]
    assert query(engine, "SELECT count(*) FROM tracks") == [(1,)]
    ((_, _, reason, _),) = skipped(engine)
    assert "subsessions.subsession_id: 1 value(s) NULL (an integer past 64 bits)" in reason


def test_endpoints_without_a_mapping_are_not_touched(archive: Archive, engine: Engine) -> None:
    store(archive, "constants/categories", [{"label": "Oval", "value": 1}])
    assert all(s.rows == 0 for s in summaries(engine)) and skipped(engine) == []


def test_rebuild_of_some_tables_only(archive: Archive, engine: Engine) -> None:
    store(archive, "results/get", doc("results_get"))
    with db.write(engine) as conn:
        conn.execute(text("DELETE FROM members"))
        conn.execute(text("UPDATE subsessions SET num_drivers = 0"))
    report = rebuild(engine, ["members"])
    assert report.tables == ("members",) and report.rows == {"members": 3}
    assert query(engine, "SELECT num_drivers FROM subsessions") == [(0,)]  # not asked for
    rebuild(engine)
    assert query(engine, "SELECT num_drivers FROM subsessions") == [(3,)]


def test_rebuild_refuses_an_unknown_table(engine: Engine) -> None:
    from harvester._core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown table 'drivers'; the tables are: subsessions"):
        rebuild(engine, ["drivers"])


def test_latest_result_rows_has_only_each_jobs_newest_result(
    archive: Archive, engine: Engine
) -> None:
    header = doc("search_series_header")
    chunk = doc("search_series_chunk")
    store(archive, "results/search_series", header, chunk)
    store(archive, "results/search_series", header, chunk[:1])
    assert query(engine, "SELECT count(*) FROM result_rows") == [(3,)]
    rows = query(
        engine,
        "SELECT row, row_index FROM latest_result_rows",
    )
    assert [(json.loads(r) if isinstance(r, str) else r, i) for r, i in rows] == [(chunk[0], 0)]


def test_the_migration_fills_the_tables_of_an_existing_archive(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    engine = db.create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(db.migrations_path()))
    with db.write(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")  # an archive from before the tables
    with db.write(engine) as conn:  # what that version's archive stored, as it stored it
        conn.execute(
            text(
                "INSERT INTO runs (id, job, trigger, status, started_at) "
                "VALUES (1, 'details', 'cli', 'success', '2026-11-24T20:00:00Z')"
            )
        )
        for part_id, name in enumerate(("results_get", "results_get_team"), start=1):
            body = json.dumps(doc(name))
            digest = content_hash(body)
            conn.execute(
                text("INSERT INTO documents VALUES (:d, :b, :n, 'application/json', :at)"),
                {"d": digest, "b": body, "n": len(body), "at": "2026-11-24T20:00:00Z"},
            )
            conn.execute(
                text(
                    "INSERT INTO result_parts (id, result_id, run_id, job, endpoint, params, "
                    "fetched_at, part, sha256) VALUES (:id, :id, 1, 'details', 'results/get', "
                    "'{}', '2026-11-24T20:00:00Z', 0, :d)"
                ),
                {"id": part_id, "d": digest},
            )
    assert db.upgrade(engine)
    assert query(engine, "SELECT count(*) FROM subsessions") == [(2,)]
    assert query(engine, "SELECT count(*) FROM session_results") == [(10,)]
    assert_equal_to_rebuild(engine)
    engine.dispose()


def test_the_statements_and_tables_compile_for_postgresql() -> None:
    """Portable: the same Core definitions and upserts compile for PostgreSQL (run there by the
    PostgreSQL backend's own tests)."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    from harvester._tables.keeper import TableKeeper
    from harvester._tables.schema import TABLES

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    keeper = TableKeeper(dialect)
    sql = {name: s.write.sql for name, s in keeper.writer._sql.items()}
    assert "ON CONFLICT (subsession_id) DO UPDATE" in sql["subsessions"]
    assert "WHERE subsessions.source_rank < excluded.source_rank" in sql["subsessions"]
    assert "CASE WHEN" in sql["members"] and "%(cust_id)s" in sql["members"]
    ddl = str(CreateTable(TABLES["session_results"]).compile(dialect=dialect))
    assert "subsession_id BIGINT NOT NULL" in ddl and "ai BOOLEAN" in ddl


def test_a_large_result_is_derived_before_the_write_lock(
    archive: Archive, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other jobs' stores wait only for a large result's writes: its rows are made (parsed,
    mapped, coerced) before the storing transaction takes the write lock; a small one's in it."""
    from contextlib import contextmanager

    from harvester._archive import archive as archive_module
    from harvester._tables import keeper as keeper_module
    from harvester._tables.derive import Derivation

    locked = [False]
    made = {"in the lock": 0, "before it": 0}
    write = db.write

    @contextmanager
    def counted_write(engine: Engine) -> Iterator[Any]:
        with write(engine) as conn:
            locked[0] = True
            try:
                yield conn
            finally:
                locked[0] = False

    class Counted(Derivation):
        def __iter__(self) -> Iterator[Any]:
            for batch in super().__iter__():
                made["in the lock" if locked[0] else "before it"] += len(batch.rows)
                yield batch

    monkeypatch.setattr(db, "write", counted_write)
    monkeypatch.setattr(keeper_module, "Derivation", Counted)
    large = len(json.dumps(doc("results_get")))
    monkeypatch.setattr(archive_module, "PREPARE_BYTES", large, raising=False)
    store(archive, "track/get", [{"track_id": 1, "track_name": "Small"}])  # derived in the lock
    assert made == {"in the lock": 1, "before it": 0}
    store(archive, "results/get", doc("results_get"))
    assert made["in the lock"] == 1 and made["before it"] > 6
    assert query(engine, "SELECT count(*) FROM session_results") == [(6,)]
    assert query(engine, "SELECT count(*) FROM members") == [(3,)]
    assert_equal_to_rebuild(engine)
