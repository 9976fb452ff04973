"""Incremental harvesting, the pure part: cursor jobs and their windows, fan-out jobs.

A cursor job follows iRacing's own advice for results: remember the largest `end_time` seen and
ask next time from there (`finish_range_begin`), skipping rows already seen. Windows longer than
the endpoint allows (90 days) are split; each window starts exactly where the previous ended, and
a window's begin is inclusive, so nothing falls between two windows (a row on the edge is
fetched twice and counted as a duplicate: at least once, never a gap).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .._core.durations import parse_moment
from .._core.jsonpath import Step

# a window that closed this long ago is final: iRacing has published every race ending in it
SETTLE_SECONDS = 3600.0
# a cursor far behind catches up this many windows per run (the next runs go on from there)
WINDOWS_PER_RUN = 100


@dataclass(frozen=True)
class Incremental:
    cursor: str  # the row field whose largest value is remembered, e.g. end_time
    param: str  # the parameter it feeds, e.g. finish_range_begin
    end_param: str  # the parameter that closes a window, e.g. finish_range_end
    start: str  # the first cursor: an ISO date or time, or a relative time like -7d
    window: float  # seconds: the longest span one request may cover
    key: str | None  # a row field identifying a row, for counting rows seen before


@dataclass(frozen=True)
class ForEach:
    job: str  # the parent job
    path: str  # JSONPath into the parent's documents, e.g. $[*].subsession_id
    steps: tuple[Step, ...]
    param: str  # the parameter each value is sent as
    max_items: int = 500  # at most this many requests in one run (the rest wait for the next)


@dataclass(frozen=True)
class Window:
    begin: float
    end: float | None  # None: open, up to now (the end parameter is not sent)


def end_param_for(param: str) -> str:
    """finish_range_begin -> finish_range_end (the catalogue's naming)."""
    return param[: -len("_begin")] + "_end" if param.endswith("_begin") else param + "_end"


def parse_start(text: str, now: float) -> float:
    """A cursor's start: an ISO date or date-time, or a time relative to now (`-7d`, `7d`)."""
    return parse_moment(text, now)


def plan_windows(cursor: float, now: float, window: float) -> Iterator[Window]:
    """Windows from the cursor up to now, none longer than `window`; the last one is open.
    Lazy: a cursor years behind is caught up a bounded number of windows per run."""
    begin = cursor
    while now - begin > window:
        yield Window(begin, begin + window)
        begin += window
    yield Window(begin, None)


def closed_windows(since: float, until: float, window: float) -> list[Window]:
    """Windows covering [since, until) exactly, for a backfill (every one closed)."""
    windows: list[Window] = []
    begin = since
    while begin < until:
        end = min(begin + window, until)
        windows.append(Window(begin, end))
        begin = end
    return windows


def advance(cursor: float, window: Window, largest_seen: float | None, now: float) -> float:
    """The cursor after a window: the largest value seen, but never into the last hour (a race
    that ended a moment ago may be published after one that ended later), or the window's end
    once that window is settled. It never moves back."""
    moved = cursor if largest_seen is None else max(cursor, min(largest_seen, now - SETTLE_SECONDS))
    if window.end is not None and window.end <= now - SETTLE_SECONDS:
        moved = max(moved, window.end)
    return moved
