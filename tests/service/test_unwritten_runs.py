"""A plain job's run is written once, in the transaction that stores its result; a run that
lasts shows as `running` all the same (the watch writes it), chunks stored ahead come after
the run's row, and a transaction that rolls back leaves no id pointing at nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, event, select

from harvester._archive import archive as archive_module
from harvester._archive.archive import Archive
from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock, iso_seconds
from harvester._core.shapes import Part
from harvester._service.run_watch import RunWatch
from harvester._service.runtime import Runtime
from harvester._store import db
from harvester._store.models import Run
from tests.helpers import job

JOB = JobSpec(name="chunked", endpoint="results/search_series")


def commits(engine: Engine) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def runs_of(engine: Engine, name: str) -> list[tuple[int, str, str]]:
    with db.read(engine) as conn:
        rows = conn.execute(
            select(Run.id, Run.status, Run.started_at).where(Run.job == name).order_by(Run.id)
        )
        return [(row.id, row.status, row.started_at) for row in rows]


def unwritten_run(archive: Archive, spec: JobSpec = JOB) -> RunContext:
    return RunContext(spec, 0, CancelToken(archive.clock), unwritten=archive.unwritten("schedule"))


def parts(chunks: int) -> Iterator[Part]:
    yield Part(0, json.dumps({"chunk_info": {"num_chunks": chunks}}), "application/json")
    for k in range(1, chunks + 1):
        yield Part(k, json.dumps([{"row": k}]), "application/json", f"https://s3.example/{k}.json")


def test_a_plain_run_commits_once_with_its_result(runtime: Runtime, clock: ManualClock) -> None:
    runtime.session.login()  # the tokens are stored: in transactions of their own
    runtime.runner.watch.write_after = 1e9  # however slow the machine, the run is not "long"
    started = iso_seconds(clock.now())
    seen = commits(runtime.engine)
    outcome = runtime.runner.run(job("categories", "constants/categories"))
    assert outcome.ok and outcome.run_id > 0
    assert len(seen) == 1  # the run's row, its result and its outcome: one transaction
    assert runs_of(runtime.engine, "categories") == [(outcome.run_id, "success", started)]


def test_a_plain_run_that_fails_is_written_once_with_its_reason(runtime: Runtime) -> None:
    runtime.session.login()
    runtime.runner.watch.write_after = 1e9
    seen = commits(runtime.engine)
    outcome = runtime.runner.run(job("nowhere", "no/such_endpoint"))
    assert not outcome.ok and outcome.error
    assert len(seen) == 1
    [(run_id, status, _)] = runs_of(runtime.engine, "nowhere")
    assert run_id == outcome.run_id and status == outcome.status


def test_the_watch_writes_a_run_that_lasts_as_running(runtime: Runtime) -> None:
    archive = runtime.archive
    written = threading.Event()
    write_running = archive.write_running

    def noting(runs: Iterable[RunContext]) -> int:
        count = write_running(runs)
        written.set()
        return count

    archive.write_running = noting  # type: ignore[method-assign]
    watch = RunWatch(archive, write_after=0.0)
    run = unwritten_run(archive)
    try:
        watch.add(run)
        assert written.wait(30)
        assert run.run_id > 0
        assert runs_of(runtime.engine, JOB.name) == [
            (run.run_id, "running", run.unwritten.started_at if run.unwritten else "")
        ]
        archive.store_result(run, {}, parts(1))
        archive.end_run(run, "success", None, 1.0)
    finally:
        watch.close()
    assert [status for _, status, _ in runs_of(runtime.engine, JOB.name)] == ["success"]


def test_the_watch_writes_only_runs_due_and_still_in_flight(runtime: Runtime) -> None:
    archive = runtime.archive
    now = [100.0]
    watch = RunWatch(archive, write_after=1.0, monotonic=lambda: now[0])
    lasting, over = unwritten_run(archive), unwritten_run(archive)
    lasting.started = over.started = 100.0
    assert over.unwritten is not None
    try:
        watch.add(lasting)
        watch.add(over)
        assert watch.write_due() == 0  # not due yet
        over.unwritten.ended = True
        watch.remove(over)
        now[0] = 101.5
        watch.write_due()
    finally:
        watch.close()
    assert lasting.run_id > 0 and over.run_id == 0
    assert runs_of(runtime.engine, JOB.name) == [
        (lasting.run_id, "running", lasting.unwritten.started_at if lasting.unwritten else "")
    ]


def test_chunks_stored_ahead_come_after_the_runs_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orphan collection leaves a run's chunks be while the run is in flight: so the row must
    be there before the first chunk that goes ahead of its result."""
    monkeypatch.setattr(archive_module, "CHUNKS_HELD", 1)  # every chunk goes ahead
    engine = db.open_database(f"sqlite:///{tmp_path / 'h.db'}")
    archive = Archive(engine, ManualClock())
    archive.tables = None
    run = unwritten_run(archive)
    seen_while_fetching: list[list[tuple[int, str, str]]] = []

    def watched() -> Iterator[Part]:
        for part in parts(3):
            if part.index == 3:  # chunk 1 (at least) has gone ahead by now
                seen_while_fetching.append(runs_of(engine, JOB.name))
            yield part

    archive.store_result(run, {}, watched())
    archive.end_run(run, "success", None, 1.0)
    assert [[status for _, status, _ in rows] for rows in seen_while_fetching] == [["running"]]
    assert [status for _, status, _ in runs_of(engine, JOB.name)] == ["success"]
    engine.dispose()


