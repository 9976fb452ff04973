"""How a run ends when it does not simply succeed: its timeout, a crash inside it (the service
goes on), and a library `get(save=True)` the server fails. Each leaves a run with a final status
and a reason, and nothing half-stored."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

import harvester
from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._config.settings import Settings
from harvester._core.clock import ManualClock, ScaledClock, parse_iso
from harvester._core.errors import HarvesterError, ServerError
from harvester._core.run_status import RunStatus
from harvester._fetch.data_client import MAX_ATTEMPTS
from harvester._service.runner import RunOutcome
from harvester._service.runtime import Runtime, open_runtime
from harvester._service.service import Service, ServiceOptions
from harvester.simulator import SimConfig, Simulator, SimulatorTransport
from harvester.simulator.config import SCALED_LINKS
from tests.helpers import FullDisk, job, make_settings, wait_for


def rows(rt: Runtime, sql: str) -> list[dict[str, object]]:
    with rt.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql))]


def stored(rt: Runtime) -> dict[str, int]:
    """How many results, result parts and documents the archive holds."""
    return {
        table: int(str(rows(rt, f"SELECT count(*) AS n FROM {table}")[0]["n"]))
        for table in ("results", "result_parts", "documents")
    }


NOTHING = {"results": 0, "result_parts": 0, "documents": 0}

# -- the job's timeout -----------------------------------------------------------------------


def test_a_run_past_its_timeout_is_failed_with_the_reason(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    runtime.session.login()
    started = clock.now()
    sim.control({"fail_next": ["500"] * 8})  # the back-off after the first 500 outlasts 1 s
    spec = JobSpec(name="slow", endpoint="constants/categories", params={}, timeout=1.0)
    outcome = runtime.runner.run(spec)
    assert outcome.status == RunStatus.FAILED  # a timeout is a failure, not an interruption
    assert outcome.error == "the job's timeout was reached"
    assert clock.now() == started + 1.0  # it waited up to the deadline, not a moment more
    assert sim.faults_injected == {"500": 1}  # and asked nothing after it
    [run] = rows(runtime, "SELECT status, error FROM runs")
    assert run == {"status": "failed", "error": "the job's timeout was reached"}
    assert stored(runtime) == NOTHING


def test_a_run_within_its_timeout_succeeds(runtime: Runtime, sim: Simulator) -> None:
    runtime.session.login()
    sim.control({"fail_next": ["500"]})
    spec = JobSpec(name="ok", endpoint="constants/categories", params={}, timeout=60.0)
    outcome = runtime.runner.run(spec)
    assert outcome.status == RunStatus.SUCCESS, outcome.error


def test_a_timeout_is_real_seconds_on_a_scaled_clock(tmp_path: Path) -> None:
    """At x60 a 5-second timeout is 5 real seconds (300 of harvester's), not 5 of harvester's
    (a twelfth of a real second): three back-offs of 7 to 14 simulated seconds in all, a
    quarter of a real second, do not end the run. Its duration is recorded in real seconds."""
    clock = ScaledClock(60.0)
    sim = Simulator(SimConfig(**SCALED_LINKS), clock)
    settings = make_settings(tmp_path, sim.base_url)
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
        sim.control({"fail_next": ["500"] * 3})
        spec = JobSpec(name="patient", endpoint="constants/categories", params={}, timeout=5.0)
        outcome = rt.runner.run(spec)
        assert outcome.status == RunStatus.SUCCESS, outcome.error
        assert sim.faults_injected == {"500": 3}
        [run] = rows(rt, "SELECT started_at, finished_at, duration_seconds FROM runs")
    on_the_clock = parse_iso(str(run["finished_at"])) - parse_iso(str(run["started_at"]))
    assert on_the_clock >= 6  # the back-offs passed on harvester's clock ...
    real = run["duration_seconds"]
    assert isinstance(real, float) and 0 < real * 10 < on_the_clock  # ... sixty times faster
    # measured by the same stopwatch as the log's and the metric's duration (a moment later)
    assert real <= outcome.duration + 0.001


# -- a crash inside a run --------------------------------------------------------------------


class Exploding(httpx.BaseTransport):
    """The simulator, except that the first `times` /data requests raise a bug of ours (not an
    httpx error): what no handler of the client expects."""

    def __init__(self, sim: Simulator, times: int = 1) -> None:
        self.inner = SimulatorTransport(sim)
        self.times = times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/data/") and self.times > 0:
            self.times -= 1
            raise RuntimeError("boom: an invariant of ours broke")
        return self.inner.handle_request(request)


@pytest.fixture
def exploding(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> Iterator[tuple[Runtime, Exploding]]:
    transport = Exploding(sim)
    with open_runtime(settings, transport=transport, clock=clock) as rt:
        yield rt, transport


def test_an_unexpected_exception_fails_the_run_and_the_next_run_works(
    exploding: tuple[Runtime, Exploding], log_stream: io.StringIO
) -> None:
    runtime, _ = exploding
    spec = JobSpec(name="cats", endpoint="constants/categories", params={})
    crashed = runtime.runner.run(spec)
    assert crashed.status == RunStatus.FAILED
    assert crashed.error == "unexpected RuntimeError: boom: an invariant of ours broke"
    events = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    [logged] = [e for e in events if e["event"] == "run.crashed"]
    assert logged["job"] == "cats" and "RuntimeError" in logged["exception"]  # the traceback
    assert runtime.runner.run(spec).status == RunStatus.SUCCESS
    assert [r["status"] for r in rows(runtime, "SELECT status FROM runs ORDER BY id")] == [
        "failed",
        "success",
    ]


def serve(runtime: Runtime, tmp_path: Path, jobs: str) -> Service:
    path = tmp_path / "jobs.yaml"
    path.write_text(jobs + "  catalog: {endpoint: doc, every: 1d, enabled: false}\n")
    service = Service(runtime, path, ServiceOptions(drain_seconds=5))
    service.start()
    return service


def test_the_service_goes_on_after_a_run_crashed(
    exploding: tuple[Runtime, Exploding], tmp_path: Path, clock: ManualClock
) -> None:
    runtime, _ = exploding
    service = serve(
        runtime, tmp_path, "jobs:\n  cats: {endpoint: constants/categories, every: 1m}\n"
    )
    try:
        wait_for(
            lambda: (
                len(rows(runtime, "SELECT id FROM runs WHERE status != 'running'")) == 1
                and not service.running
            )  # recorded, and released by the service
        )
        clock.advance(60)
        service.scheduler.wakeup()
        wait_for(lambda: len(rows(runtime, "SELECT id FROM runs WHERE status = 'success'")) == 1)
    finally:
        service.stop()
    statuses = [r["status"] for r in rows(runtime, "SELECT status FROM runs ORDER BY id")]
    assert statuses == ["failed", "success"]


def test_the_service_goes_on_when_the_runner_itself_raises(
    runtime: Runtime,
    tmp_path: Path,
    clock: ManualClock,
    log_stream: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service's last guard: a run that raises out of the runner (which should never
    happen) is logged, and its job is released, so the next one runs instead of being skipped
    as overlapping a run that will never end."""
    real_run = runtime.runner.run
    calls: list[str] = []

    def run_once_broken(
        spec: JobSpec, trigger: str = "manual", stop: threading.Event | None = None, **more: Any
    ) -> RunOutcome:
        calls.append(trigger)
        if len(calls) == 1:
            raise RuntimeError("the runner itself broke")
        return real_run(spec, trigger, stop, **more)

    monkeypatch.setattr(runtime.runner, "run", run_once_broken)
    service = serve(
        runtime, tmp_path, "jobs:\n  cats: {endpoint: constants/categories, every: 1m}\n"
    )
    try:
        wait_for(lambda: "run.crashed" in log_stream.getvalue())
        clock.advance(60)
        service.scheduler.wakeup()
        wait_for(lambda: len(service.outcomes) == 1)
    finally:
        service.stop()
    assert service.outcomes[0].status == RunStatus.SUCCESS
    assert rows(runtime, "SELECT status FROM runs") == [{"status": "success"}]  # none skipped
    [crash] = [
        json.loads(line)
        for line in log_stream.getvalue().splitlines()
        if json.loads(line)["event"] == "run.crashed"
    ]
    assert crash["job"] == "cats" and crash["error"] == "the runner itself broke"


# -- api.get(save=True) when the server fails ------------------------------------------------


def test_a_saved_get_the_server_fails_raises_and_stores_nothing(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with harvester.connect(settings, transport=SimulatorTransport(sim), clock=clock) as api:
        api.session.authenticate()
        sim.control({"fail_next": ["500"] * MAX_ATTEMPTS})  # every attempt of one get
        with pytest.raises(ServerError, match="gave up after 4 attempts: HTTP 500") as caught:
            api.get("constants/categories", save=True)
        assert "\n" not in str(caught.value)
        runtime = api._runtime
        [run] = rows(runtime, "SELECT job, trigger, status, error FROM runs")
        assert run["job"] == "manual" and run["trigger"] == "manual"
        assert run["status"] == "failed" and run["error"] == str(caught.value)
        assert stored(runtime) == NOTHING
        assert api.get("constants/categories", save=True)  # the server is back: it saves
        assert stored(runtime)["results"] == 1


def test_a_saved_get_whose_chunk_fails_keeps_no_partial_result(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    """Chunks that arrived before the failing one may be stored as documents (collected later
    as orphans), but no result and no result part points at them."""
    sim.config.chunk_size = 20

    class ThirdChunkBroken(httpx.BaseTransport):
        """Chunk 3 answers 500 every time (chunks come in parallel: picked by name)."""

        def __init__(self) -> None:
            self.inner = SimulatorTransport(sim)
            self.broken: str | None = None

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == self.broken:
                return httpx.Response(500, text="boom", request=request)
            response = self.inner.handle_request(request)
            if request.url.path == "/data/results/search_series":
                info = response.json()["data"]["chunk_info"]
                self.broken = httpx.URL(
                    info["base_download_url"] + info["chunk_file_names"][2]
                ).path
            return response

    with harvester.connect(settings, transport=ThirdChunkBroken(), clock=clock) as api:
        with pytest.raises(HarvesterError, match="chunk 3 of "):
            api.get("results/search_series", finish_range_begin="2025-12-25T00:00Z", save=True)
        runtime = api._runtime
        assert rows(runtime, "SELECT status FROM runs") == [{"status": "failed"}]
        assert stored(runtime)["results"] == 0 and stored(runtime)["result_parts"] == 0


# -- a full disk -----------------------------------------------------------------------------


def test_a_run_the_full_disk_refuses_to_record_is_not_recorded(
    runtime: Runtime, sim: Simulator, log_stream: io.StringIO
) -> None:
    """A plain run finds the disk full when it stores its result (its row goes in with it):
    nothing of it is recorded. The next runs, while the disk stays full, are refused before
    they call the API (they open their row first, and cannot)."""
    runtime.session.login()
    disk = FullDisk(runtime.engine)
    disk.full = True
    outcome = runtime.runner.run(job("info", "member/info"))
    assert outcome.run_id == 0 and not outcome.recorded and outcome.status == "failed"
    assert outcome.error == "the run could not be recorded: database or disk is full"
    assert rows(runtime, "SELECT id FROM runs") == [] and stored(runtime) == NOTHING
    asked = sim.state()["data"]["requests"]
    refused = runtime.runner.run(job("info", "member/info"))
    assert refused.error == outcome.error and not refused.recorded
    assert sim.state()["data"]["requests"] == asked  # not called for a run it cannot record
    logged = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [e["job"] for e in logged if e["event"] == "run.not_recorded"] == ["info", "info"]
    disk.full = False
    again = runtime.runner.run(job("info", "member/info"))
    assert again.ok and again.recorded and again.run_id > 0


def test_a_run_whose_outcome_the_full_disk_refuses_is_not_recorded(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(runtime.engine)
    store = runtime.archive.store_result

    def written_then_fill(run: RunContext, *args: Any) -> Any:
        runtime.archive.write_running([run])  # it lasted: the watch wrote it as running
        disk.full = True  # then the disk fills while the run fetches
        return store(run, *args)

    monkeypatch.setattr(runtime.archive, "store_result", written_then_fill)
    outcome = runtime.runner.run(job("info", "member/info"))
    assert outcome.run_id > 0 and not outcome.recorded and outcome.status == "failed"
    assert outcome.error == "the run's outcome could not be recorded: database or disk is full"
    assert stored(runtime) == NOTHING  # its result was refused with its outcome
    disk.full = False
    assert runtime.archive.mark_interrupted() == 1  # left running: the next start says so
