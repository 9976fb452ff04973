"""(c) Memory: harvester's peak RSS while it stores a ~100 MB chunked result, against its idle RSS.

Two processes besides the bench's own, so each figure is the process's own memory:

- a simulator on loopback (`python -m bench.memory_child simulate`), with a dense world whose
  `results/search_series` over a 90-day window is >= 100 MB of chunk files, on a clock that
  stands after the window (every race finished, links never expire);
- harvester in a fresh process (`python -m bench.memory_child harvest`): idle RSS (VmRSS) after
  imports, `open_runtime` and a login; then the peak (VmHWM, reset to the idle RSS first where
  Linux allows) while one run fetches and stores the result.

The goal is on peak - idle. Durations are reported, never judged.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from harvester.simulator.world import WorldConfig

from .common import MB, REPO, BenchError, Goal, Options, Result, scratch

SCENARIO = "memory"
DAY = 86_400
START_LIMIT = 60.0  # seconds for the simulator process to print its URL
GOAL = Goal("<", 100.0, "< 100 MB")
WORKLOAD_GOAL = Goal(">=", 100.0, "≥ 100 MB (workload)", on="harvester")


@dataclass(frozen=True)
class _World:
    series_count: int
    race_interval: int
    max_splits: int
    days: int
    chunk_size: int = 500  # the simulator's (and iRacing's usual) rows per chunk


FULL = _World(series_count=7, race_interval=20, max_splits=6, days=90)  # ~158k rows, ~125 MB
QUICK = _World(series_count=6, race_interval=20, max_splits=6, days=9)  # ~14k rows, ~11 MB
HARVEST_LIMIT = {FULL: 1200.0, QUICK: 90.0}  # seconds for the harvester process's one run


def run(options: Options) -> list[Result]:
    world = QUICK if options.quick else FULL
    origin = WorldConfig().origin
    begin = origin + DAY
    end = begin + world.days * DAY
    now = end + 2 * DAY  # after the window: every race in it has finished
    with scratch(SCENARIO) as folder, _simulator(world, now) as url:
        report = _harvest(url, str(folder), _iso(begin), _iso(end), HARVEST_LIMIT[world])
    if report["status"] != "success":
        raise BenchError(f"the harvester run failed: {report['status']}: {report['error']}")
    idle = report["idle_kb"] * 1024 / MB
    peak = report["peak_kb"] * 1024 / MB
    stored = report["stored_bytes"] / MB
    how = "VmHWM reset at idle" if report["peak_was_reset"] else "VmHWM since start"
    return [
        Result(
            SCENARIO,
            "peak RSS while storing the chunked result (vs idle)",
            "MB",
            peak,
            idle,
            peak - idle,
            "diff",
            GOAL,
            f"{how}; {report['chunks']} chunks of {world.chunk_size} rows, "
            f"{report['rows']:,} rows, {report['requests']} /data request(s), "
            f"{report['received_bytes'] / MB:.1f} MB received",
        ),
        Result(
            SCENARIO,
            "chunk bytes stored (documents.size)",
            "MB",
            stored,
            goal=None if options.quick else WORKLOAD_GOAL,
            note=f"{report['documents']} documents; world {world}",
        ),
        Result(SCENARIO, "chunks stored", "count", float(report["chunks"])),
        Result(
            SCENARIO,
            "time to fetch and store the result",
            "s",
            report["seconds"],
            note="wall clock (time.monotonic), for information only; includes the simulator "
            "computing the rows and its chunk files (the simulator's share of the CPU is not "
            "harvester's)",
        ),
    ]


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(epoch))


@contextmanager
def _simulator(world: _World, now: float, latency: float = 0.0) -> Iterator[str]:
    """The simulator process; yields its URL and stops it afterwards. `latency`: real seconds
    added to every answer."""
    command = [
        sys.executable,
        "-m",
        "bench.memory_child",
        "simulate",
        f"--series-count={world.series_count}",
        f"--race-interval={world.race_interval}",
        f"--max-splits={world.max_splits}",
        f"--chunk-size={world.chunk_size}",
        f"--now={now}",
        f"--latency={latency}",
    ]
    process = subprocess.Popen(
        command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        yield _first_line(process, START_LIMIT)
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the child serves until its stdin closes
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _first_line(process: subprocess.Popen[str], limit: float) -> str:
    """The URL the simulator process prints when it serves, waited for at most `limit` s."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], limit)
    url = process.stdout.readline().strip() if ready else ""
    if not url.startswith("http://"):
        said = f"it printed {url!r}" if ready else f"it printed nothing in {limit:g} s"
        raise BenchError(f"the simulator process did not start ({said})")
    return url


def _harvest(url: str, folder: str, begin: str, end: str, limit: float) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.memory_child",
        "harvest",
        f"--url={url}",
        f"--folder={folder}",
        f"--begin={begin}",
        f"--end={end}",
        f"--request-timeout={limit / 2:g}",  # the simulator's first answer may take minutes
    ]
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:  # run() has killed it
        raise BenchError(f"the harvester process did not finish its run in {limit:g} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BenchError(
            f"the harvester process failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    if done.stderr.strip():
        print(done.stderr.strip()[-2000:], file=sys.stderr)
    report: dict[str, Any] = json.loads(lines[-1])
    return report
