"""(b) Rate budget: how much of the allowed rate harvester uses, and how many 429s it earns.

The simulator keeps its default limit (240 requests per 60 s window, the window opening at the
first request). Time is accelerated: the simulator and its client share one `ScaledClock`, so a
simulated minute passes in 60/FACTOR real seconds. Several threads keep a backlog of work for a
few simulated minutes:

- harvester: every thread runs jobs back to back through ONE runtime (one budget, one session,
  one client per process, as in the service);
- naive baseline: the same threads on a bare `httpx` loop that ignores the rate headers and,
  after a 429, sleeps one simulated second and tries again.

Share of the allowed rate is counted in the simulator's own windows, not from when the client
stopped: every /data answer carries the window it was counted in (`x-ratelimit-reset`, the end
of the server's fixed window, which opens at the first request after the previous one ended),
and a recording transport tallies the answers by it. A window counts once it is whole: it ended
while the workers still ran, or its whole allowance was used. Share = 200s in whole windows /
(limit x whole windows); the window the stop cut short, and anything sent after the stop, is
reported but not counted. How late the stop comes (a loaded machine oversleeps, and at x10 a
tenth of a real second is a simulated one) cannot add a window. The note says how much of the
simulated time the windows covered: gaps between them are time the client left unused.
429s are the simulator's own count.
The factor is chosen so the real request rate stays sustainable on a small machine: a window's
240 runs must fit well within its 60/FACTOR real seconds, or the benchmark measures the CPU. At
x30 (120 runs a real second, a fifth of a core with the in-process simulator) a machine at load
12 on 2 cores starved the client and the share read 87 %; at x10 it needs 40 a second.
"""

from __future__ import annotations

import json
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
FACTOR = 10.0  # one simulated minute = 6 real seconds
END_MARGIN = 5.0  # simulated seconds past the last minute: the last window can end in time
SHARE_GOAL = Goal(">=", 0.95, "≥ 95%")
NO_429_GOAL = Goal("==", 0, "0 (harvester)", on="harvester")


class _ServerWindows(httpx.BaseTransport):
    """The simulator's transport, tallying each /data answer by the server's window it was
    counted in (its `x-ratelimit-reset`: when that window ends) and by its status."""

    def __init__(self, sim: Simulator) -> None:
        self._inner = SimulatorTransport(sim)
        self._lock = threading.Lock()
        self.answers: Counter[tuple[int, int]] = Counter()  # (window end, status) -> answers

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.url.path.startswith("/data/"):
            end = int(response.headers.get("x-ratelimit-reset", "0"))
            with self._lock:
                self.answers[(end, response.status_code)] += 1
        return response

    def accepted_by_window(self) -> dict[int, int]:
        with self._lock:
            ends = sorted({end for end, _ in self.answers})
            return {end: self.answers[(end, 200)] for end in ends}


@dataclass(frozen=True)
class _Tally:
    by_window: dict[int, int]  # the server's windows (by when each ends) -> 200s in it
    stopped_at: float  # the simulated time of the stop
    limited: int  # 429s
    requests: int
    limit: int
    window: int
    outcomes: dict[str, int]

    @property
    def whole(self) -> list[int]:
        """The windows that count: ended before the stop, or their allowance all used."""
        return [
            end
            for end, accepted in self.by_window.items()
            if end <= self.stopped_at or accepted >= self.limit
        ]

    @property
    def accepted(self) -> int:
        return sum(self.by_window.values())

    @property
    def share(self) -> float:
        whole = self.whole
        if not whole:
            raise BenchError(f"no whole rate-limit window in {self.by_window}")
        return sum(self.by_window[end] for end in whole) / (self.limit * len(whole))

    def describe(self) -> str:
        whole = self.whole
        span = whole[-1] - (whole[0] - self.window) if whole else 0
        left = self.accepted - sum(self.by_window[end] for end in whole)
        return (
            f"{sum(self.by_window[end] for end in whole)} accepted in {len(whole)} whole "
            f"window(s) of {self.limit} per {self.window} s (covering "
            f"{len(whole) * self.window / span if span else 0:.1%} of their {span} simulated s), "
            f"{left} more in the window(s) cut short; {self.requests} sent"
        )


def run(options: Options) -> list[Result]:
    minutes = 2 if options.quick else 5
    duration = minutes * 60.0 + END_MARGIN
    ours = _harvester_side(duration)
    theirs = _naive_side(duration)
    note = (
        f"{THREADS} threads for {duration:g} simulated s at x{FACTOR:g}, counted in the "
        f"simulator's own windows; harvester: {ours.describe()}, runs {ours.outcomes}; "
        f"naive: {theirs.describe()}"
    )
    return [
        Result(
            SCENARIO,
            "share of the allowed rate used (200s / allowed, server's windows)",
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
    windows = _ServerWindows(sim)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    with (
        scratch(SCENARIO) as folder,
        open_runtime(sim_settings(folder, sim.base_url), transport=windows, clock=clock) as rt,
    ):
        rt.session.login()  # the OAuth service is not rate limited; /data is untouched

        def work(index: int, stop: threading.Event) -> None:
            job = JobSpec(name=f"bench_rate_{index}", endpoint=ENDPOINT)
            while not stop.is_set():
                outcome = rt.runner.run(job, stop=stop)
                with lock:
                    outcomes[str(outcome.status)] += 1

        stopped_at = _drive(clock, duration, work)
    return _tally(sim, windows, stopped_at, outcomes)


def _naive_side(duration: float) -> _Tally:
    clock = ScaledClock(FACTOR)
    sim = Simulator(_config(), clock)
    windows = _ServerWindows(sim)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    with httpx.Client(transport=windows) as http:
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

        stopped_at = _drive(clock, duration, work)
    return _tally(sim, windows, stopped_at, outcomes)


def _drive(
    clock: ScaledClock, duration: float, work: Callable[[int, threading.Event], None]
) -> float:
    """Run THREADS workers for `duration` simulated seconds; the simulated time of the stop
    (requests in flight then still finish)."""
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
    return stopped


def _tally(
    sim: Simulator, windows: _ServerWindows, stopped_at: float, outcomes: Counter[str]
) -> _Tally:
    data = sim.state()["data"]
    limit = sim.config.rate_limit
    if limit is None:
        raise BenchError("the simulator has no rate limit")
    by_window = windows.accepted_by_window()
    if sum(by_window.values()) != int(data.get("ok", 0)):
        raise BenchError(f"the windows hold {by_window}, the simulator counted {data}")
    return _Tally(
        by_window=by_window,
        stopped_at=stopped_at,
        limited=int(data.get("rate_limited", 0)),
        requests=int(data.get("requests", 0)),
        limit=limit,
        window=sim.config.rate_window,
        outcomes=dict(outcomes),
    )
