"""`harvester backfill`: a cursor job's history, window by window, without moving its cursor.

The plan (job, since, until, windows) and the position are stored, and each window's documents
are committed with the position, so an interrupted backfill (Ctrl-C, a crash) resumes where it
stopped and ends with the same archive as one that never stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from .._archive import bookkeeping
from .._archive.run import RunContext
from .._config.incremental import Window, closed_windows, parse_start
from .._config.jobs import JobSpec
from .._core.clock import iso_seconds, parse_iso
from .._core.errors import ConfigError
from .runner import RunOutcome
from .runtime import Runtime


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    started: float  # time.monotonic() at the start of this invocation
    done_at_start: int

    @property
    def rate_per_minute(self) -> float:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return (self.done - self.done_at_start) / elapsed * 60

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate_per_minute
        return (self.total - self.done) / rate * 60 if rate > 0 else None


# how far apart the command's "now" and the plan's recorded start may be (it is stored to the
# second, a moment after the command read its clock)
SAME_START = 5.0


def backfill_bounds(
    runtime: Runtime, job: str, since: str, until: str | None
) -> tuple[float, float | None]:
    """`--since` and `--until` as epochs. One relative to now (`90d`) means another time each
    time the command runs; read from when an unfinished backfill of `job` began, it may be that
    backfill's plan: then the plan's own bounds, so that the same command resumes it.
    ValueError for a text that is no moment."""
    now = runtime.clock.now()
    since_at = parse_start(since, now)
    if not any(_relative(text) for text in (since, until) if text):
        return since_at, parse_start(until, now) if until else None
    until_at = parse_start(until, now) if until else now  # "10d": ten days up to this now
    for plan in bookkeeping.unfinished_backfills(runtime.engine, job):
        began = parse_iso(plan.started_at)
        then_until = parse_start(until, began) if until else parse_iso(plan.until)
        if (
            abs(parse_start(since, began) - parse_iso(plan.since)) <= SAME_START
            and abs(then_until - parse_iso(plan.until)) <= SAME_START
        ):
            return parse_iso(plan.since), parse_iso(plan.until)
    return since_at, until_at


def _relative(text: str) -> bool:
    return parse_start(text, 0.0) != parse_start(text, 1.0)


def run_backfill(
    runtime: Runtime,
    job: JobSpec,
    since: float,
    until: float | None,
    report: Callable[[Progress], None],
    stop: threading.Event | None = None,
) -> RunOutcome:
    """Fill `job`'s history from `since` to `until` (default: now, fixed when first started)."""
    spec = job.incremental
    if spec is None:
        raise ConfigError(
            f"backfill needs a cursor job: {job.name} has no `incremental` "
            "(docs/jobs.md: Incremental harvesting)"
        )
    engine = runtime.engine
    runtime.archive.mark_interrupted()  # a killed backfill's run is over: say so
    since_text = iso_seconds(since)
    since = parse_iso(since_text)  # to the second, as stored: a resumed plan has the same windows
    state = bookkeeping.find_backfill(
        engine, job.name, since_text, iso_seconds(until) if until is not None else None
    )
    if state is None:
        end = parse_iso(iso_seconds(until if until is not None else runtime.clock.now()))
        if end <= since:
            raise ConfigError("--until must be after --since")
        total = len(closed_windows(since, end, spec.window))
        backfill_id = bookkeeping.create_backfill(
            engine, job.name, since_text, iso_seconds(end), total, iso_seconds(runtime.clock.now())
        )
        next_begin = since
    else:
        backfill_id, end, next_begin = state.id, parse_iso(state.until), parse_iso(state.next_begin)
    windows = closed_windows(since, end, spec.window)
    remaining = [w for w in windows if w.begin >= next_begin]
    done_before = len(windows) - len(remaining)

    def body(run: RunContext) -> None:
        started = time.monotonic()
        done = done_before
        report(Progress(done, len(windows), started, done_before))
        for window in remaining:
            run.cancel.check()
            runtime.runner.fetch_window(
                run,
                window,
                cursor=None,
                now=runtime.clock.now(),
                also=_position(runtime, backfill_id, window, done + 1, len(windows)),
            )
            done += 1
            report(Progress(done, len(windows), started, done_before))
        if not remaining:
            bookkeeping.finish_backfill(engine, backfill_id, iso_seconds(runtime.clock.now()))

    return runtime.runner.run(job, trigger="backfill", stop=stop, body=body)


def _position(
    runtime: Runtime, backfill_id: int, window: Window, done: int, total: int
) -> Callable[[Connection], None]:
    def save(conn: Connection) -> None:
        assert window.end is not None
        bookkeeping.advance_backfill(
            conn,
            backfill_id,
            iso_seconds(window.end),
            done,
            iso_seconds(runtime.clock.now()),
            finished=done >= total,
        )

    return save
