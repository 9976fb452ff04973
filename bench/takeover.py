"""(t) Takeover on PostgreSQL: how long until a standby replaces an active service that is
killed, frozen, frozen inside a write transaction, cut off behind a frozen proxy, has its
server sessions ended, or is partitioned away; and what a kill inside the refresh window costs.

Two `harvester start` processes harvest the simulator (a scaled clock: access tokens expire
every few real seconds, so refreshes are frequent) with the default lease
(HARVESTER_LEASE_SECONDS=10). Each case runs TRIALS times (2 with --quick): fault the active
service, time until another service holds the lease (for ended sessions: until the lease is
held again on a live connection, by either), undo the fault, and wait until the replaced service
is standby again by itself (a killed one is started again). Each case reports min/median/max
seconds (goal: every trial under 15 s) and, over all its trials, the writes a replaced service
made after its replacement, the services left stopped and the refresh tokens spent twice (the
simulator counts them).

The refresh window and the kills aimed at it: refresh_window.py.

The fault tools (a TCP proxy that freezes, a private PostgreSQL server, a network namespace)
are the failover tests' own, from tests/helpers.py, and so are their jobs. Needs a PostgreSQL server
(HARVESTER_BENCH_POSTGRES); the partition needs root and PostgreSQL's server binaries, and is
reported as not measured, with the reason, where it cannot run.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvester._core.clock import ScaledClock
from harvester._store.pg import WRITE_LOCK_KEY, application_names, libpq_url

from . import refresh_window
from .common import BenchError, Goal, Options, Result, scratch, start_service, wait_until
from .pg import require_server, scratch_database
from .pg import rows as pg_rows
from .refresh_window import ha_jobs

SCENARIO = "takeover"
GOAL = Goal("<", 15.0, "every < 15 s")
NONE = Goal("==", 0.0, "= 0", on="harvester")
NOW = "extract(epoch FROM clock_timestamp())"
CONNECTED = (
    "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.backend_pid "
    "AND abs(extract(epoch FROM a.backend_start) - l.backend_start) < 0.001)"
)
FRESH = (
    f"SELECT l.pid, l.term, l.backend_pid FROM service_lease l WHERE l.holder IS NOT NULL "
    f"AND l.expires_at > {NOW} AND {CONNECTED}"
)


def run(options: Options) -> list[Result]:
    require_server()
    trials = 2 if options.quick else 5
    results: list[Result] = []
    tallies: list[Tally] = []
    with (
        scratch(SCENARIO) as folder,
        scratch_database("harvester_bench_takeover", migrate=True) as url,
    ):
        services = Services(folder / "shared", url)
        for name in ("a", "b"):
            services.define(name, url, proxied=True)
        with services:
            for case in (
                "sigkill",
                "sigstop",
                "sigstop holding the write lock",
                "frozen proxy",
                "sessions terminated",
            ):
                tally = services.measure(case, trials)
                tallies.append(tally)
                results.append(tally.result())
        results.append(_partition(folder / "partition", trials, tallies))
    results += _totals(tallies)
    results += refresh_window.measure(options)
    return results


# -- the services and their faults ---------------------------------------------------------------


@dataclass
class Tally:
    case: str
    times: list[float] = field(default_factory=list)
    late_writes: int = 0  # rows a replaced service wrote after its replacement
    left_stopped: int = 0
    refresh_reuses: int = 0
    password_grants: int = 0
    note: str = ""

    def result(self) -> Result:
        if not self.times:
            return Result(SCENARIO, f"{self.case}: not measured", "s", None, note=self.note)
        return Result(
            SCENARIO,
            f"replaced after {self.case} (median of {len(self.times)})",
            "s",
            statistics.median(self.times),
            figure=max(self.times),
            figure_kind="diff",
            goal=GOAL,
            note=f"min {min(self.times):.1f} / median {statistics.median(self.times):.1f} / "
            f"max {max(self.times):.1f} s; writes after replacement {self.late_writes}, "
            f"left stopped {self.left_stopped}, refresh tokens spent twice "
            f"{self.refresh_reuses}, password logins {self.password_grants}"
            + (f"; {self.note}" if self.note else ""),
        )


class Services:
    """`harvester start` processes on one database (`define` them, then enter), each reaching
    it directly or through a TCP proxy of its own (the frozen-proxy case freezes the active
    one's), and the simulator they harvest."""

    def __init__(self, folder: Path, direct_url: str, sim_address: str | None = None) -> None:
        from harvester.simulator import RunningSimulator, SimConfig, Simulator

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.direct = direct_url  # what the bench reads
        self.clock = ScaledClock(120.0)
        self.sim = Simulator(SimConfig(chunk_size=25, latency=0.005), self.clock)
        everywhere = "0.0.0.0"  # noqa: S104 (a namespace reaches it over its veth link)
        self.server = RunningSimulator(self.sim, host=everywhere if sim_address else "127.0.0.1")
        if sim_address is not None:
            self.server.url = f"http://{sim_address}:{self.server.url.rsplit(':', 1)[1]}"
            self.sim.set_base_url(self.server.url)
        (folder / "jobs.yaml").write_text(ha_jobs())
        self.urls: dict[str, str] = {}
        self.prefixes: dict[str, list[str]] = {}
        self.proxies: dict[str, Any] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def define(
        self, name: str, url: str, prefix: list[str] | None = None, proxied: bool = False
    ) -> None:
        from tests.helpers import TcpProxy

        if proxied:
            self.proxies[name] = TcpProxy(_host_port(url))
            url = self.proxies[name].url_for(url)
        self.urls[name] = url
        self.prefixes[name] = prefix or []

    def __enter__(self) -> Services:
        self.server.start()
        first, *others = self.urls
        self.start(first)
        wait_until(lambda: self.holder() == self.processes[first].pid, 60)
        for name in others:
            self.start(name)
            wait_until(lambda n=name: self.standby(self.processes[n].pid), 60)  # type: ignore[misc]
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for proxy in self.proxies.values():
            proxy.close()
        self.server.stop()

    def start(self, name: str) -> None:
        from harvester._cli.demo import simulator_settings
        from tests.helpers import env_for

        settings = simulator_settings(self.folder, self.server.url, database_url=self.urls[name])
        env = env_for(settings)
        env.update(HARVESTER_CLOCK=self.clock.spec(), LOG_LEVEL="WARNING")
        self.processes[name] = start_service(
            env, self.folder, "--grace", "2", prefix=self.prefixes[name]
        )

    def restart(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGTERM)
        if process.wait(60) != 0:
            raise BenchError(f"service {name} stopped with status {process.returncode}")
        self.start(name)

    def harvesting(self, pid: int) -> None:
        """Until a run of `pid` finishes after now."""
        done = f"SELECT count(*) FROM runs WHERE pid = {pid} AND status = 'success'"
        before = self.rows(done)[0][0]
        wait_until(lambda: self.rows(done)[0][0] > before, 60)

    # -- reading the database --------------------------------------------------------------

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return pg_rows(self.direct, sql)

    def holder(self) -> int | None:
        found = self.rows(FRESH)
        return int(found[0][0]) if found else None

    def standby(self, pid: int) -> bool:
        return bool(self.rows(f"SELECT 1 FROM service WHERE id <> 1 AND pid = {pid}"))

    def runs_of(self, pid: int) -> list[tuple[Any, ...]]:
        return self.rows(f"SELECT id, status, finished_at FROM runs WHERE pid = {pid} ORDER BY id")

    # -- one case --------------------------------------------------------------------------

    def measure(self, case: str, trials: int) -> Tally:
        tally = Tally(case)
        counters = self.sim.oauth.counters
        reuses, grants = counters["refresh_reuses"], counters["password_grants"]
        for _ in range(trials):
            self._trial(case, tally)
        tally.refresh_reuses = counters["refresh_reuses"] - reuses
        tally.password_grants = counters["password_grants"] - grants
        return tally

    def _trial(self, case: str, tally: Tally) -> None:
        wait_until(lambda: self.holder() is not None, 60)
        pid = self.holder()
        name = next(n for n, p in self.processes.items() if p.pid == pid)
        other = "b" if name == "a" else "a"
        backend = int(self.rows(FRESH)[0][2])
        tag = str(self.rows("SELECT holder FROM service_lease")[0][0])
        assert pid is not None
        self.harvesting(pid)  # settled: a run of the active one finishes first
        started = self._fault(case, name, tag)

        def replaced() -> bool:
            found = self.rows(FRESH)
            if not found:
                return False
            if case == "sessions terminated":  # either service, on a live connection again
                return int(found[0][2]) != backend
            return int(found[0][0]) == self.processes[other].pid

        wait_until(replaced, 120)
        tally.times.append(time.monotonic() - started)
        holder = self.holder()
        serving = "SELECT pid FROM service WHERE id = 1 AND stopped_at IS NULL"
        wait_until(lambda: self.rows(serving) == [(holder,)], 60)  # took over the old one's runs
        before = set(self.runs_of(pid))
        self._undo(case, name)
        if case == "sigkill":
            self.start(name)
        new_pid = self.processes[name].pid
        if holder != pid:  # replaced: it waits as standby again, by itself
            wait_until(lambda: self.standby(new_pid), 120)
            tally.late_writes += len(set(self.runs_of(pid)) ^ before)
        tally.left_stopped += sum(p.poll() is not None for p in self.processes.values())

    def _fault(self, case: str, name: str, tag: str) -> float:
        process = self.processes[name]
        if case == "sigkill":
            process.send_signal(signal.SIGKILL)
            started = time.monotonic()
            process.wait(30)
            return started
        if case == "sigstop":
            process.send_signal(signal.SIGSTOP)
            return time.monotonic()
        if case == "sigstop holding the write lock":
            return self._freeze_inside_a_write(process, tag)
        if case == "frozen proxy":
            self.proxies[name].freeze()
            return time.monotonic()
        if case == "sessions terminated":
            names = "', '".join(application_names(tag))
            started = time.monotonic()
            self.rows(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name IN ('{names}')"
            )
            return started
        raise BenchError(f"no such case: {case}")

    def _freeze_inside_a_write(self, process: subprocess.Popen[bytes], tag: str) -> float:
        names = "', '".join(application_names(tag))
        write_lock = (
            "SELECT a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            f"WHERE l.locktype = 'advisory' AND l.granted AND l.objid = {WRITE_LOCK_KEY} "
            f"AND a.application_name IN ('{names}')"
        )
        import psycopg

        with psycopg.connect(libpq_url(self.direct), autocommit=True) as watcher:
            seen: list[list[str]] = []

            def settled() -> bool:
                """Frozen, the transaction waits for a client that cannot answer, or it had
                committed already (then go on at once, before the lease could lapse)."""
                seen.append([str(state) for (state,) in watcher.execute(write_lock).fetchall()])
                return seen[-1] == [] or "idle in transaction" in seen[-1]

            for _ in range(500):
                wait_until(lambda: bool(watcher.execute(write_lock).fetchall()), 60)
                process.send_signal(signal.SIGSTOP)
                started = time.monotonic()
                with contextlib.suppress(BenchError):
                    wait_until(settled, 2)
                if seen and "idle in transaction" in seen[-1]:
                    return started
                process.send_signal(signal.SIGCONT)
        raise BenchError("never caught the active service inside a write transaction")

    def _undo(self, case: str, name: str) -> None:
        if case.startswith("sigstop"):
            self.processes[name].send_signal(signal.SIGCONT)
        elif case == "frozen proxy":
            self.proxies[name].heal()


# -- the partition --------------------------------------------------------------------------------


def _partition(folder: Path, trials: int, tallies: list[Tally]) -> Result:
    """The active service in a network namespace, reaching a server of the bench's own over a
    veth link that goes down; the standby on this host. Before each trial the host's service
    is restarted, so that the one in the namespace is the active one."""
    from tests.helpers import Netns, PrivateCluster, netns_unavailable, private_postgres_unavailable

    reason = netns_unavailable() or private_postgres_unavailable()
    if reason is not None:
        tally = Tally("a partition", note=f"could not run here: {reason}")
        tallies.append(tally)
        return tally.result()
    cluster = PrivateCluster(Path(tempfile.mkdtemp(prefix="harvester-pg-")), listen="*")
    space = Netns(f"hb{secrets.token_hex(3)}", secrets.randbelow(200) + 10)
    try:
        url = cluster.create_database("harvest")
        services = Services(folder, url, sim_address=space.host_ip)
        services.define("inside", cluster.url("harvest", host=space.host_ip), space.command())
        services.define("host", url)
        tally = Tally("a partition (network namespace, link down)")
        with services:
            counters = services.sim.oauth.counters
            reuses, grants = counters["refresh_reuses"], counters["password_grants"]
            inside, host = services.processes["inside"], services.processes["host"]
            for _ in range(trials):
                if services.holder() != inside.pid:
                    services.restart("host")  # its lease released: the one inside takes it
                    wait_until(lambda: services.holder() == inside.pid, 60)
                    host = services.processes["host"]
                    wait_until(lambda h=host.pid: services.standby(h), 60)  # type: ignore[misc]
                services.harvesting(inside.pid)
                space.partition()
                started = time.monotonic()
                try:
                    wait_until(lambda h=host.pid: services.holder() == h, 120)  # type: ignore[misc]
                    tally.times.append(time.monotonic() - started)
                finally:
                    space.heal()
                wait_until(lambda: services.standby(inside.pid), 120)
                tally.left_stopped += sum(p.poll() is not None for p in (inside, host))
            tally.refresh_reuses = counters["refresh_reuses"] - reuses
            tally.password_grants = counters["password_grants"] - grants
        tallies.append(tally)
        return tally.result()
    finally:
        space.destroy()
        cluster.destroy()


def _totals(tallies: list[Tally]) -> list[Result]:
    measured = [t for t in tallies if t.times]
    frozen = [t for t in measured if "sigstop" in t.case or "partition" in t.case]
    return [
        Result(
            SCENARIO,
            "writes by a replaced service after its replacement, all cases",
            "count",
            float(sum(t.late_writes for t in measured)),
            goal=NONE,
            note="run rows of the replaced process created or changed after the takeover "
            "(the lease's fence refuses them)",
        ),
        Result(
            SCENARIO,
            "services left stopped, all cases",
            "count",
            float(sum(t.left_stopped for t in measured)),
            goal=NONE,
        ),
        Result(
            SCENARIO,
            "refresh tokens spent twice, SIGSTOP and partition cases",
            "count",
            float(sum(t.refresh_reuses for t in frozen)),
            goal=NONE,
            note=f"{sum(len(t.times) for t in frozen)} trials; counted by the simulator",
        ),
    ]


# -- helpers --------------------------------------------------------------------------------------


def _host_port(url: str) -> tuple[str, int]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432
