"""The only APScheduler import: triggers from jobs.yaml schedules, and a scheduler that runs
on harvester's clock.

Policy, the same for every job: UTC; one instance of a job at a time (a due run while the last
is still going is recorded as skipped); coalescing (runs missed while the process was busy or
suspended collapse into one); and no misfire limit, so a late run still runs. APScheduler reads
the time with `datetime.now()` in one module; with a simulated clock (the demo, tests) that name
is pointed at harvester's clock for as long as the scheduler runs, so an hour can pass in seconds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apscheduler.schedulers.base as apscheduler_base
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from .catalog import CATALOG_ENDPOINT, check_jobs, stored_catalogues
from .clock import Clock, SystemClock
from .jobs import JobsConfig, JobsError, JobSpec, Schedule, load_jobs


def cron_error(expression: str) -> str | None:
    """Why a five-field cron expression is not valid, or None (for jobs.yaml validation)."""
    try:
        CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        return str(exc)
    return None


def load_jobs_file(path: Path, engine: Engine | None = None, *, strict: bool = True) -> JobsConfig:
    """jobs.yaml as the service uses it: validated (cron expressions and `{env:...}` templates
    included), with the built-in catalogue job, and checked against the newest stored /data
    catalogue when there is a database with one.

    A job the catalogue contradicts is an error when `strict` (`jobs validate`); otherwise it is
    disabled and listed in `rejected`, so that one endpoint renamed by iRacing does not stop
    the service from starting with all the others."""
    config = load_jobs(path, cron_check=cron_error, env=os.environ)
    if CATALOG_JOB.name not in config.jobs:
        config = replace(config, jobs={**config.jobs, CATALOG_JOB.name: CATALOG_JOB})
    if engine is not None:
        stored = stored_catalogues(engine, 1)
        if stored:
            fetched_at, catalogue = stored[0]
            problems, warnings = check_jobs(config, catalogue, fetched_at)
            if problems and strict:
                raise JobsError(problems)
            rejected = {problem.field.split(".")[1] for problem in problems}
            jobs = {
                name: replace(job, enabled=False) if name in rejected else job
                for name, job in config.jobs.items()
            }
            config = replace(config, jobs=jobs, warnings=tuple(warnings), rejected=tuple(problems))
    return config


CATALOG_JOB = JobSpec(
    name="catalog",
    endpoint=CATALOG_ENDPOINT,
    schedule=Schedule(every=86400.0, jitter=300.0),
    description="built in: the /data/doc catalogue, daily (define a job named catalog to change)",
)


def build_trigger(schedule: Schedule, first_run: datetime) -> BaseTrigger:
    """A trigger for a schedule. Interval jobs first fire at `first_run`, then every interval."""
    jitter = int(schedule.jitter) or None
    if schedule.every:
        return IntervalTrigger(
            seconds=schedule.every, start_date=first_run, timezone=UTC, jitter=jitter
        )
    assert schedule.cron is not None
    trigger = CronTrigger.from_crontab(schedule.cron, timezone=UTC)
    trigger.jitter = jitter
    return trigger


def fire_times(
    schedule: Schedule, first_run: datetime, now: datetime, count: int
) -> list[datetime]:
    """The next `count` fire times after `now`: the schedule maths, without a scheduler."""
    trigger = build_trigger(Schedule(schedule.every, schedule.cron, 0.0), first_run)
    times: list[datetime] = []
    previous: datetime | None = None
    current = now
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, current)
        if fire is None:
            break
        times.append(fire)
        previous, current = fire, fire + timedelta(microseconds=1)
    return times


def first_run_time(schedule: Schedule, now: float, last_started: float | None) -> datetime:
    """When an interval job first runs after a (re)start: one interval after its last run, or
    now if that is already past (a run missed while harvester was down still happens, once)."""
    if schedule.every and last_started is not None:
        return datetime.fromtimestamp(max(now, last_started + schedule.every), tz=UTC)
    return datetime.fromtimestamp(now, tz=UTC)


@contextmanager
def _scheduler_time(clock: Clock) -> Iterator[None]:
    """Point APScheduler's `datetime.now` at `clock` while the block runs (simulated clocks)."""
    if isinstance(clock, SystemClock):
        yield
        return

    class ClockDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.fromtimestamp(clock.now(), tz)

    original = apscheduler_base.datetime
    apscheduler_base.datetime = ClockDatetime
    try:
        yield
    finally:
        apscheduler_base.datetime = original


