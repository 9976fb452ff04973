"""The takeover scenario's refresh window: the time from sending a refresh grant to having
committed its rotated tokens (where a kill loses them, and costs one password login), measured
over many refreshes against the simulator over loopback HTTP on SQLite and PostgreSQL; the
chance that a kill at a random moment lands in it is that window over the time between refreshes
(540 s: a 600 s access token refreshed 60 s early). Then random SIGKILLs of a harvesting service,
and SIGKILLs aimed inside the window and just after it, count the refresh tokens actually spent
twice (the simulator counts them)."""

from __future__ import annotations

import random
import signal
import statistics
import time
from pathlib import Path
from typing import Any

from harvester._core.clock import ManualClock, ScaledClock

from .common import BenchError, Options, Result, scratch, sim_settings, start_service, wait_until
from .pg import rows as pg_rows
from .pg import scratch_database

SCENARIO = "takeover"
NOW = "extract(epoch FROM clock_timestamp())"
REFRESH_INTERVAL = 540.0  # seconds between refreshes of a running service (600 s tokens, 60 early)


def ha_jobs() -> str:
    """The failover tests' jobs: a search, its fan-out, a quick direct job."""
    from tests.helpers import HA_JOBS

    return HA_JOBS


def measure(options: Options) -> list[Result]:
    """The window on SQLite and PostgreSQL, then the kills: random, and aimed in and after it."""
    refreshes = 50 if options.quick else 300
    results = []
    with (
        scratch(SCENARIO) as folder,
        scratch_database("harvester_bench_window", migrate=True) as pg_url,
    ):
        for label, url in (
            ("SQLite", f"sqlite:///{folder / 'window.db'}"),
            ("PostgreSQL", pg_url),
        ):
            windows = _windows(folder / label, url, refreshes)
            median = statistics.median(windows)
            results.append(
                Result(
                    SCENARIO,
                    f"refresh window on {label}: token sent to rotated tokens committed",
                    "ms",
                    median * 1000,
                    note=f"{refreshes} refreshes against the simulator over loopback HTTP; "
                    f"p99 {_percentile(windows, 0.99) * 1000:.1f} ms, max "
                    f"{max(windows) * 1000:.1f} ms; a kill at a random moment lands in it about "
                    f"once in {REFRESH_INTERVAL / median:,.0f} kills (a refresh every "
                    f"{REFRESH_INTERVAL:.0f} s) and costs one password login",
                )
            )
    results.append(_kill_campaign(5 if options.quick else 20))
    results += _aimed_kills(2 if options.quick else 5)
    return results


def _windows(folder: Path, url: str, refreshes: int) -> list[float]:
    from harvester._oauth.endpoint import TokenEndpoint
    from harvester._service.runtime import open_runtime
    from harvester.simulator import RunningSimulator, SimConfig, Simulator

    clock = ManualClock()
    windows: list[float] = []
    sent: list[float] = []
    post = TokenEndpoint.post

    def timed_post(self: TokenEndpoint, form: dict[str, str], attempts: int = 2) -> Any:
        if form.get("grant_type") == "refresh_token":
            sent.append(time.perf_counter())
        return post(self, form, attempts)

    with RunningSimulator(Simulator(SimConfig(), clock)) as server:
        settings = sim_settings(folder, server.url, database_url=url)
        with open_runtime(settings, clock=clock) as rt:
            rt.session.login()
            TokenEndpoint.post = timed_post  # type: ignore[method-assign]
            try:
                for _ in range(refreshes):
                    clock.advance(545)
                    rt.session.access_token()  # returns once the tokens are committed
                    windows.append(time.perf_counter() - sent[-1])
            finally:
                TokenEndpoint.post = post  # type: ignore[method-assign]
    return windows


