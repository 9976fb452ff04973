"""Active/standby under what production does to it, on a real PostgreSQL: `harvester start`
processes whose active one is frozen (SIGSTOP), frozen while it holds the write lock, has its
sessions terminated, loses its database behind a proxy the test freezes or cuts, is partitioned
by a network namespace, or sees the server restart. In every case one service is active within
the lease's bound, the replaced one writes nothing more and goes back to standby by itself, no
process is left stopped, and no refresh token is spent twice.

The lease is 5 s here (HARVESTER_LEASE_SECONDS) so the suite waits less; the takeover bound is
the lease plus a standby's poll (docs/high-availability.md), checked generously (3x)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from harvester._core.clock import ScaledClock
from harvester._store.pg import WRITE_LOCK_KEY, application_names
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from tests.helpers import (
    HA_JOBS,
    Netns,
    PrivateCluster,
    TcpProxy,
    db_rows,
    env_for,
    make_settings,
    start_harvester,
    wait_for,
)

LEASE = 5.0
BOUND = 3 * (LEASE + 1.0)  # the lease, a standby's poll; three times over for a loaded machine
NOW = "extract(epoch FROM clock_timestamp())"
HOLDER = f"SELECT pid FROM service_lease WHERE holder IS NOT NULL AND expires_at > {NOW}"

pytestmark = pytest.mark.slow


class Harvest:
    """A simulator on a scaled clock (a real second is two simulated minutes: access tokens
    expire every 5 real seconds, so refreshes are frequent) and `harvester start` processes on
    one database, each started with its own environment."""

    def __init__(self, folder: Path, database_url: str, sim_address: str | None = None) -> None:
        self.folder = folder
        self.database_url = database_url  # the test's own view (direct)
        self.clock = ScaledClock(120.0)
        self.sim = Simulator(SimConfig(chunk_size=25, latency=0.005), self.clock)
        # on every address when the services reach it at `sim_address` (a namespace's link)
        everywhere = "0.0.0.0"  # noqa: S104 (the namespace reaches it over its veth link)
        self.server = RunningSimulator(self.sim, host=everywhere if sim_address else "127.0.0.1")
        if sim_address is not None:
            self.server.url = f"http://{sim_address}:{self.server.url.rsplit(':', 1)[1]}"
            self.sim.set_base_url(self.server.url)
        self.server.start()
        (folder / "jobs.yaml").write_text(HA_JOBS)
        self.processes: list[subprocess.Popen[str]] = []
        self.logs: dict[int, list[str]] = {}
        self._readers: list[threading.Thread] = []

    def env(self, database_url: str | None = None, http_port: int | None = None) -> dict[str, str]:
        settings = make_settings(
            self.folder, self.server.url, database_url=database_url or self.database_url
        )
        env = env_for(settings)
        env["HARVESTER_CLOCK"] = self.clock.spec()
        env["HARVESTER_LEASE_SECONDS"] = str(LEASE)
        if http_port is not None:
            env["HARVESTER_HTTP"] = f"0.0.0.0:{http_port}"
            env["HARVESTER_HTTP_TOKEN"] = "test-token-for-the-endpoint"
        return env

    def start(
        self,
        database_url: str | None = None,
        http_port: int | None = None,
        prefix: list[str] | None = None,
    ) -> subprocess.Popen[str]:
        env = self.env(database_url, http_port)
        if prefix:
            process = subprocess.Popen(
                [*prefix, sys.executable, "-m", "harvester", "start", "--grace", "2"],
                env=env,
                cwd=self.folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        else:
            process = start_harvester(
                "start", "--grace", "2", env=env, cwd=self.folder, output=True
            )
        self.processes.append(process)
        lines: list[str] = []
        self.logs[process.pid] = lines
        stream = process.stderr
        assert stream is not None
        reader = threading.Thread(target=lambda: lines.extend(stream), daemon=True)
        reader.start()
        self._readers.append(reader)
        return process

    def events(self, process: subprocess.Popen[str], event: str) -> list[dict[str, Any]]:
        found = []
        for line in list(self.logs[process.pid]):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == event:
                    found.append(record)
        return found

    def active(self) -> int | None:
        rows = db_rows(self.database_url, HOLDER)
        return int(rows[0][0]) if rows else None

    def standby(self, process: subprocess.Popen[str]) -> bool:
        query = f"SELECT 1 FROM service WHERE id <> 1 AND pid = {process.pid}"
        return bool(db_rows(self.database_url, query))

    def tag_of_active(self) -> str:
        return str(db_rows(self.database_url, "SELECT holder FROM service_lease")[0][0])

    def sessions_of(self, tag: str) -> int:
        names = "', '".join(application_names(tag))
        query = f"SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('{names}')"
        return int(db_rows(self.database_url, query)[0][0])

    def runs_of(self, process: subprocess.Popen[str]) -> list[tuple[Any, ...]]:
        return db_rows(
            self.database_url,
            f"SELECT id, status, finished_at FROM runs WHERE pid = {process.pid} ORDER BY id",
        )

    def finished_runs_of(self, process: subprocess.Popen[str]) -> int:
        query = f"SELECT count(*) FROM runs WHERE pid = {process.pid} AND status = 'success'"
        return int(db_rows(self.database_url, query)[0][0])

    def stop_all(self) -> list[int | None]:
        """SIGTERM (after SIGCONT) every process still running; their exit codes."""
        codes: list[int | None] = []
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            codes.append(process.returncode)
        return codes

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
        for reader in self._readers:  # each ends at its process's end of output
            reader.join(10)
        for process in self.processes:
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self.server.stop()


@pytest.fixture
def harvest(tmp_path: Path, postgres_url: str) -> Iterator[Harvest]:
    running = Harvest(tmp_path, postgres_url)
    try:
        yield running
    finally:
        running.close()


def two_services(
    harvest: Harvest, first_url: str | None = None, standby_url: str | None = None, **first: Any
) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """An active service that has finished a run, and a standby beside it."""
    active = harvest.start(first_url, **first)
    wait_for(lambda: harvest.active() == active.pid, timeout=60)
    wait_for(lambda: harvest.finished_runs_of(active) >= 1, timeout=60)
    standby = harvest.start(standby_url)
    wait_for(lambda: harvest.standby(standby), timeout=60)
    return active, standby


def settle(harvest: Harvest, new: subprocess.Popen[str], old: subprocess.Popen[str]) -> None:
    """After a takeover: the new active one harvests, the old one waits as standby, and both
    stop with status 0."""
    before = harvest.finished_runs_of(new)
    wait_for(lambda: harvest.finished_runs_of(new) > before, timeout=60)
    wait_for(lambda: harvest.standby(old), timeout=60)
    assert harvest.active() == new.pid
    assert old.poll() is None and new.poll() is None  # nobody left stopped
    assert harvest.stop_all() == [0, 0]
    assert harvest.sim.oauth.counters["refresh_reuses"] == 0


def test_a_frozen_active_service_is_replaced_and_writes_nothing_when_it_thaws(
    harvest: Harvest,
) -> None:
    first, second = two_services(harvest)
    tag = harvest.tag_of_active()
    frozen_at = time.monotonic()
    first.send_signal(signal.SIGSTOP)
    wait_for(lambda: harvest.active() == second.pid, timeout=60)
    took = time.monotonic() - frozen_at
    # ended by the new active one (pg_terminate_backend signals; the backend exits soon after)
    wait_for(lambda: harvest.sessions_of(tag) == 0, timeout=30)
    wait_for(lambda: harvest.finished_runs_of(second) >= 1, timeout=60)
    # the frozen one's scheduled runs were taken over as interrupted: none is left running
    runs = harvest.runs_of(first)
    assert runs and all(status != "running" for _, status, _ in runs)
    first.send_signal(signal.SIGCONT)
    wait_for(lambda: bool(harvest.events(first, "lease.lost")), timeout=60)
    wait_for(lambda: harvest.standby(first), timeout=60)  # back to waiting, by itself
    assert harvest.runs_of(first) == runs  # it wrote nothing after it was replaced
    print(f"a frozen active service replaced after {took:.1f} s (lease {LEASE:g} s)")
    assert took < BOUND
    settle(harvest, second, first)


NOW = "SELECT extract(epoch FROM clock_timestamp())"  # the server's clock, as the lease's


def test_a_frozen_active_service_holding_the_write_lock_is_replaced(
    harvest: Harvest,
) -> None:
    """Frozen inside a write transaction: every writer waits on its write lock. The standby
    does not (its loop takes no write lock: its /healthz stays 200), takes over once the lease
    lapses, and ends the frozen one's sessions, which frees the write lock."""
    port = free_port()
    first = harvest.start()
    wait_for(lambda: harvest.active() == first.pid, timeout=60)
    wait_for(lambda: harvest.finished_runs_of(first) >= 1, timeout=60)
    second = harvest.start(http_port=port)
    wait_for(lambda: harvest.standby(second), timeout=60)
    tag = harvest.tag_of_active()
    names = "', '".join(application_names(tag))
    write_lock = (
        "SELECT a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        f"WHERE l.locktype = 'advisory' AND l.granted AND l.objid = {WRITE_LOCK_KEY} "
        f"AND a.application_name IN ('{names}')"
    )
    with psycopg.connect(harvest.database_url, autocommit=True) as watcher:

        def holder_states() -> list[str]:
            return [str(state) for (state,) in watcher.execute(write_lock).fetchall()]

        def renewed_since(moment: float) -> bool:
            row = watcher.execute("SELECT renewed_at FROM service_lease").fetchone()
            return row is not None and row[0] is not None and float(row[0]) > moment

        seen: list[list[str]] = []

        def settled() -> bool:
            """Once the client is frozen, a statement the server was running ends: either the
            transaction waits for a client that cannot answer, or it had committed already."""
            seen.append(holder_states())
            return seen[-1] == [] or "idle in transaction" in seen[-1]

        for _ in range(200):  # catch it inside a write transaction, then freeze it there
            wait_for(lambda: bool(holder_states()), timeout=60)
            first.send_signal(signal.SIGSTOP)
            frozen_at = time.monotonic()
            with contextlib.suppress(AssertionError):
                wait_for(settled, timeout=2)
            if seen and "idle in transaction" in seen[-1]:
                break
            # it had committed already: go on at once, and try again once it has renewed its
            # lease (freezes one after another must not add up to a lapse)
            resumed = float(watcher.execute(NOW).fetchone()[0])  # type: ignore[index]
            first.send_signal(signal.SIGCONT)
            wait_for(partial(renewed_since, resumed), timeout=60)
        else:
            pytest.fail("never caught the active service inside a write transaction")
        health = healthz(port)  # the standby is not held up by the frozen one's lock
        assert (health.status_code, health.json()["role"]) == (200, "standby")
        wait_for(lambda: harvest.active() == second.pid, timeout=60)
        took = time.monotonic() - frozen_at
        # it goes with its session
        wait_for(lambda: holder_states() == [], timeout=30)
    wait_for(lambda: harvest.sessions_of(tag) == 0, timeout=30)
    first.send_signal(signal.SIGCONT)
    print(f"a frozen holder of the write lock replaced after {took:.1f} s")
    assert took < BOUND
    settle(harvest, second, first)


