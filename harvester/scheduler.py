"""The only APScheduler import: triggers, the service loop, signals, reload, the instance lock."""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger


def cron_error(expression: str) -> str | None:
    """Why a five-field cron expression is not valid, or None (for jobs.yaml validation)."""
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        return str(exc)
    return None