def _kill_campaign(kills: int) -> Result:
    """SIGKILL a harvesting service at random moments (restarting it each time) and count
    the refresh tokens spent twice: each one was a kill inside the refresh window."""
    from harvester._cli.demo import simulator_settings
    from harvester.simulator import RunningSimulator, SimConfig, Simulator
    from tests.helpers import env_for

    rng = random.Random(7)
    clock = ScaledClock(120.0)  # a refresh every 4.5 real seconds
    sim = Simulator(SimConfig(chunk_size=25, latency=0.005), clock)
    with (
        scratch(SCENARIO) as folder,
        scratch_database("harvester_bench_kills", migrate=True) as url,
        RunningSimulator(sim) as server,
    ):
        (folder / "jobs.yaml").write_text(ha_jobs())
        env = env_for(simulator_settings(folder, server.url, database_url=url))
        env.update(HARVESTER_CLOCK=clock.spec(), LOG_LEVEL="WARNING")
        lived = 0.0
        for _ in range(kills):
            process = start_service(env, folder)
            try:
                holder = (
                    f"SELECT 1 FROM service_lease WHERE pid = {process.pid} AND {NOW} < expires_at"
                )
                wait_until(lambda q=holder: bool(pg_rows(url, q)), 60)  # type: ignore[misc]
                wait = rng.uniform(0.0, 9.0)  # two refreshes' time
                time.sleep(wait)
                lived += wait
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait(30)
        counters = sim.oauth.counters
        return Result(
            SCENARIO,
            f"refresh tokens spent twice after {kills} random SIGKILLs",
            "count",
            float(counters["refresh_reuses"]),
            note=f"{counters['refreshes']} refreshes in {lived:.0f} s of harvesting (a refresh "
            f"every 4.5 s, 120 times iRacing's rate), {counters['password_grants']} password "
            "logins; each token spent twice is a kill inside the refresh window",
        )


class _Aim:
    """In front of the simulator: holds the next refresh grant ("during"), or the next /data
    request after a refresh was answered ("after"), until released."""

    def __init__(self, sim: Any) -> None:
        import threading

        self.sim = sim
        self.oauth, self.data = sim.oauth.handle, sim.data.handle
        self.mode: str | None = None
        self.reached = threading.Event()
        self.release = threading.Event()
        self._answered = False
        sim.oauth.handle, sim.data.handle = self._oauth, self._data

    def arm(self, mode: str) -> None:
        self.reached.clear()
        self.release.clear()
        self._answered = False
        self.mode = mode

    def _oauth(self, request: Any) -> Any:
        refresh = b"grant_type=refresh_token" in (request.body or b"")
        if refresh and self.mode == "during":
            self.mode = None
            self.reached.set()
            self.release.wait(60)
        response = self.oauth(request)
        if refresh and self.mode == "after":
            self._answered = True
        return response

    def _data(self, request: Any) -> Any:
        if self.mode == "after" and self._answered:
            self.mode = None
            self.reached.set()
            self.release.wait(60)
        return self.data(request)


def _aimed_kills(kills: int) -> list[Result]:
    """SIGKILL a service inside the refresh window on purpose (its refresh grant sent, the
    answer not yet back), and just after it (the next /data request after the answer): the
    first costs a refresh token spent twice and one password login each time, the second
    nothing (the rotated tokens were committed before they were used)."""
    from harvester._cli.demo import simulator_settings
    from harvester.simulator import RunningSimulator, SimConfig, Simulator
    from tests.helpers import env_for

    results = []
    for mode, label in (("during", "inside the refresh window"), ("after", "just after it")):
        clock = ScaledClock(120.0)
        sim = Simulator(SimConfig(latency=0.005), clock)
        aim = _Aim(sim)
        with (
            scratch(SCENARIO) as folder,
            scratch_database("harvester_bench_aimed", migrate=True) as url,
            RunningSimulator(sim) as server,
        ):
            (folder / "jobs.yaml").write_text("jobs:\n  info: {endpoint: member/info, every: 1m}\n")
            env = env_for(simulator_settings(folder, server.url, database_url=url))
            env.update(HARVESTER_CLOCK=clock.spec(), LOG_LEVEL="WARNING")
            counters = sim.oauth.counters
            for number in range(kills + 1):  # the last start only shows what the kills cost
                process = start_service(env, folder)
                try:
                    ran = f"SELECT 1 FROM runs WHERE pid = {process.pid} AND status = 'success'"
                    wait_until(lambda q=ran: bool(pg_rows(url, q)), 60)  # type: ignore[misc]
                    if number < kills:
                        aim.arm(mode)
                        if not aim.reached.wait(60):
                            raise BenchError("no refresh came to aim at")
                finally:
                    process.send_signal(signal.SIGKILL)
                    process.wait(30)
                    aim.release.set()
            results.append(
                Result(
                    SCENARIO,
                    f"refresh tokens spent twice after {kills} SIGKILLs {label}",
                    "count",
                    float(counters["refresh_reuses"]),
                    note=f"{counters['password_grants']} password logins in all (the first "
                    "start's included)"
                    + (
                        ": each kill inside the window cost one token spent twice and one "
                        "password login"
                        if mode == "during"
                        else ": the rotated tokens were committed before they were used"
                    ),
                )
            )
    return results


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
