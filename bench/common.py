"""Shared pieces of the benchmarks: result rows and goals, CPU timing, settings that point at a
simulator, and the bare baseline's client and database."""

from __future__ import annotations

import cProfile
import gc
import io
import math
import pstats
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harvester._cli.demo import simulator_settings
from harvester._config.settings import Settings
from harvester.simulator.config import demo_password_form

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


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """A pass/fail rule: `value op limit`, on the row's figure or on harvester's own figure."""

    op: str  # "<=", "<", ">=", ">", "=="
    limit: float
    label: str  # how the table shows it, e.g. "≤ 1.5×"
    on: str = "figure"  # "figure" or "harvester"

    def check(self, value: float | None) -> bool | None:
        if value is None or math.isnan(value):
            return None
        compare: dict[str, Callable[[float, float], bool]] = {
            "<=": lambda a, b: a <= b,
            "<": lambda a, b: a < b,
            ">=": lambda a, b: a >= b,
            ">": lambda a, b: a > b,
            "==": lambda a, b: a == b,
        }
        return compare[self.op](value, self.limit)


@dataclass(frozen=True)
class Result:
    """One row of the table: a measurement of harvester and of its baseline, and the goal."""

    scenario: str
    measurement: str
    unit: str  # of `harvester` and `baseline`: "µs/doc", "MB", "s", "count", "share"
    harvester: float | None
    baseline: float | None = None
    figure: float | None = None  # the ratio, share or difference the goal is about
    figure_kind: str = ""  # "ratio" (harvester/baseline), "share" (0..1), "diff" (in `unit`)
    goal: Goal | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        """True or False against the goal; None for rows that only inform."""
        if self.goal is None:
            return None
        value = self.harvester if self.goal.on == "harvester" else self.figure
        return self.goal.check(value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "measurement": self.measurement,
            "unit": self.unit,
            "harvester": self.harvester,
            "baseline": self.baseline,
            "figure": self.figure,
            "figure_kind": self.figure_kind,
            "goal": self.goal.label if self.goal else None,
            "met": self.met,
            "note": self.note,
        }


def format_value(value: float | None, unit: str) -> str:
    """A figure for the table: shares as percentages, counts whole, others to 3 digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "count":
        return f"{value:,.0f}"
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def format_figure(result: Result) -> str:
    if result.figure is None:
        return "—"
    if result.figure_kind == "ratio":
        return f"{result.figure:.2f}×"
    if result.figure_kind == "share":
        return f"{result.figure:.1%}"
    return format_value(result.figure, result.unit)


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