def test_a_rolled_back_result_leaves_no_id_behind(runtime: Runtime) -> None:
    archive = runtime.archive
    run = unwritten_run(archive)

    def refuse(_conn: Connection) -> None:
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        archive.store_result(run, {}, parts(1), refuse)
    assert run.run_id == 0 and runs_of(runtime.engine, JOB.name) == []
    archive.end_run(run, "failed", "the disk is full", 1.0)
    [(run_id, status, _)] = runs_of(runtime.engine, JOB.name)
    assert run_id == run.run_id and status == "failed"


def test_the_watch_leaves_a_run_that_is_over_and_waits_after_a_refusal(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that ended (its outcome on its way) is never written as running; a write the
    database refuses is tried again a period later, not at once (the watch never spins)."""
    archive = runtime.archive
    now = [100.0]
    handed: list[int] = []

    def refusing(runs: Iterable[RunContext]) -> int:
        handed.append(len(list(runs)))
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(archive, "write_running", refusing)
    watch = RunWatch(archive, write_after=1.0, monotonic=lambda: now[0])
    over, lasting = unwritten_run(archive), unwritten_run(archive)
    over.started = lasting.started = 100.0
    assert over.unwritten is not None
    over.unwritten.ended = True  # over, but not yet removed: its outcome is being written
    try:
        watch.add(over)
        watch.add(lasting)
        now[0] = 101.5
        assert watch.write_due() == 0 and handed == [1]  # only the lasting one, refused
        assert watch.write_due() == 0 and handed == [1]  # not again at once
        now[0] = 102.6
        assert watch.write_due() == 0 and handed == [1, 1]  # a period later
    finally:
        watch.close()


def test_a_watch_write_that_rolls_back_leaves_no_id_behind(runtime: Runtime) -> None:
    """The watch's transaction fails after the row's INSERT (at its commit, say): the run
    keeps no id a later row could be given, and its outcome is written as a row of its own."""
    archive = runtime.archive
    run = unwritten_run(archive)

    def refuse(_conn: object) -> None:
        raise RuntimeError("the disk is full")

    event.listen(runtime.engine, "commit", refuse)
    with pytest.raises(RuntimeError):
        archive.write_running([run])
    event.remove(runtime.engine, "commit", refuse)
    assert run.run_id == 0
    other = archive.open_run("other", "schedule")
    archive.end_run(run, "failed", "boom", 1.0)
    assert [(r[0], r[1]) for r in runs_of(runtime.engine, JOB.name)] == [(run.run_id, "failed")]
    assert run.run_id != other
