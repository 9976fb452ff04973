"""A chunked result is stored in one transaction, its chunks with its part 0 (a transaction per
chunk cost a commit, a write lock and on PostgreSQL several round trips each); chunks beyond
what is held go ahead in transactions of their own, and a fetch that fails midway leaves no
result behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import DataError

from harvester._archive import archive as archive_module
from harvester._archive import result_rows
from harvester._archive.archive import Archive
from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock
from harvester._core.shapes import Part
from harvester._store.db import open_database
from tests.helpers import db_rows

JOB = JobSpec(name="chunked", endpoint="results/search_series")


def parts(chunks: int, fail_after: int | None = None) -> Iterator[Part]:
    yield Part(0, json.dumps({"chunk_info": {"num_chunks": chunks}}), "application/json")
    for k in range(1, chunks + 1):
        if fail_after is not None and k > fail_after:
            raise RuntimeError("the link expired")
        yield Part(k, json.dumps([{"row": k}]), "application/json", f"https://s3.example/{k}.json")


def commits(engine: Engine) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def archive_at(path: Path) -> tuple[Archive, RunContext]:
    engine = open_database(f"sqlite:///{path}")
    archive = Archive(engine, ManualClock())
    archive.tables = None
    run_id = archive.open_run(JOB.name, "cli")
    return archive, RunContext(JOB, run_id, CancelToken(archive.clock))


def test_a_result_and_its_chunks_commit_once(tmp_path: Path) -> None:
    archive, run = archive_at(tmp_path / "h.db")
    seen = commits(archive.engine)
    stored = archive.store_result(run, {}, parts(3))
    assert len(seen) == 1
    assert len(stored.parts) == 4
    assert run.counts.documents_new == 4 and run.counts.results == 1
    assert db_rows(tmp_path / "h.db", "SELECT count(*) FROM documents") == [(4,)]
    archive.store_result(run, {}, parts(3))  # the same again: duplicates, one commit
    assert len(seen) == 2 and run.counts.documents_dup == 4
    archive.engine.dispose()


def test_a_result_whose_transaction_rolls_back_is_not_counted(tmp_path: Path) -> None:
    """A run's counts say what was stored: the documents of a result whose transaction rolled
    back (here the run's row could not be closed in it) were not, so they do not count."""
    archive, run = archive_at(tmp_path / "h.db")
    archive.store_result(run, {"n": 0}, parts(2))
    counted = (run.counts.documents_new, run.counts.documents_dup, run.counts.results)
    assert counted == (3, 0, 1)

    def refused(_: object) -> None:
        raise RuntimeError("the run's row could not be closed")

    with pytest.raises(RuntimeError, match="could not be closed"):
        archive.store_result(run, {"n": 1}, parts(3), refused)
    assert (run.counts.documents_new, run.counts.documents_dup, run.counts.results) == counted
    assert db_rows(tmp_path / "h.db", "SELECT count(*) FROM documents") == [(3,)]
    archive.store_result(run, {"n": 1}, parts(3))  # stored after all: counted once
    assert (run.counts.documents_new, run.counts.documents_dup, run.counts.results) == (5, 2, 2)


def test_chunks_beyond_what_is_held_go_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "CHUNKS_HELD", 20)  # about two chunks' characters
    archive, run = archive_at(tmp_path / "h.db")
    seen = commits(archive.engine)
    archive.store_result(run, {}, parts(5))
    assert len(seen) == 3  # chunks 1-2, chunks 3-4, then chunk 5 with the result
    assert run.counts.documents_new == 6
    rows = db_rows(tmp_path / "h.db", "SELECT part FROM result_parts ORDER BY part")
    assert rows == [(k,) for k in range(6)]
    archive.engine.dispose()


def test_a_fetch_that_fails_midway_stores_nothing_it_held(tmp_path: Path) -> None:
    archive, run = archive_at(tmp_path / "h.db")
    with pytest.raises(RuntimeError, match="expired"):
        archive.store_result(run, {}, parts(3, fail_after=2))
    assert db_rows(tmp_path / "h.db", "SELECT count(*) FROM documents") == [(0,)]
    assert db_rows(tmp_path / "h.db", "SELECT count(*) FROM result_parts") == [(0,)]
    archive.engine.dispose()