class _ClockedScheduler(BackgroundScheduler):  # type: ignore[misc]
    """BackgroundScheduler whose sleeps are in harvester's clock's time."""

    def __init__(self, clock: Clock, **options: Any) -> None:
        self._clock = clock
        super().__init__(**options)

    def _main_loop(self) -> None:
        wait_seconds: float | None = threading.TIMEOUT_MAX
        while self.state != STATE_STOPPED:
            real = None if wait_seconds is None else self._clock.real_seconds(wait_seconds)
            self._event.wait(real)
            self._event.clear()
            wait_seconds = self._process_jobs()


class JobScheduler:
    """Keeps APScheduler's jobs equal to a JobsConfig and calls `run(name, trigger)` when due."""

    def __init__(
        self,
        clock: Clock,
        run: Callable[[str, str], object],
        on_overlap: Callable[[str], None],
        workers: int = 4,
    ) -> None:
        self.clock = clock
        self._run = run
        self._on_overlap = on_overlap
        self._specs: dict[str, JobSpec] = {}
        self._time = _scheduler_time(clock)
        self._scheduler = _ClockedScheduler(
            clock,
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._scheduler.add_listener(self._overlap_event, EVENT_JOB_MAX_INSTANCES)

    def start(self) -> None:
        self._time.__enter__()
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop submitting runs; runs in flight carry on (the service decides how long)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._time.__exit__(None, None, None)

    def sync(
        self, specs: Mapping[str, JobSpec], last_started: Mapping[str, float]
    ) -> tuple[list[str], list[str], list[str]]:
        """Add, remove and reschedule jobs to match `specs`. Returns (added, removed, changed).
        An unchanged job keeps its next run time."""
        wanted = {name: spec for name, spec in specs.items() if spec.enabled}
        removed = [name for name in self._specs if name not in wanted]
        added = [name for name in wanted if name not in self._specs]
        changed = [
            name for name in wanted if name in self._specs and wanted[name] != self._specs[name]
        ]
        for name in removed + changed:
            self._scheduler.remove_job(name)
        now = self.clock.now()
        for name in added + changed:
            spec = wanted[name]
            first = first_run_time(spec.schedule, now, last_started.get(name))
            # interval jobs start at `first`; for cron the trigger alone decides
            timing = {"next_run_time": first} if spec.schedule.every else {}
            self._scheduler.add_job(
                self._run,
                trigger=build_trigger(spec.schedule, first),
                args=[name, "schedule"],
                id=name,
                name=name,
                **timing,
            )
        self._specs = dict(wanted)
        return added, removed, changed

    def schedule_retry(self, name: str, delay: float) -> None:
        """Run `name` once more after `delay` seconds (a failed run with retries left)."""
        run_at = _utc(self.clock.now() + delay)
        self._scheduler.add_job(
            self._run,
            trigger=DateTrigger(run_date=run_at, timezone=UTC),
            args=[name, "retry"],
            id=f"{name}#retry",
            name=f"{name} (retry)",
            replace_existing=True,
        )

    def next_runs(self) -> dict[str, float | None]:
        result: dict[str, float | None] = {}
        for job in self._scheduler.get_jobs():
            if job.id in self._specs:
                result[job.id] = job.next_run_time.timestamp() if job.next_run_time else None
        return result

    def wakeup(self) -> None:
        self._scheduler.wakeup()

    def _overlap_event(self, event: JobSubmissionEvent) -> None:
        name = str(event.job_id)
        if not name.endswith("#retry"):
            self._on_overlap(name)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
