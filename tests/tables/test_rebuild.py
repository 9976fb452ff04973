"""`harvester tables rebuild` (real SQLite and PostgreSQL): one at a time, a second one stops
at once naming the holder and leaves the first one's work whole; the new tables are swapped in
by name (no row copied into the live ones), with the live tables' indexes and privileges."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect

from harvester._archive.archive import Archive
from harvester._core.clock import ManualClock
from harvester._core.errors import ConfigError
from harvester._store import db
from harvester._tables import rebuild as rebuild_module
from harvester._tables.rebuild import Progress, rebuild
from harvester._tables.schema import TABLE_NAMES
from harvester._tables.writer import Writer
from tests.tables.test_store import doc, query, snapshot, store

WAIT = 120  # seconds a thread may take at most before the test fails (never slept)


@pytest.fixture
def engine(backend: str) -> Iterator[Engine]:
    engine = db.open_database(backend)
    yield engine
    engine.dispose()


@pytest.fixture
def archive(engine: Engine) -> Archive:
    return Archive(engine, ManualClock())


def fill(archive: Archive, subsessions: int) -> None:
    for i in range(subsessions):
        document = doc("results_get")
        document["subsession_id"] = 81000001 + i
        store(archive, "results/get", document)


def test_a_second_rebuild_stops_at_once_and_the_first_one_finishes_whole(
    archive: Archive, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(archive, 12)
    before = snapshot(engine)
    monkeypatch.setattr(rebuild_module, "PAGE", 2)  # many pages: the second comes mid-way
    monkeypatch.setattr(rebuild_module, "WRITE_BUDGET_SECONDS", 0.0)  # one result a page
    mid_way, go_on = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first_progress(step: Progress) -> None:
        if step.done == 3:
            mid_way.set()
            assert go_on.wait(WAIT)

    def first() -> None:
        try:
            rebuild(engine, progress=first_progress)
        except BaseException as exc:  # the test reports it
            failures.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert mid_way.wait(WAIT)
        with pytest.raises(ConfigError) as refused:
            rebuild(engine)
    finally:
        go_on.set()
        thread.join(WAIT)
    message = str(refused.value)
    assert "another `harvester tables rebuild` is running" in message and "\n" not in message
    assert ("pid" in message) if engine.dialect.name == "sqlite" else ("session" in message)
    assert failures == []
    assert snapshot(engine) == before
    assert query(engine, "SELECT count(*) FROM tables_skipped") == [(0,)]
    rebuild(engine)  # the lock was let go
    assert snapshot(engine) == before


def test_one_result_failing_in_a_group_is_skipped_and_its_group_kept(
    archive: Archive, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild derives results a group at a time under one savepoint: one that fails
    undoes its group, which is derived again one result at a time, so only that one is
    skipped (with its reason) and the others, chunked ones included, are kept."""
    fill(archive, 7)
    bad = store(archive, "results/event_log", doc("event_log_header"), doc("event_log_chunk"))
    # after the bad one, in the same group: a chunked result
    store(
        archive,
        "results/lap_data",
        doc("lap_data_header"),
        doc("lap_data_chunk"),
        subsession_id="81000001",
        simsession_number="0",
        cust_id="1001",
    )
    fill(archive, 3)
    before = snapshot(engine)
    assert before["laps"] and before["event_log"]
    monkeypatch.setattr(rebuild_module, "GROUP", 5)
    write = Writer.write

    def refuse_one(self: Writer, conn: Any, derivation: Any, written: Any = None) -> None:
        if derivation.result_id == bad:
            raise RuntimeError("this value was refused")
        write(self, conn, derivation, written)

    monkeypatch.setattr(Writer, "write", refuse_one)
    report = rebuild(engine)
    after = snapshot(engine)
    assert after["event_log"] == [] and before["event_log"] != []
    assert {t: rows for t, rows in after.items() if t != "event_log"} == {
        t: rows for t, rows in before.items() if t != "event_log"
    }
    assert report.results == 12
    assert query(engine, "SELECT result_id, reason FROM tables_skipped") == [
        (bad, "this value was refused")
    ]
    monkeypatch.setattr(Writer, "write", write)
    rebuild(engine)  # fixed: it is derived again, and no longer skipped
    assert snapshot(engine) == before
    assert query(engine, "SELECT count(*) FROM tables_skipped") == [(0,)]


def test_a_rebuild_swaps_the_tables_in_and_copies_no_row(archive: Archive, engine: Engine) -> None:
    fill(archive, 3)
    before = snapshot(engine)
    indexes = {
        t: sorted(str(i["name"]) for i in inspect(engine).get_indexes(t)) for t in TABLE_NAMES
    }
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        rebuild(engine)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    copies = [
        s
        for s in statements
        for t in TABLE_NAMES
        if s.startswith((f"INSERT INTO {t} ", f"DELETE FROM {t}"))
    ]
    assert copies == []
    assert snapshot(engine) == before
    inspector = inspect(engine)
    assert not [t for t in inspector.get_table_names() if t.endswith("__rebuild")]
    assert {
        t: sorted(str(i["name"]) for i in inspector.get_indexes(t)) for t in TABLE_NAMES
    } == indexes
    if engine.dialect.name == "postgresql":
        key = inspector.get_pk_constraint("subsessions")["name"]
        assert key == "subsessions_pkey"
    rebuild(engine)  # and again: the names it left are the names it starts from
    assert snapshot(engine) == before


def test_privileges_granted_on_a_table_survive_a_rebuild(postgres_url: str) -> None:
    engine = db.open_database(postgres_url)
    role = f"reader_{uuid.uuid4().hex[:8]}"
    try:
        with db.write(engine) as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role}")
            conn.exec_driver_sql(f"GRANT SELECT ON subsessions TO {role}")
        rebuild(engine, ["subsessions"])
        with db.read(engine) as conn:
            granted = conn.exec_driver_sql(
                "SELECT privilege_type FROM information_schema.role_table_grants "
                f"WHERE table_name = 'subsessions' AND grantee = '{role}'"
            ).all()
        assert granted == [("SELECT",)]
    finally:
        with db.write(engine) as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        engine.dispose()
