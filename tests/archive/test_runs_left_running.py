"""No run stays `running` for ever: a run's process is told apart from a later one with its pid,
closing a run never raises into the caller, and stale runs do not stop orphan collection."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError

from harvester._archive.process import current, process_start_time, still_running
from harvester._archive.run import RunContext
from harvester._core.clock import ManualClock, iso_seconds
from harvester._service.runtime import Runtime
from harvester._store import db
from harvester._store.models import Document, Run
from tests.helpers import job


@pytest.fixture
def other_process() -> Iterator[int]:
    """A live process that is not this one (its pid stands for a reused pid)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait(10)


def _running_row(runtime: Runtime, pid: int | None, started_at: float | None) -> int:
    with db.write(runtime.engine) as conn:
        result = conn.execute(
            insert(Run).values(
                job="old",
                trigger="schedule",
                status="running",
                started_at=iso_seconds(runtime.clock.now() - 7200),
                pid=pid,
                process_started_at=started_at,
            )
        )
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])


def _status(runtime: Runtime, run_id: int) -> str:
    with db.read(runtime.engine) as conn:
        return str(conn.execute(select(Run.status).where(Run.id == run_id)).scalar_one())


def test_this_process_knows_its_own_start_time() -> None:
    me = current()
    assert me.started_at is not None  # Linux /proc: the identity is more than a pid
    assert still_running(me.pid, me.started_at)
    assert not still_running(me.pid, me.started_at - 3600)


def test_a_run_whose_pid_was_reused_by_another_process_is_interrupted(
    runtime: Runtime, other_process: int
) -> None:
    started = process_start_time(other_process)
    assert started is not None
    reused = _running_row(runtime, other_process, started - 86_400)  # an older process's pid
    alive = _running_row(runtime, other_process, started)  # that very process: still running
    assert runtime.archive.mark_interrupted() == 1
    assert _status(runtime, reused) == "interrupted"
    assert _status(runtime, alive) == "running"


def test_stale_running_rows_do_not_stop_orphan_collection(
    runtime: Runtime, clock: ManualClock, other_process: int
) -> None:
    started = process_start_time(other_process)
    assert started is not None
    with db.write(runtime.engine) as conn:
        conn.execute(
            insert(Document).values(
                sha256="0" * 64,
                body="{}",
                size=2,
                content_type="application/json",
                first_seen_at=iso_seconds(clock.now() - 7200),
            )
        )
    _running_row(runtime, other_process, started - 86_400)  # its process is gone
    assert runtime.archive.collect_orphans() == 1
    _running_row(runtime, other_process, started)  # alive: collection waits for it
    with db.write(runtime.engine) as conn:
        conn.execute(
            insert(Document).values(
                sha256="1" * 64,
                body="[]",
                size=2,
                content_type="application/json",
                first_seen_at=iso_seconds(clock.now() - 7200),
            )
        )
    assert runtime.archive.collect_orphans() == 0


def test_closing_a_run_on_a_full_disk_does_not_raise(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OperationalError("UPDATE runs", {}, Exception("database or disk is full"))

    def written_then_full(run: RunContext, *args: object) -> None:
        runtime.archive.write_running([run])  # it lasted: the watch wrote it as running
        disk_full()

    monkeypatch.setattr(runtime.archive, "end_run", disk_full)
    monkeypatch.setattr(runtime.archive, "store_result", written_then_full)
    outcome = runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "failed" and not outcome.recorded
    assert outcome.error is not None and "could not be recorded" in outcome.error
    monkeypatch.undo()
    assert runtime.archive.mark_interrupted() == 1  # ours, left running: now interrupted
    assert _status(runtime, outcome.run_id) == "interrupted"


def test_a_quick_run_the_full_disk_refused_leaves_no_row(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT INTO runs", {}, Exception("database or disk is full"))

    monkeypatch.setattr(runtime.archive, "end_run", disk_full)
    monkeypatch.setattr(runtime.archive, "store_result", disk_full)
    outcome = runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "failed" and not outcome.recorded and outcome.run_id == 0
    monkeypatch.undo()
    assert runtime.archive.mark_interrupted() == 0
    with db.read(runtime.engine) as conn:
        assert conn.execute(select(Run.id)).all() == []


def test_a_killed_backfill_run_is_interrupted_by_the_next_backfill(
    runtime: Runtime, other_process: int
) -> None:
    from harvester._service.backfill import run_backfill
    from tests.config.test_incremental import cursor_job

    started = process_start_time(other_process)
    assert started is not None
    killed = _running_row(runtime, other_process, started - 86_400)
    spec, _, _ = cursor_job("-1d", window="1d")
    run_backfill(runtime, spec, runtime.clock.now() - 86_400, None, lambda progress: None)
    assert _status(runtime, killed) == "interrupted"


def test_the_active_service_takes_over_every_run_a_dead_one_started_by_itself(
    runtime: Runtime,
) -> None:
    """On another host a run cannot be looked up: the runs a service starts by itself (its
    schedules, start-up, reloads, a parent's run, retries) are a dead active service's; a
    command's or a backfill's may be alive, and are left to their process."""
    triggers = ("schedule", "startup", "reload", "parent", "retry", "cli", "backfill", "manual")
    ids = {}
    with db.write(runtime.engine) as conn:
        for trigger in triggers:
            result = conn.execute(
                insert(Run).values(
                    job=f"job_{trigger}",
                    trigger=trigger,
                    status="running",
                    started_at=iso_seconds(runtime.clock.now() - 60),
                    host="another-host.example",
                    pid=4242,
                )
            )
            assert result.inserted_primary_key is not None
            ids[trigger] = int(result.inserted_primary_key[0])
    assert runtime.archive.mark_interrupted() == 0  # a command: not the active service
    assert runtime.archive.mark_interrupted(active_service=True) == 5
    assert {t: _status(runtime, i) for t, i in ids.items()} == {
        "schedule": "interrupted",
        "startup": "interrupted",
        "reload": "interrupted",
        "parent": "interrupted",
        "retry": "interrupted",
        "cli": "running",
        "backfill": "running",
        "manual": "running",
    }
