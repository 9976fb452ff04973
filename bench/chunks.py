"""(e) Chunks: a result of CHUNKS chunk files, harvester's parallel download against a sequential
loop, over real loopback with a realistic latency.

The simulator runs in its own process (`python -m bench.memory_child simulate`, a
`RunningSimulator` on 127.0.0.1) so that its CPU and memory are not harvester's, with LATENCY
real seconds added to every answer (S3 and /data are tens of milliseconds away in practice)
and TCP_NODELAY on its sockets (without it, Nagle's algorithm and the client's delayed ACK add
~40 ms to every answer of the simulator's `http.server`: see `bench/memory_child.py`).
`results/search_series` answers `{type, data: {chunk_info}}` directly; the window is chosen in
the default world so that the result is exactly CHUNKS chunks of CHUNK_SIZE rows.

- harvester: `DataClient.fetch` (its chunks downloaded `CHUNK_WORKERS` at a time and yielded as
  they arrive) consumed by `Archive.store_result` (each chunk stored as it arrives, the result
  made visible in one transaction), in a fresh database each round;
- sequential baseline: a bare `httpx` loop: the same /data request, then GET
  `base_download_url + name` for each chunk in turn, `json.loads`, one insert per document.

Wall time (`time.perf_counter`) of each, interleaved rounds, the median reported. The memory
row is the peak of Python allocations (`tracemalloc`, all threads) during one more round of
each side, untimed (tracing slows allocation down): harvester must hold a few chunks at a
time, never the whole result.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock, iso
from harvester._core.shapes import Part
from harvester._fetch.data_client import CHUNK_WORKERS
from harvester._service.runtime import open_runtime
from harvester.simulator.world import World, WorldConfig

from .common import (
    MB,
    BareStore,
    BenchError,
    Goal,
    Options,
    Result,
    password_grant,
    scratch,
    sim_settings,
)
from .memory import _simulator, _World

SCENARIO = "chunks"
ENDPOINT = "results/search_series"
JOB = "bench_chunks"
DAY = 86_400
LATENCY = 0.02  # real seconds added to every answer
CHUNK_SIZE = 50  # rows per chunk file
WORLD = _World(series_count=6, race_interval=120, max_splits=3, days=90, chunk_size=CHUNK_SIZE)
SPEED_GOAL = Goal("<=", 0.5, "≤ 0.5×")
MEMORY_GOAL = Goal("<", 100.0, "< 100 MB", on="harvester")


@dataclass(frozen=True)
class _Round:
    seconds: float  # the whole result: /data request, every chunk, stored
    first_part: float  # until part 0 (the /data answer) was in hand
    chunks: int
    rows: int
    received: int  # bytes
    peak: float = 0.0  # bytes of Python allocations at most, when traced


def run(options: Options) -> list[Result]:
    chunks = 40 if options.quick else 200
    rounds = 1 if options.quick else 3
    now, params, rows = _window(chunks)
    clock = ManualClock(now)  # harvester's clock stands where the simulator's does
    ours: list[_Round] = []
    theirs: list[_Round] = []
    with scratch(SCENARIO) as folder, _simulator(WORLD, now, LATENCY) as url:
        sides: dict[str, Callable[[Path, bool], _Round]] = {
            "harvester": lambda where, trace: _harvester(url, where, params, clock, trace),
            "sequential": lambda where, trace: _sequential(url, where, params, now, trace),
        }
        for rep in range(rounds):
            order = list(sides) if rep % 2 == 0 else list(reversed(sides))
            for name in order:
                result = sides[name](folder / f"{name}-{rep}", False)
                (ours if name == "harvester" else theirs).append(result)
        peak_ours = sides["harvester"](folder / "harvester-traced", True).peak
        peak_theirs = sides["sequential"](folder / "sequential-traced", True).peak
        _check_simulator(url)
    for result in ours + theirs:
        if (result.chunks, result.rows) != (chunks, rows):
            raise BenchError(
                f"a round got {result.chunks} chunks and {result.rows} rows, "
                f"expected {chunks} and {rows}"
            )
    fast = statistics.median(r.seconds for r in ours)
    slow = statistics.median(r.seconds for r in theirs)
    fast_chunks = statistics.median(r.seconds - r.first_part for r in ours)
    slow_chunks = statistics.median(r.seconds - r.first_part for r in theirs)
    received = ours[0].received / MB
    return [
        Result(
            SCENARIO,
            f"wall time for a {chunks}-chunk result, fetched and stored (vs sequential)",
            "s",
            fast,
            slow,
            fast / slow,
            "ratio",
            SPEED_GOAL,
            f"median of {rounds} interleaved round(s); {chunks} chunks x {CHUNK_SIZE} rows = "
            f"{rows:,} rows, {received:.1f} MB, simulator latency {LATENCY * 1000:g} ms per "
            f"request on loopback (its own process); harvester downloads {CHUNK_WORKERS} chunks "
            f"at a time; the chunk phase alone (after the /data answer): {fast_chunks:.2f} s vs "
            f"{slow_chunks:.2f} s = {fast_chunks / slow_chunks:.2f}x",
        ),
        Result(
            SCENARIO,
            "peak Python memory while fetching and storing it (vs sequential)",
            "MB",
            peak_ours / MB,
            peak_theirs / MB,
            note="tracemalloc peak over the fetch and the store, all threads (SQLite's own page "
            "cache is not Python memory), over one more round of each side, not timed",
            goal=MEMORY_GOAL,
        ),
    ]


def _window(chunks: int) -> tuple[float, dict[str, str], int]:
    """A clock time and search window whose result is exactly `chunks` chunks; its row count.

    The world is the simulator process's (same config, hence the same rows): every race of
    90 days is listed by start time, and the window ends at the first race start past
    `chunks * CHUNK_SIZE` rows, walking back to the previous start time shared by no earlier
    row (the splits of one race share it, and there are fewer than CHUNK_SIZE of them).
    """
    world = World(
        WorldConfig(
            series_count=WORLD.series_count,
            race_interval_minutes=WORLD.race_interval,
            max_splits=WORLD.max_splits,
        )
    )
    begin = world.config.origin + DAY
    now = begin + (WORLD.days + 2) * DAY  # every race of the window has finished
    wanted = chunks * CHUNK_SIZE
    every = world.answer(
        ENDPOINT,
        {"start_range_begin": iso(begin), "start_range_end": iso(begin + WORLD.days * DAY)},
        now,
    ).rows
    starts = sorted(str(row["start_time"]) for row in every or [])
    if len(starts) <= wanted:
        raise BenchError(f"90 days of the world hold {len(starts)} rows, {wanted}+ are needed")
    cut = wanted
    while starts[cut] == starts[cut - 1]:
        cut -= 1
    params = {"start_range_begin": iso(begin), "start_range_end": starts[cut]}
    rows = len(world.answer(ENDPOINT, params, now).rows or [])
    if -(-rows // CHUNK_SIZE) != chunks:
        raise BenchError(f"the window holds {rows} rows, not {chunks} chunks of {CHUNK_SIZE}")
    return now, params, rows


def _timed(parts: Iterator[Part], marks: dict[str, float]) -> Iterator[Part]:
    """The parts, noting when part 0 arrived and counting chunks and rows."""
    for part in parts:
        if part.index == 0:
            marks["first"] = time.perf_counter()
        else:
            marks["chunks"] = marks.get("chunks", 0) + 1
            marks["rows"] = marks.get("rows", 0) + (part.rows or 0)
        yield part


def _harvester(
    url: str, folder: Path, params: dict[str, str], clock: ManualClock, trace: bool
) -> _Round:
    settings = sim_settings(folder, url)
    with open_runtime(settings, clock=clock) as rt:
        rt.session.login()  # not timed: a running service has its token already
        archive = rt.archive
        run_id = archive.open_run(JOB, "bench")
        run = RunContext(JobSpec(JOB, ENDPOINT), run_id, CancelToken(rt.clock))
        counts = run.counts
        marks: dict[str, float] = {}
        with _traced(trace) as peak:
            started = time.perf_counter()
            parts = rt.client.fetch(ENDPOINT, params, counts=counts)
            stored = archive.store_result(run, params, _timed(parts, marks))
            seconds = time.perf_counter() - started
        archive.finish_run(run_id, "success", counts, None)
    if len(stored.parts) != marks.get("chunks", 0) + 1:
        raise BenchError(f"harvester stored {len(stored.parts)} parts of {marks}")
    return _Round(
        seconds,
        marks["first"] - started,
        int(marks.get("chunks", 0)),
        int(marks.get("rows", 0)),
        counts.bytes,
        peak[0],
    )


def _sequential(url: str, folder: Path, params: dict[str, str], now: float, trace: bool) -> _Round:
    folder.mkdir(parents=True, exist_ok=True)
    store = BareStore(folder / "bare.db")
    try:
        with httpx.Client(timeout=60) as http:
            auth = {"Authorization": f"Bearer {password_grant(http, f'{url}/oauth2')}"}
            with _traced(trace) as peak:
                started = time.perf_counter()
                answer = _get(http, f"{url}/data/{ENDPOINT}", params=params, headers=auth)
                first = time.perf_counter()
                store.insert(answer, now)
                info: dict[str, Any] = json.loads(answer)["data"]["chunk_info"]
                received, rows = len(answer), 0
                for name in info["chunk_file_names"]:
                    body = _get(http, info["base_download_url"] + name)
                    rows += len(json.loads(body))
                    received += len(body)
                    store.insert(body, now)
                seconds = time.perf_counter() - started
    finally:
        store.close()
    chunks = len(info["chunk_file_names"])
    return _Round(seconds, first - started, chunks, rows, received, peak[0])


def _get(http: httpx.Client, url: str, **kwargs: Any) -> str:
    response = http.get(url, **kwargs)
    if response.status_code != 200:
        raise BenchError(f"bare GET {url.split('?')[0]}: HTTP {response.status_code}")
    return response.content.decode("utf-8")


@contextmanager
def _traced(trace: bool) -> Iterator[list[float]]:
    """Around the measured work: a collection first; with `trace`, the peak bytes of Python
    allocations during the block (above what it started with) in the yielded list."""
    peak = [0.0]
    gc.collect()
    if not trace:
        yield peak
        return
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        yield peak
        peak[0] = float(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


def _check_simulator(url: str) -> None:
    """The simulator answered nothing but successes (no 401, 429 or expired link)."""
    state = httpx.get(f"{url}/_sim/state", timeout=30).json()
    bad = {k: v for k, v in state["data"].items() if k not in ("requests", "ok")}
    if bad:
        raise BenchError(f"the simulator answered errors: {bad}")