def test_terminated_sessions_leave_the_service_harvesting(harvest: Harvest) -> None:
    """A lone service whose every server session is ended (pg_terminate_backend, a database
    restart looks the same from here) keeps or takes back the lease and goes on: it never
    exits, nor stays stopped."""
    only = harvest.start()
    wait_for(lambda: harvest.active() == only.pid, timeout=60)
    for _ in range(3):
        tag = harvest.tag_of_active()
        names = "', '".join(application_names(tag))
        ended = db_rows(
            harvest.database_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE application_name IN ('{names}')",
        )
        assert ended
        before = harvest.finished_runs_of(only)
        wait_for(lambda n=before: harvest.finished_runs_of(only) > n, timeout=60)  # type: ignore[misc]
        assert harvest.active() == only.pid
    assert only.poll() is None
    assert harvest.stop_all() == [0]


def test_a_frozen_database_proxy_replaces_the_active_service_it_cuts_off(
    harvest: Harvest, database_proxy: tuple[TcpProxy, str]
) -> None:
    """The active service reaches the database through a proxy that freezes (its sessions stay
    open on the server, its statements never arrive): the standby takes over when the lease
    lapses; the cut-off one stops writing by its own clock, and its /healthz says 503 with the
    reason, not 500, while its database does not answer."""
    proxy, through_proxy = database_proxy
    port = free_port()
    first, second = two_services(harvest, through_proxy, http_port=port)
    frozen_at = time.monotonic()
    proxy.freeze()
    wait_for(lambda: harvest.active() == second.pid, timeout=60)
    took = time.monotonic() - frozen_at
    wait_for(lambda: bool(harvest.events(first, "lease.lost")), timeout=60)
    health = healthz(port)
    assert health.status_code == 503  # never 500
    body = health.json()
    assert body["role"] != "active"
    wait_for(
        lambda: "the database does not answer" in " ".join(healthz(port).json()["reasons"]),
        timeout=60,
    )
    proxy.heal()
    wait_for(lambda: healthz(port).json()["role"] == "standby", timeout=60)
    # healthy again once the read stuck behind the freeze has ended (until then: 503, why)
    wait_for(lambda: healthz(port).status_code == 200, timeout=60)
    print(f"cut off behind a frozen proxy: replaced after {took:.1f} s")
    assert took < BOUND
    settle(harvest, second, first)


