"""jobs.yaml schedules as APScheduler triggers: the only APScheduler import.

APScheduler's triggers do the schedule maths (intervals, UTC cron, jitter); the service's loop
(`_service.scheduler`) asks them for fire times on harvester's clock, and the jobs file checks
its cron expressions here. Policy, the same for every job: UTC; fire times missed while the
process was busy coalesce into one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .._core.clock import utc
from .jobs import Schedule

Trigger: TypeAlias = BaseTrigger  # what the service's loop holds per job


def cron_error(expression: str) -> str | None:
    """Why a five-field cron expression is not valid, or None (for jobs.yaml validation)."""
    try:
        CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        return str(exc)
    return None


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


def next_fire_after(trigger: BaseTrigger, previous: datetime, now: datetime) -> datetime | None:
    """The trigger's first fire time after `now`, following on from `previous`: the fire times
    in between are missed and coalesce into the one just due (APScheduler's own reckoning)."""
    fire: datetime | None = trigger.get_next_fire_time(previous, now)
    while fire is not None and fire <= now:
        fire = trigger.get_next_fire_time(fire, now)
    return fire


def first_fire(trigger: Trigger, now: float) -> datetime | None:
    """A cron trigger's first fire time after `now` (interval jobs start at their first run)."""
    fire: datetime | None = trigger.get_next_fire_time(None, utc(now))
    return fire
