"""(d) Token economy: the OAuth grants a week of harvesting costs, across process restarts.

A simulator (default lifetimes: access token 600 s, refresh token 7 days, single use and
rotating) and harvester share one `ManualClock`, in-process (`SimulatorTransport`). harvester
runs a /data job every simulated minute for DAYS simulated days; nothing sleeps, the clock is
advanced. Along the way the process "restarts" RESTARTS times: the Runtime is closed and
`open_runtime` is called again on the same database, as a new process would (nothing kept in
memory; the session is read back from the database), after a downtime of seconds to hours.

Measured from the simulator's own counters: password grants (iRacing means one per client
start-up, ever: the goal is 1), refresh grants against the expected number (active time /
(access lifetime - the refresh buffer): a refresh is due every 540 s of use; the goal is
within ±10%), refresh tokens presented twice (the goal is 0).

The baseline is the reference client's behaviour, computed over the same call times: a password
login at every process start, and again whenever its access token has expired (no refresh, no
buffer: the count most favourable to it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harvester._config.jobs import JobSpec
from harvester._core.clock import ManualClock
from harvester._service.runtime import Runtime, open_runtime
from harvester.simulator import SimConfig, Simulator, SimulatorTransport

from .common import BenchError, Goal, Options, Result, scratch, sim_settings

SCENARIO = "tokens"
DAY = 86_400
CALL_EVERY = 60.0  # simulated seconds between /data calls
RESTARTS = 5
DOWNTIMES = (30.0, 300.0, 7200.0, 15.0, 1200.0)  # simulated seconds each restart takes
OFFSET = 137.0  # restarts fall off the minute grid and off the token's life cycle
JOB = JobSpec(name="bench_tokens", endpoint="constants/categories")
PASSWORD_GOAL = Goal("==", 1, "1 (harvester)", on="harvester")
REFRESH_GOAL = Goal("<=", 0.10, "within ±10% of expected")
REUSE_GOAL = Goal("==", 0, "0 (harvester)", on="harvester")


@dataclass(frozen=True)
class _Timeline:
    """When each call happens, and which process (0..RESTARTS) makes it."""

    calls: list[tuple[float, int]]
    active_seconds: float  # the processes' lifetimes, downtimes excluded
    duration: float


def run(options: Options) -> list[Result]:
    days = 1 if options.quick else 7
    clock = ManualClock()
    sim = Simulator(SimConfig(), clock)  # default lifetimes and rate limit
    timeline = _timeline(clock.now(), days * DAY)
    with scratch(SCENARIO) as folder:
        settings = sim_settings(folder, sim.base_url)
        failures = _harvest(
            timeline,
            clock,
            lambda: open_runtime(settings, transport=SimulatorTransport(sim), clock=clock),
        )
    state = sim.state()
    lifetime = sim.config.access_token_lifetime
    buffer = settings.token_refresh_buffer_seconds
    expected = timeline.active_seconds / (lifetime - buffer)
    refreshes = int(state["refreshes"])
    reference = _reference_logins(timeline, lifetime)
    data = state["data"]
    note = (
        f"{days} simulated day(s), {len(timeline.calls):,} runs of {JOB.endpoint} one every "
        f"{CALL_EVERY:g} s, {RESTARTS} restarts (downtimes {', '.join(f'{d:g}' for d in DOWNTIMES)}"
        f" s); {timeline.active_seconds / DAY:.2f} days active; /data answered "
        f"{data.get('ok', 0):,} ok, {data.get('unauthorized', 0)} 401; failed runs: {failures}"
    )
    if failures:
        raise BenchError(f"{failures} run(s) failed: {note}")
    return [
        Result(
            SCENARIO,
            "password grants (baseline: reference client, login per start/expiry)",
            "count",
            float(state["password_grants"]),
            float(reference),
            goal=PASSWORD_GOAL,
            note=note,
        ),
        Result(
            SCENARIO,
            "refresh grants (baseline: expected, active time / (600 s - 60 s))",
            "count",
            float(refreshes),
            expected,
            abs(refreshes / expected - 1),
            "share",
            REFRESH_GOAL,
            f"refreshes / expected = {refreshes / expected:.3f}; the reference client never "
            "refreshes",
        ),
        Result(
            SCENARIO,
            "refresh tokens presented twice (reuses)",
            "count",
            float(state["refresh_reuses"]),
            goal=REUSE_GOAL,
            note=f"the simulator's OAuth counters: {dict(state['oauth'])}",
        ),
    ]


def _timeline(start: float, duration: float) -> _Timeline:
    """A call every CALL_EVERY seconds; RESTARTS downtimes spread evenly over the duration."""
    restarts = [start + duration * (i + 1) / (RESTARTS + 1) + OFFSET for i in range(RESTARTS)]
    calls: list[tuple[float, int]] = []
    now, process = start, 0
    end = start + duration
    while now < end:
        if process < RESTARTS and now >= restarts[process]:
            now = restarts[process] + DOWNTIMES[process]  # down, then the new process's first call
            process += 1
            continue
        calls.append((now, process))
        now += CALL_EVERY
    return _Timeline(calls, duration - sum(DOWNTIMES), duration)


def _harvest(timeline: _Timeline, clock: ManualClock, open_one: Callable[[], Runtime]) -> int:
    """Run the timeline: one job run per call, a new Runtime at each restart. Failed runs."""
    failures = 0
    runtime: Runtime | None = None
    process = -1
    try:
        for at, owner in timeline.calls:
            clock.set(at)
            if owner != process:
                if runtime is not None:
                    runtime.close()  # the process ends; nothing of it survives but the database
                runtime = open_one()
                process = owner
            assert runtime is not None
            if not runtime.runner.run(JOB).ok:
                failures += 1
    finally:
        if runtime is not None:
            runtime.close()
    return failures


def _reference_logins(timeline: _Timeline, lifetime: int) -> int:
    """Password logins of a client that logs in at start and whenever its token has expired."""
    logins = 0
    process = -1
    expires = 0.0
    for at, owner in timeline.calls:
        if owner != process or at >= expires:
            logins += 1
            expires = at + lifetime
            process = owner
    return logins