def test_a_lone_service_waits_out_an_unreachable_database_and_takes_back_over(
    harvest: Harvest, database_proxy: tuple[TcpProxy, str]
) -> None:
    """The database unreachable for a while (connections reset, new ones refused): the service
    steps down, answers 503 with the reason, waits as standby, and becomes active again when
    the database is back; it never exits."""
    proxy, through_proxy = database_proxy
    port = free_port()
    only = harvest.start(through_proxy, http_port=port)
    wait_for(lambda: harvest.active() == only.pid, timeout=60)
    wait_for(lambda: (answers(port) or {}).get("status_code") == 200, timeout=60)
    proxy.cut()
    wait_for(lambda: bool(harvest.events(only, "service.back_to_standby")), timeout=60)
    health = healthz(port)
    assert health.status_code == 503
    assert any("the database does not answer" in r for r in health.json()["reasons"])
    proxy.heal()
    wait_for(lambda: harvest.active() == only.pid, timeout=60)
    before = harvest.finished_runs_of(only)
    wait_for(lambda: harvest.finished_runs_of(only) > before, timeout=60)
    wait_for(lambda: healthz(port).status_code == 200, timeout=60)
    assert only.poll() is None
    assert harvest.stop_all() == [0]


def test_a_database_restart_leaves_one_service_active(
    tmp_path: Path, private_postgres: PrivateCluster
) -> None:
    url = private_postgres.create_database("harvest")
    running = Harvest(tmp_path, url)
    try:
        first, second = two_services(running)
        private_postgres.restart()
        wait_for(lambda: running.active() in (first.pid, second.pid), timeout=60)
        active = first if running.active() == first.pid else second
        other = second if active is first else first
        settle(running, active, other)
    finally:
        running.close()


