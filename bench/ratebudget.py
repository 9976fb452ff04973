"""(b) Rate budget: how much of the allowed rate harvester uses, and how many 429s it earns.

The simulator keeps its default limit (240 requests per 60 s window, the window opening at the
first request). Time is accelerated: the simulator and its client share one `ScaledClock`, so a
simulated minute passes in 60/FACTOR real seconds. Several threads keep a backlog of work for a
few simulated minutes:

- harvester: every thread runs jobs back to back through ONE runtime (one budget, one session,
  one client per process, as in the service);
- naive baseline: the same threads on a bare `httpx` loop that ignores the rate headers and,
  after a 429, sleeps one simulated second and tries again.

Share of the allowed rate = requests the simulator answered 200 / (limit x windows elapsed).
The simulator's window is fixed and opens at the first request after the previous one ended, so
within a simulated duration D at most ceil(D / window) windows can open: that is the allowance
of a perfect client. The workers are stopped END_MARGIN simulated seconds before a whole number
of windows, so that no side can open (and burst into) one more window as the run ends; requests
still in flight at the stop are counted, the few seconds after it are not allowance.
429s are the simulator's own count.
The factor is chosen so the real request rate stays sustainable on a small machine: a window's
240 runs must fit well within its 60/FACTOR real seconds, or the benchmark measures the CPU.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from harvester._config.jobs import JobSpec
from harvester._core.clock import ScaledClock
from harvester._service.runtime import open_runtime
from harvester.simulator import SimConfig, Simulator, SimulatorTransport

from .common import BenchError, Goal, Options, Result, password_grant, scratch, sim_settings

SCENARIO = "ratebudget"
ENDPOINT = "constants/categories"
THREADS = 4
FACTOR = 30.0  # one simulated minute = 2 real seconds
END_MARGIN = 3.0  # simulated seconds: stop this long before the last window would end
SHARE_GOAL = Goal(">=", 0.95, "≥ 95%")
NO_429_GOAL = Goal("==", 0, "0 (harvester)", on="harvester")


@dataclass(frozen=True)
class _Tally:
    accepted: int  # 200s
    limited: int  # 429s
    requests: int
    sim_seconds: float  # from the start until the stop
    limit: int
    window: int
    outcomes: dict[str, int]

    @property
    def windows(self) -> int:
        return math.ceil(self.sim_seconds / self.window)

    @property
    def share(self) -> float:
        return self.accepted / (self.limit * self.windows)


def run(options: Options) -> list[Result]:
    minutes = 2 if options.quick else 5
    duration = minutes * 60.0 - END_MARGIN
    ours = _harvester_side(duration)
    theirs = _naive_side(duration)
    note = (
        f"{THREADS} threads for {ours.sim_seconds:.0f} simulated s at x{FACTOR:g} = "
        f"{ours.windows} windows of {ours.limit} per {ours.window} s; harvester: "
        f"{ours.accepted} accepted of {ours.requests} sent, runs {dict(ours.outcomes)}; "
        f"naive: {theirs.accepted} accepted of {theirs.requests} sent "
        f"({theirs.sim_seconds:.0f} simulated s, {theirs.windows} windows)"
    )
    return [
        Result(
            SCENARIO,
            "share of the allowed rate used (200s / allowed)",
            "share",
            ours.share,
            theirs.share,
            ours.share,
            "share",
            SHARE_GOAL,
            note,
        ),
        Result(
            SCENARIO,
            "429 answers received",
            "count",
            ours.limited,
            theirs.limited,
            goal=NO_429_GOAL,
        ),
    ]


def _config() -> SimConfig:
    return SimConfig()  # the defaults: 240 requests per 60 s


def _harvester_side(duration: float) -> _Tally:
    clock = ScaledClock(FACTOR)
    sim = Simulator(_config(), clock)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    with (
        scratch(SCENARIO) as folder,
        open_runtime(
            sim_settings(folder, sim.base_url), transport=SimulatorTransport(sim), clock=clock
        ) as rt,
    ):
        rt.session.login()  # the OAuth service is not rate limited; /data is untouched

        def work(index: int, stop: threading.Event) -> None:
            job = JobSpec(name=f"bench_rate_{index}", endpoint=ENDPOINT)
            while not stop.is_set():
                outcome = rt.runner.run(job, stop=stop)
                with lock:
                    outcomes[outcome.status] += 1

        sim_seconds = _drive(clock, duration, work)
    return _tally(sim, sim_seconds, outcomes)


def _naive_side(duration: float) -> _Tally:
    clock = ScaledClock(FACTOR)
    sim = Simulator(_config(), clock)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    with httpx.Client(transport=SimulatorTransport(sim)) as http:
        auth = {"Authorization": f"Bearer {password_grant(http, sim.oauth_url)}"}
        url = f"{sim.base_url}/data/{ENDPOINT}"

        def work(index: int, stop: threading.Event) -> None:
            del index
            while not stop.is_set():
                response = http.get(url, headers=auth)
                with lock:
                    outcomes[str(response.status_code)] += 1
                if response.status_code == 429:
                    clock.sleep(1.0, stop)  # the naive retry: one second, whatever the headers
                elif response.status_code == 200:
                    json.loads(response.content)

        sim_seconds = _drive(clock, duration, work)
    return _tally(sim, sim_seconds, outcomes)


def _drive(
    clock: ScaledClock, duration: float, work: Callable[[int, threading.Event], None]
) -> float:
    """Run THREADS workers for `duration` simulated seconds; the simulated seconds from their
    start until the stop (requests in flight then still finish and count)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index, stop)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=guarded, args=(i,), name=f"bench-rate-{i}", daemon=True)
        for i in range(THREADS)
    ]
    started = clock.now()
    for thread in threads:
        thread.start()
    clock.sleep(duration, stop)
    stop.set()
    stopped = clock.now()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise BenchError(f"a worker failed: {errors[0]!r}") from errors[0]
    if any(thread.is_alive() for thread in threads):
        raise BenchError("a worker did not stop within 60 s")
    return stopped - started


def _tally(sim: Simulator, sim_seconds: float, outcomes: Counter[str]) -> _Tally:
    data = sim.state()["data"]
    limit = sim.config.rate_limit
    if limit is None:
        raise BenchError("the simulator has no rate limit")
    return _Tally(
        accepted=int(data.get("ok", 0)),
        limited=int(data.get("rate_limited", 0)),
        requests=int(data.get("requests", 0)),
        sim_seconds=sim_seconds,
        limit=limit,
        window=sim.config.rate_window,
        outcomes=dict(outcomes),
    )
