"""Shared pieces of the benchmarks: CPU timing, settings that point at a simulator, and the bare
baseline's client and database (the rows and goals are in results.py)."""

from __future__ import annotations

import cProfile
import gc
import io
import math
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harvester._cli.demo import simulator_settings
from harvester._config.settings import Settings
from harvester.simulator.config import demo_password_form

# the rows and goals live in results.py (pure); the scenarios import them from here as well
from .results import Goal as Goal
from .results import Result as Result

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MB = 1_000_000


class BenchError(RuntimeError):
    """A scenario could not measure what it meant to (a failed run, a wrong count)."""


@dataclass(frozen=True)
class Options:
    """What the command line asked for; every scenario gets the same object."""

    quick: bool = False  # scaled-down sizes: a smoke test, not a measurement
    profile: bool = False  # scenarios that can print a cProfile of harvester's side do so


def start_service(
    env: Mapping[str, str], folder: Path, *options: str, prefix: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """`harvester start OPTIONS` in `folder` as its own process, its output discarded;
    `prefix` runs it inside something (a network namespace)."""
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "harvester", "start", *options],
        env=dict(env),
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str = "the expected state",
    poll: float = 0.02,
) -> None:
    """Poll what another process or thread makes true, bounded: a scenario that never gets
    there fails with `what`, not a hang. `poll` stays coarse where a condition opens a
    database connection (a PostgreSQL backend is a process of its own)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not reached in {timeout:.0f} s")
        time.sleep(poll)


# -- measuring ---------------------------------------------------------------------------------


def cpu_best_of(batches: Mapping[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """The least CPU time (`time.process_time`, all threads) each batch took over `reps` rounds.

    Batches are interleaved (one of each per round, in a rotating order) so that a slow spell
    of the machine hits every side, and the minimum keeps the least disturbed round.
    """
    names = list(batches)
    best = dict.fromkeys(names, math.inf)
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            started = time.process_time()
            batches[name]()
            best[name] = min(best[name], time.process_time() - started)
    return best


def profile_top(work: Callable[[], object], limit: int = 10) -> str:
    """cProfile of `work`: the top `limit` functions by own time, then by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        work()
    finally:
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit * 3)
    return out.getvalue()


@contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A temporary folder for a scenario's databases, removed afterwards."""
    with tempfile.TemporaryDirectory(
        prefix=f"harvester-bench-{name}-", ignore_cleanup_errors=True
    ) as folder:
        yield Path(folder)


def proc_status_kb(field: str) -> int:
    """A `VmRSS`/`VmHWM`-style line of /proc/self/status, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise BenchError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> bool:
    """Make VmHWM start again from the current RSS (Linux: `5` into clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- harvester against a simulator -------------------------------------------------------------


def sim_settings(folder: Path, base_url: str, **overrides: Any) -> Settings:
    """Settings with the simulator's demo credentials and a database in `folder`."""
    return simulator_settings(folder, base_url, **overrides)


# -- the bare baseline -------------------------------------------------------------------------


def password_grant(http: httpx.Client, oauth_url: str) -> str:
    """One password_limited grant with the masked demo credentials: the access token."""
    response = http.post(
        f"{oauth_url}/token",
        data=demo_password_form(),
    )
    if response.status_code != 200:
        raise BenchError(f"the bare password grant failed: HTTP {response.status_code}")
    return str(response.json()["access_token"])


class BareStore:
    """The baseline's archive: one table in a fresh file, WAL, one transaction per insert,
    with harvester's durability settings (synchronous=NORMAL, BEGIN IMMEDIATE)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS documents "
            "(id INTEGER PRIMARY KEY, fetched_at REAL NOT NULL, body TEXT NOT NULL)"
        )

    def insert(self, body: str, fetched_at: float) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(
            "INSERT INTO documents (fetched_at, body) VALUES (?, ?)", (fetched_at, body)
        )
        self.conn.execute("COMMIT")

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
