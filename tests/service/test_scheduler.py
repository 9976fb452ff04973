"""The scheduler service in-process: schedule maths, overlap, misfire and coalescing, reloads,
retries, maintenance, and a simulated hour of 20 jobs."""

from __future__ import annotations

import io
import json
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from harvester._config.jobs import JobSpec, Schedule
from harvester._config.settings import Environment
from harvester._config.triggers import fire_times
from harvester._core.clock import Clock, ManualClock, ScaledClock
from harvester._core.logs import configure_logging
from harvester._service.runner import RunOutcome
from harvester._service.runtime import Runtime, open_runtime
from harvester._service.scheduler import JobScheduler, first_run_time
from harvester._service.service import Service, ServiceOptions
from harvester.simulator import SimConfig, Simulator, SimulatorTransport
from harvester.simulator.config import SCALED_LINKS
from tests.helpers import make_settings, wait_for


def runs(rt: Runtime, where: str = "1=1") -> list[dict[str, object]]:
    with rt.engine.connect() as conn:
        result = conn.execute(text(f"SELECT * FROM runs WHERE {where} ORDER BY id"))
        return [dict(r._mapping) for r in result]


def runs_state(rt: Runtime) -> object:
    with rt.engine.connect() as conn:
        return conn.execute(text("SELECT state FROM service")).scalar()


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        sim: Simulator,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
        **settings: Any,
    ) -> None:
        self.jobs = tmp_path / "jobs.yaml"
        self.settings = make_settings(tmp_path, sim.base_url, **settings)
        self.runtime = open_runtime(
            self.settings, transport=transport or SimulatorTransport(sim), clock=clock
        )
        self.service: Service | None = None
        self.active: Counter[str] = Counter()
        self.most_at_once: Counter[str] = Counter()
        self._lock = threading.Lock()
        run = self.runtime.runner.run

        def tracked(job: JobSpec, *args: Any, **kwargs: Any) -> RunOutcome:
            with self._lock:
                self.active[job.name] += 1
                self.most_at_once[job.name] = max(
                    self.most_at_once[job.name], self.active[job.name]
                )
            try:
                return run(job, *args, **kwargs)
            finally:
                with self._lock:
                    self.active[job.name] -= 1

        self.runtime.runner.run = tracked  # type: ignore[method-assign]

    def write(self, jobs: str, catalog: bool = False) -> None:
        """Write jobs.yaml (`jobs:` last); the built-in catalog job is off unless asked for."""
        text = textwrap.dedent(jobs).rstrip("\n") + "\n"
        if not catalog:
            text += "  catalog: {endpoint: doc, every: 1d, enabled: false}\n"
        self.jobs.write_text(text)

    def start(self, options: ServiceOptions | None = None) -> Service:
        self.service = Service(self.runtime, self.jobs, options)
        self.service.start()
        return self.service

    @property
    def running(self) -> Service:
        """The started service (start() first)."""
        assert self.service is not None, "start() first"
        return self.service

    def close(self) -> None:
        if self.service is not None and not self.service.stopping.is_set():
            self.service.stop()
        self.runtime.close()


@pytest.fixture
def harness(tmp_path: Path, sim: Simulator, clock: ManualClock) -> Iterator[Harness]:
    h = Harness(tmp_path, sim, clock)
    yield h
    h.close()


# -- schedule maths (pure, injected time) --------------------------------------------------


def at(text_time: str) -> datetime:
    return datetime.fromisoformat(text_time).replace(tzinfo=UTC)


def test_interval_fire_times() -> None:
    times = fire_times(Schedule(every=900), at("2026-01-01T00:00:00"), at("2026-01-01T00:20:00"), 3)
    assert times == [
        at("2026-01-01T00:30:00"),
        at("2026-01-01T00:45:00"),
        at("2026-01-01T01:00:00"),
    ]


def test_cron_fire_times_are_utc() -> None:
    times = fire_times(
        Schedule(cron="0 */6 * * *"), at("2026-01-01T00:00:00"), at("2026-01-01T05:59:00"), 3
    )
    assert times == [
        at("2026-01-01T06:00:00"),
        at("2026-01-01T12:00:00"),
        at("2026-01-01T18:00:00"),
    ]