def test_a_switchover_to_the_promoted_replica_leaves_one_service_active(
    tmp_path: Path, private_postgres: PrivateCluster, private_replica: PrivateCluster
) -> None:
    """The primary stops, its streaming replica is promoted, and the address the services use
    (a proxy here, a virtual IP or DNS name in production) moves to it: the lease row came
    along by replication, one service is active on the new primary, nobody exits."""
    url = private_postgres.create_database("harvest")
    proxy = TcpProxy(("127.0.0.1", private_postgres.port))
    running = Harvest(tmp_path, url)
    try:
        first, second = two_services(running, proxy.url_for(url), proxy.url_for(url))
        private_postgres.stop()
        private_replica.promote()
        proxy.retarget(("127.0.0.1", private_replica.port))
        running.database_url = private_replica.url("harvest")
        wait_for(lambda: running.active() in (first.pid, second.pid), timeout=60)
        active = first if running.active() == first.pid else second
        other = second if active is first else first
        settle(running, active, other)
    finally:
        running.close()
        proxy.close()


def test_a_partitioned_active_service_is_replaced_and_steps_down_on_its_own(
    tmp_path: Path, private_postgres: PrivateCluster, netns: Netns
) -> None:
    """The active service runs in a network namespace whose link is taken down (packets
    vanish: no reset, no FIN). The standby takes over when the lease lapses; the cut-off one
    has stepped down by its own clock before the link comes back, so it never answers as
    active beside the new one."""
    url = private_postgres.create_database("harvest")
    running = Harvest(tmp_path, url, sim_address=netns.host_ip)
    try:
        inside_url = private_postgres.url("harvest", host=netns.host_ip)
        port = free_port()
        first = running.start(inside_url, http_port=port, prefix=netns.command())
        wait_for(lambda: running.active() == first.pid, timeout=60)
        wait_for(lambda: running.finished_runs_of(first) >= 1, timeout=60)
        second = running.start()
        wait_for(lambda: running.standby(second), timeout=60)
        cut_at = time.monotonic()
        netns.partition()
        wait_for(lambda: running.active() == second.pid, timeout=60)
        took = time.monotonic() - cut_at
        wait_for(lambda: bool(running.events(first, "lease.lost")), timeout=60)
        netns.heal()
        health = httpx.get(f"http://{netns.ns_ip}:{port}/healthz", timeout=10)
        assert health.json()["role"] != "active"  # not active beside the new one, ever
        print(f"a partitioned active service replaced after {took:.1f} s")
        assert took < BOUND
        settle(running, second, first)
    finally:
        running.close()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthz(port: int, host: str = "127.0.0.1") -> httpx.Response:
    return httpx.get(f"http://{host}:{port}/healthz", timeout=10)


def answers(port: int, host: str = "127.0.0.1") -> dict[str, Any] | None:
    """The /healthz body with its status, or None while nothing listens there yet."""
    try:
        response = healthz(port, host)
    except httpx.TransportError:
        return None
    return {"status_code": response.status_code, **response.json()}
