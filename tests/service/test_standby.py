"""Active/standby on PostgreSQL: two `harvester start` on one database for a simulated hour. One
is active, the other says it is standby; SIGKILL the active one and the standby takes over
within seconds, marks the runs it left `running` interrupted, fetches nothing twice and never
spends a refresh token twice; every run names its host and pid."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, update
from sqlalchemy.exc import OperationalError

from harvester._core.clock import Clock, ManualClock, ScaledClock, SystemClock, iso_seconds
from harvester._core.errors import LostActiveLock
from harvester._observe.reports import service_info
from harvester._service.runtime import open_runtime
from harvester._service.service import Service, ServiceOptions
from harvester._store import db
from harvester._store.lease import LeaseLock
from harvester._store.models import ServiceState
from harvester.simulator import RunningSimulator, SimConfig, Simulator, SimulatorTransport
from tests.helpers import (
    HA_JOBS,
    HeldRequest,
    db_rows,
    env_for,
    make_settings,
    run_harvester,
    server_of,
    start_harvester,
    wait_for,
    watch_of,
)

HOUR = 3600.0
ACTIVE = "SELECT pid FROM service WHERE id = 1 AND stopped_at IS NULL"


def start(env: dict[str, str], folder: Path) -> subprocess.Popen[str]:
    return start_harvester("start", "--grace", "2", env=env, cwd=folder)


def status(env: dict[str, str], folder: Path) -> dict[str, object]:
    done = run_harvester("status", "--format", "json", env=env, cwd=folder, timeout=60)
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


@pytest.mark.slow
def test_two_services_for_a_simulated_hour_and_a_takeover(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ScaledClock(120.0)  # a real second is two simulated minutes
    sim = Simulator(SimConfig(chunk_size=25, latency=0.005), clock)
    held = HeldRequest(sim.store.handle)
    monkeypatch.setattr(sim.store, "handle", held)
    began = clock.now()
    with RunningSimulator(sim) as server:
        (tmp_path / "jobs.yaml").write_text(HA_JOBS)
        env = env_for(make_settings(tmp_path, server.url, database_url=postgres_url))
        env["HARVESTER_CLOCK"] = clock.spec()
        first = start(env, tmp_path)
        second: subprocess.Popen[str] | None = None
        try:
            wait_for(lambda: db_rows(postgres_url, ACTIVE) == [(first.pid,)], timeout=60)
            second = start(env, tmp_path)
            standby = f"SELECT 1 FROM service WHERE id <> 1 AND pid = {second.pid}"
            wait_for(lambda: bool(db_rows(postgres_url, standby)), timeout=60)
            seen = status(env, tmp_path)
            assert seen["role"] == "active" and seen["pid"] == first.pid
            assert f"pid {second.pid}" in str(seen["standby"])
            # the standby runs nothing while the active one harvests
            mine = f"SELECT count(*) FROM runs WHERE pid = {second.pid}"
            running = f"SELECT 1 FROM runs WHERE status = 'running' AND pid = {first.pid}"
            wait_for(lambda: bool(db_rows(postgres_url, running)), timeout=60)
            assert db_rows(postgres_url, mine) == [(0,)]
            held.arm()  # the kill lands in a download, certainly inside a run
            assert held.reached.wait(60), "no run downloaded anything"
            # the held run lasts: written as running by then (a plain run is written with its
            # result, or as running once it outlasts a second)
            wait_for(lambda: bool(db_rows(postgres_url, running)), timeout=60)
            killed_at = time.monotonic()
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            held.release.set()
            wait_for(lambda: db_rows(postgres_url, ACTIVE) == [(second.pid,)], timeout=60)
            takeover = time.monotonic() - killed_at
            left = f"SELECT count(*) FROM runs WHERE status = 'running' AND pid = {first.pid}"
            assert db_rows(postgres_url, left) == [(0,)]  # marked as the standby took over
            seen = status(env, tmp_path)
            assert seen["role"] == "active" and seen["pid"] == second.pid
            wait_for(lambda: clock.now() >= began + HOUR, timeout=120)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
    print(f"takeover after SIGKILL of the active service: {takeover:.2f} s")
    assert takeover < 15
    assert db_rows(postgres_url, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]
    killed = f"SELECT count(*) FROM runs WHERE status = 'interrupted' AND pid = {first.pid}"
    interrupted = db_rows(postgres_url, killed)
    assert interrupted[0][0] >= 1  # the run it was in when killed
    hosts = db_rows(postgres_url, "SELECT DISTINCT host, pid FROM runs WHERE status <> 'skipped'")
    assert {pid for _, pid in hosts} == {first.pid, second.pid}
    assert {host for host, _ in hosts} == {socket.gethostname()}
    fetched = Counter(
        str(json.loads(str(params))["subsession_id"])
        for (params,) in db_rows(
            postgres_url, "SELECT params FROM results WHERE job = 'details' AND part = 0"
        )
    )
    assert fetched and max(fetched.values()) == 1  # nothing fetched twice
    assert sim.oauth.counters["refresh_reuses"] == 0  # no refresh token spent twice
    assert sim.oauth.counters["refreshes"] >= 1  # the hour outlived access tokens (10 min)
    assert sim.oauth.counters["password_grants"] == 1  # the session was shared, not redone


# -- in-process services on one database: the endpoint while standby, dead rows, fencing -------


class InProcess:
    """A `harvester start` in this process (its own runtime, engine and lock connection) over
    the simulator, its endpoint on loopback; `begin` runs start() then serve() on a thread (a
    standby's start() waits there for the lock)."""

    def __init__(self, folder: Path, sim: Simulator, url: str, clock: Clock, port: int = 0) -> None:
        (folder / "jobs.yaml").write_text("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
        settings = make_settings(folder, sim.base_url, database_url=url, http=("127.0.0.1", port))
        self.runtime = open_runtime(settings, transport=SimulatorTransport(sim), clock=clock)
        self.service = Service(
            self.runtime, folder / "jobs.yaml", ServiceOptions(heartbeat_interval=0.05)
        )
        self._thread = threading.Thread(target=self._life, daemon=True)
        self._closed = False

    def _life(self) -> None:
        self.service.start()
        self.service.serve()

    def begin(self) -> InProcess:
        self._thread.start()
        return self

    def port(self) -> int:
        return int(server_of(self.service).port)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{server_of(self.service).url}{path}", timeout=10)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.service.request_stop()
        if self._thread.is_alive():
            self._thread.join(30)
        self.service.stop()
        self.runtime.close()


def active_gauge(response: httpx.Response) -> float:
    (family,) = [
        f
        for f in text_string_to_metric_families(response.text)
        if f.name == "harvester_service_active"
    ]
    return float(family.samples[0].value)


@pytest.fixture
def two(tmp_path: Path, postgres_url: str) -> Iterator[tuple[InProcess, InProcess, Simulator]]:
    clock = ManualClock()
    sim = Simulator(SimConfig(), clock)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = InProcess(tmp_path / "a", sim, postgres_url, clock)
    first.runtime.session.login()
    second = InProcess(tmp_path / "b", sim, postgres_url, clock)
    try:
        yield first, second, sim
    finally:
        for one in (second, first):
            one.close()


@pytest.mark.slow
def test_a_standby_serves_healthz_saying_so_then_the_same_server_turns_active(
    two: tuple[InProcess, InProcess, Simulator],
) -> None:
    first, second, _ = two
    first.begin()
    wait_for(lambda: first.service.role == "active" and len(first.service.outcomes) >= 1)
    second.begin()
    wait_for(lambda: second.service.role == "standby" and second.service.watch is not None)
    wait_for(lambda: watch_of(second.service)._beat is not None)
    health = second.get("/healthz")
    assert health.status_code == 200  # alive: a liveness probe must not restart it
    body = health.json()
    assert (body["status"], body["role"], body["ready"]) == ("standby", "standby", False)
    assert body["active"]["pid"] == os.getpid() and body["active"]["host"]
    assert body["reasons"] == []
    ready = second.get("/readyz")
    assert ready.status_code == 503  # a load balancer sends it nothing
    assert ready.json()["role"] == "standby"
    assert active_gauge(second.get("/metrics")) == 0
    # the active one: healthy and ready
    assert first.get("/readyz").status_code == 200
    assert first.get("/healthz").json()["role"] == "active"
    assert active_gauge(first.get("/metrics")) == 1
    port = server_of(second.service).port
    first.close()  # the active one stops: the standby takes the lock
    wait_for(lambda: second.service.role == "active" and second.service.observers != [])
    assert server_of(second.service).port == port  # the same server went on serving
    assert second.get("/readyz").status_code == 200
    body = second.get("/healthz").json()
    assert (body["role"], body["ready"]) == ("active", True)
    assert active_gauge(second.get("/metrics")) == 1


@pytest.mark.slow
def test_a_standby_whose_port_is_taken_goes_on_without_its_endpoint_and_binds_it_on_takeover(
    tmp_path: Path, postgres_url: str, log_stream: io.StringIO
) -> None:
    clock = ManualClock()
    sim = Simulator(SimConfig(), clock)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = InProcess(tmp_path / "a", sim, postgres_url, clock)
    first.runtime.session.login()
    first.begin()
    wait_for(lambda: first.service.role == "active" and first.service.watch is not None)
    port = server_of(first.service).port
    second = InProcess(tmp_path / "b", sim, postgres_url, clock, port)
    try:
        second.begin()
        wait_for(
            lambda: second.service.role == "standby" and "web.unavailable" in log_stream.getvalue()
        )
        assert second.service.watch is None
        (line,) = [
            json.loads(x) for x in log_stream.getvalue().splitlines() if "web.unavailable" in x
        ]
        assert line["role"] == "standby" and "cannot listen there" in line["reason"]
        assert first.get("/healthz").json()["role"] == "active"  # the port stays the active one's
        first.close()
        wait_for(lambda: second.service.role == "active" and second.service.watch is not None)
        assert second.port() == port
        assert second.get("/readyz").status_code == 200
    finally:
        second.close()
        if first._thread.is_alive():
            first.close()


def test_dead_standby_rows_are_not_listed_and_the_active_heartbeat_deletes_them(
    tmp_path: Path, postgres_url: str
) -> None:
    clock = SystemClock()
    sim = Simulator(SimConfig(), clock)
    active = InProcess(tmp_path, sim, postgres_url, clock)
    active.runtime.session.login()
    engine = active.runtime.engine
    now = clock.now()
    standby = {"role": "standby", "heartbeat_seconds": 10.0}
    with db.write(engine) as conn:  # the rows two standbys wrote; one was SIGKILLed an hour ago
        for row, pid, beat in ((7, 4242, now - 3600), (8, 4343, now - 5)):
            conn.execute(
                insert(ServiceState).values(
                    id=row,
                    pid=pid,
                    host="hostb",
                    started_at=iso_seconds(now - 7200),
                    heartbeat_at=iso_seconds(beat),
                    state=json.dumps(standby),
                )
            )
    try:
        info = service_info(engine, postgres_url, clock)
        assert info.standbys == ("hostb pid 4343",)  # the dead one is not listed
        active.begin()
        wait_for(lambda: db_rows(postgres_url, "SELECT id FROM service WHERE id <> 1") == [(8,)])
    finally:
        active.close()


def lease_backend(one: InProcess) -> int:
    """The server process of the service's lease connection."""
    connection = one.service.lock._connection  # type: ignore[attr-defined]
    return int(connection.info.backend_pid)


def end_lease_connection(one: InProcess, postgres_url: str) -> None:
    """End the service's lease connection for good: the server session is terminated and the
    service cannot open another (as a host cut off from the database), so the lease is free
    for a standby at once, and its holder cannot renew it."""

    def unreachable() -> None:
        raise OperationalError("connect", None, Exception("the database is unreachable"))

    one.service.lock._lease_connection = unreachable  # type: ignore[attr-defined]
    backend = lease_backend(one)
    assert db_rows(postgres_url, f"SELECT pg_terminate_backend({backend})") == [(True,)]


@pytest.mark.slow
def test_an_active_service_whose_lease_is_taken_writes_nothing_more_and_steps_down(
    two: tuple[InProcess, InProcess, Simulator], postgres_url: str
) -> None:
    """Its lease connection ended (pg_terminate_backend) and cannot come back: the lease is free
    at once, the standby takes it (and ends the old holder's sessions), and from that instant the
    old one's writes are refused; it steps down by its own clock (no renewal in time)."""
    first, second = two[0], two[1]
    first.begin()
    wait_for(lambda: first.service.role == "active" and len(first.service.outcomes) >= 1)
    second.begin()
    wait_for(lambda: second.service.role == "standby")
    lost_at = time.monotonic()
    end_lease_connection(first, postgres_url)
    wait_for(lambda: second.service.role == "active" and second.service.observers != [])
    # the fence: from the moment the lease is another's, its writes are refused
    with pytest.raises(LostActiveLock), db.write(first.runtime.engine) as conn:
        conn.execute(update(ServiceState).where(ServiceState.id == 1).values(state="{}"))
    wait_for(lambda: first.service.role == "stepped_down", timeout=30)
    stepped_down = time.monotonic() - lost_at
    health = first.get("/healthz")
    assert health.status_code == 503 and "lost the active lock" in health.json()["reasons"][0]
    assert first.get("/readyz").status_code == 503
    assert active_gauge(first.get("/metrics")) == 0
    first.close()  # it leaves the new active one's row alone
    row = db_rows(postgres_url, "SELECT stopped_at, state, pid FROM service WHERE id = 1")
    assert row[0][0] is None and json.loads(str(row[0][1]))["role"] == "active"
    print(f"a lease taken over: writes refused at once, stepped down after {stepped_down:.2f} s")


def test_a_service_stopped_after_losing_its_lease_unnoticed_stops_cleanly(
    two: tuple[InProcess, InProcess, Simulator], postgres_url: str
) -> None:
    """SIGTERM can come between the loss of the lease and the service's next look at it: its
    stop then finds its writes refused, and ends as a stepped-down service, without raising and
    without touching the service row."""
    first, _, _ = two
    first.service.options = replace(first.service.options, lock_check=3600.0)  # never looks
    first.begin()
    wait_for(lambda: first.service.role == "active" and len(first.service.outcomes) >= 1)
    other = db.create_db_engine(postgres_url)
    taker = LeaseLock(other, ttl=60)
    try:
        end_lease_connection(first, postgres_url)
        wait_for(taker.try_acquire, timeout=30)  # free once that connection is gone
        assert first.service.role == "active"  # it has not noticed
        first.close()
        assert first.service.role == "stepped_down"
        row = db_rows(postgres_url, "SELECT stopped_at FROM service WHERE id = 1")
        assert row == [(None,)]  # its stop wrote nothing
    finally:
        taker.release()
        other.dispose()