def test_first_run_after_a_restart() -> None:
    now = at("2026-01-01T12:00:00").timestamp()
    hourly = Schedule(every=3600)
    assert first_run_time(hourly, now, None).timestamp() == now  # never ran: now
    assert first_run_time(hourly, now, now - 600).timestamp() == now + 3000  # ran 10 min ago
    assert first_run_time(hourly, now, now - 7200).timestamp() == now  # missed: run now, once


# -- the service -------------------------------------------------------------------------


def test_due_jobs_run_and_are_recorded(harness: Harness, clock: ManualClock) -> None:
    harness.write("""
        jobs:
          info: {endpoint: member/info, every: 10m}
          cats: {endpoint: constants/categories, every: 1h}
    """)
    harness.start()
    wait_for(lambda: len(runs(harness.runtime, "status = 'success'")) == 2)
    clock.advance(600)
    harness.running.scheduler.wakeup()
    wait_for(lambda: len(runs(harness.runtime, "job = 'info'")) == 2)
    assert len(runs(harness.runtime, "job = 'cats'")) == 1
    # the first runs are the start-up's (never run before), the next one the schedule's
    assert [(r["job"], r["trigger"]) for r in runs(harness.runtime)] == [
        ("info", "startup"),
        ("cats", "startup"),
        ("info", "schedule"),
    ] or [(r["job"], r["trigger"]) for r in runs(harness.runtime)] == [
        ("cats", "startup"),
        ("info", "startup"),
        ("info", "schedule"),
    ]


def test_missed_runs_coalesce_into_one_late_run(harness: Harness, clock: ManualClock) -> None:
    harness.write("jobs:\n  info: {endpoint: member/info, every: 1m}\n")
    harness.start()
    wait_for(lambda: len(runs(harness.runtime)) == 1)
    clock.advance(10 * 60 + 30)  # ten runs were missed (the machine slept, say)
    harness.running.scheduler.wakeup()
    wait_for(lambda: len(runs(harness.runtime)) == 2)
    # nothing is left due (a queued backlog would be: its next fire time still in the past),
    # and the clock stands still, so no other run can come
    following = harness.running.scheduler.next_runs()["info"]
    assert following is not None and following > clock.now()
    assert len(runs(harness.runtime)) == 2  # one late run, not ten


def test_a_job_never_runs_twice_at_once(tmp_path: Path) -> None:
    clock = ScaledClock(20.0)
    # every request takes 2 simulated seconds; links live as many real seconds as unscaled
    sim = Simulator(SimConfig(latency=0.1, **SCALED_LINKS), clock)
    h = Harness(tmp_path, sim, clock)
    try:
        h.write("jobs:\n  slow: {endpoint: member/info, every: 1s}\n")
        h.start(ServiceOptions(workers=4))
        wait_for(lambda: len(runs(h.runtime, "status = 'success'")) >= 3)
        h.running.stop()
        assert h.most_at_once["slow"] == 1
        skipped = runs(h.runtime, "status = 'skipped'")
        assert skipped  # due runs that found the previous one going were recorded
        assert all("still running" in str(r["error"]) for r in skipped)
    finally:
        h.close()


def test_reload_adds_removes_and_changes_jobs(harness: Harness, clock: ManualClock) -> None:
    harness.write("""
        jobs:
          info: {endpoint: member/info, every: 10m}
          cats: {endpoint: constants/categories, every: 1h}
    """)
    service = harness.start()
    wait_for(lambda: len(runs(harness.runtime)) == 2)
    harness.write("""
        jobs:
          info: {endpoint: member/info, every: 5m}
          awards: {endpoint: member/awards, every: 1h}
    """)
    assert service.reload() is True
    assert set(service.scheduler.next_runs()) == {"info", "awards"}
    wait_for(lambda: len(runs(harness.runtime, "job = 'awards'")) == 1)
    info_next = service.scheduler.next_runs()["info"]
    assert info_next is not None and info_next <= clock.now() + 300


