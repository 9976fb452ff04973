"""The service's daily upkeep, on an injected clock: once a day of harvester's time it deletes
documents no result points at (left by killed or failed runs, older than an hour) and refreshes
the query planner's statistics; not before; and a failing upkeep never stops the service."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from harvester._core.clock import ManualClock, iso_seconds
from harvester._service.runtime import Runtime
from harvester._service.service import UPKEEP_SECONDS, Service, ServiceOptions
from harvester._store import db
from harvester._store.models import Document
from tests.helpers import job, wait_for


class Beats:
    """A service observer counting heartbeats: each one ends a pass of the service's loop,
    which looks at the upkeep's time first."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def heartbeat(self) -> None:
        with self.lock:
            self.count += 1

    def run_finished(self, outcome: object) -> None:
        pass

    def passes(self) -> int:
        with self.lock:
            return self.count


class Serving:
    def __init__(self, service: Service, beats: Beats) -> None:
        self.service = service
        self.beats = beats

    def full_pass(self) -> None:
        """Wait until the loop has certainly looked at the clock since now."""
        seen = self.beats.passes()
        wait_for(lambda: self.beats.passes() >= seen + 2)


@pytest.fixture
def serving(runtime: Runtime, tmp_path: Path) -> Iterator[Serving]:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs:\n  catalog: {endpoint: doc, every: 1d, enabled: false}\n")
    fast = ServiceOptions(reload_interval=0.01, heartbeat_interval=0.01)
    service = Service(runtime, jobs, fast)
    service.start()
    beats = Beats()
    service.observers.append(beats)
    loop = threading.Thread(target=service.serve, name="test-serve")
    loop.start()
    try:
        yield Serving(service, beats)
    finally:
        service.request_stop()
        loop.join(timeout=30)
        service.stop()


def orphan(runtime: Runtime, clock: ManualClock, digest: str, age: float) -> None:
    """A document no result points at, first seen `age` seconds ago."""
    with db.write(runtime.engine) as conn:
        conn.execute(
            insert(Document).values(
                sha256=digest * 64,
                body="{}",
                size=2,
                content_type="application/json",
                first_seen_at=iso_seconds(clock.now() - age),
            )
        )


def documents(runtime: Runtime) -> set[str]:
    with runtime.engine.connect() as conn:
        return {str(d)[0] for (d,) in conn.execute(text("SELECT sha256 FROM documents"))}


def statistics(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM sqlite_stat1")).scalar() or 0)


def upkeeps(log_stream: io.StringIO) -> list[dict[str, object]]:
    events = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    return [e for e in events if str(e["event"]).startswith("service.upkeep")]


def test_the_upkeep_runs_once_a_day_of_harvesters_clock(
    runtime: Runtime, clock: ManualClock, log_stream: io.StringIO, serving: Serving
) -> None:
    assert runtime.runner.run(job("cats", "constants/categories")).ok  # a document kept
    kept = documents(runtime)
    orphan(runtime, clock, "a", age=7200)  # a killed run's chunk, two hours old
    with db.write(runtime.engine) as conn:
        conn.exec_driver_sql("DELETE FROM sqlite_stat1")  # forget the start-up's statistics

    clock.advance(UPKEEP_SECONDS - 1)  # not yet a day
    orphan(runtime, clock, "b", age=60)  # a minute old: a run may be about to point at it
    serving.full_pass()
    assert upkeeps(log_stream) == []
    assert documents(runtime) == kept | {"a", "b"}

    clock.advance(1)
    wait_for(lambda: len(upkeeps(log_stream)) == 1)
    [done] = upkeeps(log_stream)
    assert done["event"] == "service.upkeep" and done["orphan_documents_removed"] == 1
    assert documents(runtime) == kept | {"b"}  # the young one waits for the next upkeep
    assert statistics(runtime) > 0  # ANALYZE ran again

    serving.full_pass()
    clock.advance(UPKEEP_SECONDS - 1)
    serving.full_pass()
    assert len(upkeeps(log_stream)) == 1  # the next one is a day after this one
    clock.advance(1)
    wait_for(lambda: len(upkeeps(log_stream)) == 2)


def test_a_failing_upkeep_is_logged_and_the_service_goes_on(
    runtime: Runtime,
    clock: ManualClock,
    log_stream: io.StringIO,
    serving: Serving,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def disk_full(older_than_seconds: float = 3600.0) -> int:
        raise OSError("database or disk is full")

    monkeypatch.setattr(runtime.archive, "collect_orphans", disk_full)
    clock.advance(UPKEEP_SECONDS)
    wait_for(lambda: len(upkeeps(log_stream)) == 1)
    [failed] = upkeeps(log_stream)
    assert failed["event"] == "service.upkeep_failed"
    assert failed["error"] == "database or disk is full"
    serving.full_pass()  # the loop is still going
    assert not serving.service.stopping.is_set()