def test_a_results_rows_go_in_batches_counted_and_pointing_at_part_0(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documents and chunk rows go in a multi-row statement at a time (three rows here, so a
    result of 7 parts takes several): each document counted once as new, a repeat as unchanged;
    part 0 points at itself and every chunk at part 0, on both databases."""
    monkeypatch.setattr(result_rows, "ROWS_PER_STATEMENT", 3)
    engine = open_database(backend)
    archive = Archive(engine, ManualClock())
    archive.tables = None
    run = RunContext(JOB, archive.open_run(JOB.name, "cli"), CancelToken(archive.clock))
    bodies = [json.dumps([{"row": k % 4}]) for k in range(1, 7)]  # chunks 5, 6 repeat 1, 2
    result = [Part(0, json.dumps({"chunk_info": {"num_chunks": 6}}), "application/json")]
    result += [Part(k, body, "application/json") for k, body in enumerate(bodies, 1)]
    database = backend if backend.startswith("postgresql") else backend.removeprefix("sqlite:///")
    first = archive.store_result(run, {"n": 1}, iter(result))
    assert (run.counts.documents_new, run.counts.documents_dup) == (5, 2)
    again = archive.store_result(run, {"n": 2}, iter(result))
    assert (run.counts.documents_new, run.counts.documents_dup) == (5, 9)
    for stored in (first, again):
        rows = db_rows(
            database,
            f"SELECT id, part, result_id FROM result_parts WHERE result_id = {stored.result_id} "
            "ORDER BY id",
        )
        assert [part for _, part, _ in rows] == list(range(7))
        assert rows[0][0] == stored.result_id and {r for *_, r in rows} == {stored.result_id}
    assert first.result_id < again.result_id
    engine.dispose()


def test_the_same_content_twice_in_one_statement_is_new_once(backend: str) -> None:
    engine = open_database(backend)
    archive = Archive(engine, ManualClock())
    archive.tables = None
    run = RunContext(JOB, archive.open_run(JOB.name, "cli"), CancelToken(archive.clock))
    same = json.dumps([{"row": 1}])
    result = [Part(0, json.dumps({"chunk_info": {"num_chunks": 3}}), "application/json")]
    result += [Part(k, same, "application/json") for k in (1, 2, 3)]
    stored = archive.store_result(run, {}, iter(result))
    assert (run.counts.documents_new, run.counts.documents_dup) == (2, 2)
    assert len(stored.parts) == 4 and len(set(stored.parts)) == 2
    engine.dispose()


def test_a_value_too_long_for_its_column_is_refused_not_cut(postgres_url: str) -> None:
    """An `expires` longer than link_expires holds (the API's text, unchecked) fails the
    result's statement on PostgreSQL, as a plain INSERT would, rather than being cut short."""
    engine = open_database(postgres_url)
    archive = Archive(engine, ManualClock())
    archive.tables = None
    run = RunContext(JOB, archive.open_run(JOB.name, "cli"), CancelToken(archive.clock))
    expires = "2026-12-07T19:36:57.123456789012345+00:00:00"  # 44 characters, the column 40
    part = Part(0, json.dumps({"x": 1}), "application/json", link_expires=expires)
    with pytest.raises(DataError, match=r"value too long for type character varying\(40\)"):
        archive.store_result(run, {}, iter([part]))
    assert db_rows(postgres_url, "SELECT count(*) FROM result_parts") == [(0,)]
    assert db_rows(postgres_url, "SELECT count(*) FROM documents") == [(0,)]
    engine.dispose()


def test_postgres_keeps_a_bounded_number_of_result_shapes(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each shape of result (documents, parts) is one statement compiled once; past
    SHAPES_KEPT the oldest is dropped, and a result of a dropped shape is stored all the same."""
    monkeypatch.setattr(result_rows, "SHAPES_KEPT", 2)
    engine = open_database(postgres_url)
    archive = Archive(engine, ManualClock())
    archive.tables = None
    run = RunContext(JOB, archive.open_run(JOB.name, "cli"), CancelToken(archive.clock))
    for n, chunks in enumerate((1, 2, 3, 1)):
        header = json.dumps({"chunk_info": {"num_chunks": chunks}, "n": n})
        result = [Part(0, header, "application/json")]
        result += [
            Part(k, json.dumps([{"n": n, "k": k}]), "application/json")
            for k in range(1, chunks + 1)
        ]
        archive.store_result(run, {"n": n}, iter(result))
        assert len(archive._rows._shapes) <= 2
    assert db_rows(postgres_url, "SELECT count(*) FROM result_parts") == [(2 + 3 + 4 + 2,)]
    assert (run.counts.documents_new, run.counts.documents_dup) == (11, 0)
    engine.dispose()


def chunk_part(n: int, k: int) -> Part:
    """Chunk k of result n: every other one with no url, rows, expiry or envelope (NULLs)."""
    body = json.dumps([{"n": n, "k": k, "name": "Zoë"}])
    if k % 2:
        return Part(k, body, "application/json")
    return Part(k, body, "application/json", f"https://s3.example/{k}", "2099-01-01", k, "{}")


@pytest.mark.parametrize("chunks", [49, 50, 51])  # about ROWS_PER_STATEMENT parts: one, two
def test_a_result_about_the_statement_bound_is_whole_and_latest(backend: str, chunks: int) -> None:
    """A result whose parts fill one statement, or spill into a second, goes in whole: its
    parts in order with what each carried (NULLs included), all pointing at part 0; `latest`
    points at the newest result of each request, moved by a second result of the same one."""
    assert chunks - 1 <= result_rows.ROWS_PER_STATEMENT <= chunks + 1
    engine = open_database(backend)
    archive = Archive(engine, ManualClock())
    archive.tables = None
    run = RunContext(JOB, archive.open_run(JOB.name, "cli"), CancelToken(archive.clock))
    database = backend if backend.startswith("postgresql") else backend.removeprefix("sqlite:///")

    def result(n: int) -> Iterator[Part]:
        yield Part(0, json.dumps({"chunk_info": {"num_chunks": chunks}, "n": n}), "text/x")
        for k in range(1, chunks + 1):
            yield chunk_part(n, k)

    first = archive.store_result(run, {"q": 1}, result(1))
    second = archive.store_result(run, {"q": 1}, result(2))
    other = archive.store_result(run, {"q": 2}, result(3))
    for n, stored in ((1, first), (2, second), (3, other)):
        rows = db_rows(
            database,
            "SELECT part, result_id, url, link_expires, rows, envelope FROM result_parts "
            f"WHERE result_id = {stored.result_id} ORDER BY id",
        )
        expected: list[tuple[object, ...]] = [(0, stored.result_id, None, None, None, None)]
        for k in range(1, chunks + 1):
            part = chunk_part(n, k)
            expected.append(
                (k, stored.result_id, part.url, part.link_expires, part.rows, part.envelope)
            )
        assert rows == expected
    assert db_rows(database, "SELECT params, result_id FROM latest ORDER BY params") == [
        ('{"q":1}', second.result_id),
        ('{"q":2}', other.result_id),
    ]
    assert run.counts.documents_new == 3 * (chunks + 1) and run.counts.results == 3
    engine.dispose()