def test_a_reload_reads_an_edited_env_file_for_its_templates(
    tmp_path: Path, sim: Simulator, clock: ManualClock
) -> None:
    """A job and the `.env` line it needs, added while the service runs: the reload reads
    `.env` again, so the job runs (it was disabled as unset until a restart); the process
    environment still wins over the file."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("")
    environment = Environment({"LEAGUE": "from-process"}, dotenv)
    harness = Harness(tmp_path, sim, clock, environment=environment)
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        harness.write("jobs:\n  info: {endpoint: member/info, every: 10m}\n")
        service = harness.start()
        wait_for(lambda: len(runs(harness.runtime)) == 1)
        dotenv.write_text("MY_CUST_ID=123\nLEAGUE=from-file\n")
        harness.write("""
            jobs:
              info: {endpoint: member/info, every: 10m}
              mine: {endpoint: member/info, every: 1h, params: {cust_id: "{env:MY_CUST_ID}"}}
        """)
        assert service.reload() is True
        assert service.config.jobs["mine"].enabled
        wait_for(lambda: len(runs(harness.runtime, "job = 'mine'")) == 1)
        assert harness.settings.env()["LEAGUE"] == "from-process"
        assert '"jobs.disabled"' not in stream.getvalue()
        dotenv.write_text("")  # the variable gone again: the job is disabled, with its reason
        assert service.reload(forced=True) is True
        assert not service.config.jobs["mine"].enabled
        disabled = [
            json.loads(line) for line in stream.getvalue().splitlines() if '"jobs.disabled"' in line
        ]
        assert disabled and "MY_CUST_ID is not set" in disabled[0]["problem"]
    finally:
        harness.close()


def test_an_invalid_edit_is_logged_and_the_previous_jobs_keep_running(
    harness: Harness, clock: ManualClock
) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    harness.write("jobs:\n  info: {endpoint: member/info, every: 10m}\n")
    service = harness.start()
    wait_for(lambda: len(runs(harness.runtime)) == 1)
    harness.write("jobs:\n  info: {endpoint: member/info, every: soon}\n")
    assert service.reload() is False
    errors = [
        json.loads(line)
        for line in stream.getvalue().splitlines()
        if '"jobs.reload_failed"' in line
    ]
    assert errors and errors[0]["level"] == "error"
    assert "jobs.info.every" in errors[0]["problems"][0]
    assert set(service.scheduler.next_runs()) == {"info"}
    clock.advance(600)
    service.scheduler.wakeup()
    wait_for(lambda: len(runs(harness.runtime)) == 2)  # the old job still runs


def test_the_watcher_notices_an_edit_and_sighup_forces_a_reload(
    harness: Harness, clock: ManualClock
) -> None:
    harness.write("jobs:\n  info: {endpoint: member/info, every: 10m}\n")
    service = harness.start(ServiceOptions(reload_interval=0.05, heartbeat_interval=0.05))
    loop = threading.Thread(target=service.serve)
    loop.start()
    try:
        harness.write("jobs:\n  cats: {endpoint: constants/categories, every: 10m}\n")
        wait_for(lambda: set(service.scheduler.next_runs()) == {"cats"})
        # the heartbeat follows: `harvester status` and `jobs` read it
        wait_for(lambda: '"cats"' in str(runs_state(harness.runtime)))
        service.request_reload()  # what SIGHUP does; nothing changed, nothing breaks
        wait_for(lambda: not service.reload_requested.is_set())
        assert set(service.scheduler.next_runs()) == {"cats"}
    finally:
        service.request_stop()
        loop.join(timeout=10)


def test_a_heartbeat_whose_state_cannot_be_read_does_not_stop_the_service(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    harness.write("jobs:\n  info: {endpoint: member/info, every: 10m}\n")
    service = harness.start()

    def broken() -> dict[str, float | None]:
        raise RuntimeError("the scheduler is gone")

    monkeypatch.setattr(service.scheduler, "next_runs", broken)
    service._write_state()  # reading the state fails: logged, not raised
    assert "service.heartbeat_failed" in caplog.text
    assert "the scheduler is gone" in caplog.text


def test_a_failed_run_is_retried(harness: Harness, sim: Simulator, clock: ManualClock) -> None:
    harness.runtime.session.login()
    sim.control({"fail_next": ["500"] * 4})  # the first run gives up after four attempts
    harness.write("jobs:\n  info: {endpoint: member/info, every: 1d, retries: 2}\n")
    harness.start()
    wait_for(lambda: len(runs(harness.runtime, "status != 'running'")) == 1)
    assert runs(harness.runtime)[0]["status"] == "failed"
    # the retry is scheduled once the run has returned (after its row): wait for it, or the
    # clock would move before the back-off is counted from it
    wait_for(lambda: harness.running.scheduler.retries_pending() == {"info"})
    clock.advance(120)  # the back-off of the first retry is 30-60 s
    harness.running.scheduler.wakeup()
    wait_for(lambda: len(runs(harness.runtime, "status = 'success'")) == 1)
    assert [r["trigger"] for r in runs(harness.runtime)] == ["startup", "retry"]


def test_runs_due_during_maintenance_are_skipped_then_resume(
    harness: Harness, sim: Simulator, clock: ManualClock
) -> None:
    harness.write("jobs:\n  info: {endpoint: member/info, every: 30s}\n")
    sim.config.maintenance = True
    harness.start()
    wait_for(lambda: len(runs(harness.runtime, "status != 'running'")) == 1)
    assert runs(harness.runtime)[0]["status"] == "maintenance"
    requests = sim.state()["data"]["requests"]
    clock.advance(31)  # due again, inside the pause (the first probe is a minute later)
    harness.running.scheduler.wakeup()
    wait_for(lambda: len(runs(harness.runtime, "status != 'running'")) == 2)
    assert runs(harness.runtime)[1]["status"] == "skipped"
    assert sim.state()["data"]["requests"] == requests  # not touched
    sim.config.maintenance = False
    clock.advance(61)
    harness.running.scheduler.wakeup()
    wait_for(lambda: len(runs(harness.runtime, "status = 'success'")) == 1)


class HeldTransport(httpx.BaseTransport):
    """The simulator, except that /data requests wait until `release` is set, then fail: a
    run that is in flight for as long as the test wants."""

    def __init__(self, sim: Simulator) -> None:
        self.inner = SimulatorTransport(sim)
        self.release = threading.Event()
        self.holding = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/data/"):
            self.holding.set()
            self.release.wait(30)
            return httpx.Response(500, json={"error": "held"})
        return self.inner.handle_request(request)


def test_stop_cancels_a_run_still_going_after_the_drain_and_marks_it(
    tmp_path: Path, sim: Simulator, clock: ManualClock
) -> None:
    held = HeldTransport(sim)
    h = Harness(tmp_path, sim, clock, transport=held)
    try:
        h.write("jobs:\n  slow: {endpoint: member/info, every: 1h}\n")
        service = Service(h.runtime, h.jobs, ServiceOptions(drain_seconds=0.0, cancel_seconds=5))
        h.service = service
        held.release = service.cancel  # the held request ends when the service cancels
        service.start()
        assert held.holding.wait(10)
        service.stop()
        [run] = runs(h.runtime)
        assert run["status"] == "interrupted"
        assert "shutting down" in str(run["error"])
    finally:
        h.close()


def test_stop_lets_a_run_in_flight_finish_within_the_drain(
    harness: Harness, clock: ManualClock
) -> None:
    harness.write("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
    service = harness.start(ServiceOptions(drain_seconds=10.0))
    wait_for(lambda: bool(runs(harness.runtime)))
    service.stop()
    [run] = runs(harness.runtime)
    assert run["status"] == "success"
    assert not service.cancel.is_set()  # finished on its own: nothing was cancelled


@pytest.mark.slow
def test_a_simulated_hour_of_twenty_jobs(tmp_path: Path) -> None:
    """20 jobs for an hour of simulated time: no overlap, every run recorded, no 429, one
    password login (and about one refresh per access-token lifetime).

    The hour passes in steps of ten simulated seconds, each once every run due so far has been
    handed out and has ended: the jobs due within a step run together on the four workers, and
    however busy the machine, a run takes no simulated time, so none is skipped because the
    machine was slow (on a clock scaled from real time, a loaded machine's slow runs overlapped
    their next turn)."""
    clock = ManualClock()
    sim = Simulator(SimConfig(), clock)
    h = Harness(tmp_path, sim, clock)
    endpoints = [
        "member/info",
        "constants/categories",
        "member/awards",
        "stats/member_recent_races",
        "stats/member_summary",
        "series/get",
        "car/get",
        "track/get",
        "season/spectator_subsessionids",
        "series/seasons",
    ]
    lines = ["jobs:"]
    for n in range(20):
        every = ["1m", "2m", "3m", "5m", "10m"][n % 5]
        lines.append(
            f"  job{n:02d}: {{endpoint: {endpoint_of(endpoints, n)}, every: {every}, jitter: 10s}}"
        )
    try:
        h.write("\n".join(lines) + "\n")
        end = clock.now() + 3600
        service = h.start(ServiceOptions(workers=4))
        while True:
            now = clock.now()

            def settled(now: float = now) -> bool:
                looked_at = service.scheduler.looked_at
                return looked_at is not None and looked_at >= now and not service.running

            wait_for(settled)
            if now >= end:
                break
            clock.advance(min(10.0, end - now))
        service.stop()
        recorded = runs(h.runtime)
        state = sim.state()
        assert max(h.most_at_once.values()) == 1
        assert not [r for r in recorded if r["status"] == "running"]
        assert len(recorded) == len(service.outcomes) + len(
            [r for r in recorded if "still running" in str(r["error"])]
        )
        assert state["data"].get("rate_limited", 0) == 0
        assert state["password_grants"] == 1
        assert 4 <= state["refreshes"] <= 8
        by_status = Counter(str(r["status"]) for r in recorded)
        assert by_status["success"] >= 0.95 * len(recorded)
        print(
            f"simulated hour: {len(recorded)} runs {dict(by_status)}, "
            f"{state['data']['requests']} /data requests, 429s "
            f"{state['data'].get('rate_limited', 0)}, password grants "
            f"{state['password_grants']}, refreshes {state['refreshes']}"
        )
    finally:
        h.close()


def endpoint_of(endpoints: list[str], n: int) -> str:
    return endpoints[n % len(endpoints)]


# -- the loop on harvester's clock -----------------------------------------------------------


@pytest.mark.parametrize("now", [1796668591.8474338, 1796668591.0, 1796668591.5])
def test_a_job_due_at_start_up_fires_as_startup_whatever_the_microseconds(now: float) -> None:
    """`now` as a datetime reads back a hair later for about 4 instants in 10 (this one
    included): a never-run job was then recorded "schedule", not "startup"."""
    clock = ManualClock(now)
    due: list[tuple[str, str]] = []
    scheduler = JobScheduler(clock, due.extend)
    spec = JobSpec(name="info", endpoint="member/info", schedule=Schedule(every=600))
    cron = JobSpec(
        name="daily", endpoint="constants/categories", schedule=Schedule(cron="* * * * *")
    )
    scheduler.start()
    try:
        scheduler.sync({"info": spec}, {}, reason="startup")
        wait_for(lambda: len(due) == 1)
        assert due == [("info", "startup")]
        scheduler.sync({"info": spec, "daily": cron}, {"info": now}, reason="reload")
        clock.advance(60)
        scheduler.wakeup()
        wait_for(lambda: len(due) == 2)
        assert due[1] == ("daily", "schedule")  # a cron job is due at its next minute
    finally:
        scheduler.shutdown()


def test_the_loop_fires_on_the_injected_clock_with_jitter_and_coalesces() -> None:
    clock = ManualClock(at("2026-01-01T00:00:00").timestamp())
    due: list[tuple[str, str, float]] = []
    scheduler = JobScheduler(
        clock, lambda look: due.extend((name, trigger, clock.now()) for name, trigger in look)
    )
    spec = JobSpec(name="info", endpoint="member/info", schedule=Schedule(every=600, jitter=30))
    scheduler.start()
    try:
        scheduler.sync({"info": spec}, {})
        wait_for(lambda: len(due) == 1)  # first run: now, unjittered
        clock.advance(600 + 30)
        scheduler.wakeup()
        wait_for(lambda: len(due) == 2)
        clock.advance(10 * 600)  # ten fire times missed: one call
        scheduler.wakeup()
        wait_for(lambda: len(due) == 3)
        following = scheduler.next_runs()["info"]  # in the future: nothing more is due
        assert following is not None and clock.now() < following <= clock.now() + 600 + 30
        assert len(due) == 3
        scheduler.schedule_retry("info", 60)
        clock.advance(61)
        scheduler.wakeup()
        wait_for(lambda: len(due) == 4)
        # a job added and due at once first fires as the sync's reason says (a reload here)
        assert [trigger for _, trigger, _ in due] == ["reload"] + ["schedule"] * 2 + ["retry"]
    finally:
        scheduler.shutdown()


def test_stop_leaves_no_thread_behind(harness: Harness, clock: ManualClock) -> None:
    before = set(threading.enumerate())
    harness.write("jobs:\n  info: {endpoint: member/info, every: 10m}\n")
    service = harness.start()
    wait_for(lambda: len(runs(harness.runtime, "status = 'success'")) == 1)
    service.stop()
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not left  # the loop and every worker have ended (none prints into a closed log)
