"""The loop that fires jobs.yaml schedules on harvester's clock (the triggers: `_config.triggers`).

APScheduler's triggers do the schedule maths (intervals, UTC cron, jitter); this module asks
each one `get_next_fire_time(previous, now)` and waits on harvester's clock (real, scaled or
manual) until the earliest, so an hour of the demo can pass in seconds. Policy, the same for
every job: UTC; coalescing (fire times missed while the process was busy or suspended collapse
into one call); no misfire limit, so a late run still runs. The jobs due at one look are handed
over together, parents first (`_config.graph`); whether each may run now, waits for a parent or
is skipped because its previous run is still going is the caller's decision, not the loop's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .._archive.run import Trigger
from .._config.graph import JobGraph
from .._config.jobs import JobSpec, Schedule
from .._config.triggers import Trigger as APTrigger
from .._config.triggers import build_trigger, first_fire, next_fire_after
from .._core.clock import Clock, utc
from .._core.logs import get_logger
from .._core.text import error_line

log = get_logger("harvester.scheduler")

# the longest the loop waits without looking at the clock again (real seconds): a system clock
# that jumps (a suspended laptop, an NTP step) is noticed within this
LONGEST_WAIT = 60.0


# a datetime holds microseconds: `now` made one and read back can land just after `now` (about
# 4 starts in 10), which recorded a start-up's first runs as "schedule"
AT_ONCE = 0.001


def first_run_time(schedule: Schedule, now: float, last_started: float | None) -> datetime:
    """When an interval job first runs after a (re)start: one interval after its last run, or
    now if that is already past (a run missed while harvester was down still happens, once)."""
    if schedule.every and last_started is not None:
        return utc(max(now, last_started + schedule.every))
    return utc(now)


@dataclass
class _Due:
    """One job's place in the loop: its trigger (None for a one-shot retry) and next fire time."""

    job: str
    # what the run records as its trigger: "schedule", "retry", or for the first fire after a
    # start or a reload that finds the job due at once, "startup" or "reload"
    trigger_name: str
    trigger: APTrigger | None
    next_fire: datetime | None


@dataclass(frozen=True)
class Changes:
    """What a sync did: jobs added, removed from the file, disabled in it, and changed."""

    added: list[str]
    removed: list[str]
    disabled: list[str]
    changed: list[str]


class JobScheduler:
    """Keeps one fire time per job equal to a JobsConfig and calls `on_due([(name, trigger),
    ...])` (on its own thread, so it must return quickly) with the jobs due at each look,
    parents before their children."""

    def __init__(self, clock: Clock, on_due: Callable[[list[tuple[str, str]]], object]) -> None:
        self.clock = clock
        self._on_due = on_due
        self._specs: dict[str, JobSpec] = {}
        self._rank: dict[str, int] = {}  # each job's place in the jobs' order, parents first
        self._entries: dict[str, _Due] = {}  # by job name, and "name#retry" for a pending retry
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # the clock time of the last finished look: every job due by then was handed to `on_due`
        # (None again when a sync or a retry adds entries, until a look has seen them)
        self.looked_at: float | None = None
        self._generation = 0  # bumped by every change of the entries

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="harvester-scheduler", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop calling `on_due` and end the loop's thread (runs in flight are the caller's)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def sync(
        self,
        specs: Mapping[str, JobSpec],
        last_started: Mapping[str, float],
        reason: str = Trigger.RELOAD,
    ) -> Changes:
        """Add, remove and reschedule jobs to match `specs`. A job added or changed that is due
        at once (an interval job never run, or whose interval has passed) first fires with
        `reason` as its trigger ("startup" or "reload"). An unchanged job keeps its next run."""
        wanted = {name: spec for name, spec in specs.items() if spec.enabled}
        gone = [name for name in self._specs if name not in wanted]
        removed = [name for name in gone if name not in specs]
        disabled = [name for name in gone if name in specs]
        added = [name for name in wanted if name not in self._specs]
        changed = [
            name for name in wanted if name in self._specs and wanted[name] != self._specs[name]
        ]
        now = self.clock.now()
        with self._lock:
            for name in gone:
                self._entries.pop(name, None)
                self._entries.pop(f"{name}#retry", None)
            for name in added + changed:
                schedule = wanted[name].schedule
                first = first_run_time(schedule, now, last_started.get(name))
                trigger = build_trigger(schedule, first)
                # interval jobs first fire at `first`; for cron the trigger alone decides
                fire = first if schedule.every else first_fire(trigger, now)
                at_once = fire is not None and fire.timestamp() <= now + AT_ONCE
                self._entries[name] = _Due(
                    name, reason if at_once else Trigger.SCHEDULE, trigger, fire
                )
            self._specs = dict(wanted)
            self._rank = JobGraph.of(wanted).rank()
            self._changed()
        self._wake.set()
        return Changes(added, removed, disabled, changed)

    def schedule_retry(self, name: str, delay: float) -> None:
        """Hand `(name, "retry")` over once, after `delay` seconds (a failed run with retries
        left); a retry already pending for the job is replaced."""
        with self._lock:
            at = utc(self.clock.now() + delay)
            self._entries[f"{name}#retry"] = _Due(name, Trigger.RETRY, None, at)
            self._changed()
        self._wake.set()

    def _changed(self) -> None:
        """The entries changed (under the lock): no look has seen them yet."""
        self._generation += 1
        self.looked_at = None

    def next_runs(self) -> dict[str, float | None]:
        """Each scheduled job's next fire time (epoch seconds)."""
        with self._lock:
            return {
                name: entry.next_fire.timestamp() if entry.next_fire else None
                for name, entry in self._entries.items()
                if name in self._specs
            }

    def retries_pending(self) -> set[str]:
        """The jobs with a retry scheduled and not yet handed over."""
        with self._lock:
            return {due.job for key, due in self._entries.items() if key.endswith("#retry")}

    def wakeup(self) -> None:
        """Look at the clock now (a ManualClock was moved, say)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self._fire_due()
            self._wake.wait(min(self.clock.real_seconds(wait), LONGEST_WAIT))
            self._wake.clear()

    def _fire_due(self) -> float:
        """Hand over every job due by now; return the clock seconds to the next one."""
        with self._lock:
            looking_at = self.clock.now()
            now = utc(looking_at)
            due: list[tuple[str, str]] = []
            for key, entry in list(self._entries.items()):
                if entry.next_fire is None or entry.next_fire > now:
                    continue
                due.append((entry.job, entry.trigger_name))
                if entry.trigger is None:
                    del self._entries[key]
                else:
                    entry.next_fire = next_fire_after(entry.trigger, entry.next_fire, now)
                    entry.trigger_name = Trigger.SCHEDULE
            upcoming = [e.next_fire for e in self._entries.values() if e.next_fire is not None]
            rank = self._rank
            generation = self._generation
        due.sort(key=lambda job: rank.get(job[0], len(rank)))  # parents first
        if due and not self._stop.is_set():
            try:
                self._on_due(due)
            except Exception as exc:  # one look's trouble must not stop the schedule
                log.error(
                    "scheduler.dispatch_failed", jobs=[n for n, _ in due], error=error_line(exc)
                )
        with self._lock:
            if generation == self._generation:  # else entries were added meanwhile: look again
                self.looked_at = looking_at
        if not upcoming:
            return LONGEST_WAIT
        return max((min(upcoming) - now).total_seconds(), 0.0)
