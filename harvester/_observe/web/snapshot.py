"""Everything the dashboard and /api/status show, gathered once per request.

The service's memory gives the health verdict, the next runs and the rate budget; the database
(read-only) gives the jobs' history. The dashboard renders this; /api/status returns it as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ..._config.jobs import JobsConfig
from ..._core.clock import iso_seconds
from ..._feeds.status import feed_statuses
from ..._store import db
from .health import Health, SessionFacts
from .reads import archive_growth, job_rows, last_failures, recent_chains, run_history

HOURS = 7 * 24


@dataclass(frozen=True)
class Budget:
    limit: int | None
    remaining: int | None
    reset_at: float | None


@dataclass(frozen=True)
class Snapshot:
    now: float
    health: Health
    session: SessionFacts
    budget: Budget
    jobs: list[dict[str, Any]]
    hours: list[str]  # the last 168 hours, oldest first: "2026-11-28T06"
    runs_per_hour: dict[tuple[str, str], int]
    durations: dict[str, list[tuple[str, float, float]]]
    budget_per_hour: list[tuple[str, int]]
    growth: list[tuple[str, int, int]]
    failures: list[dict[str, Any]]
    feeds: list[dict[str, Any]] = field(default_factory=list)  # jobs.yaml's feeds, counted
    chains: list[list[dict[str, Any]]] = field(default_factory=list)  # the newest, runs in order

    def as_json(self) -> dict[str, Any]:
        per_status: dict[str, dict[str, int]] = {}
        for (hour, status), count in sorted(self.runs_per_hour.items()):
            per_status.setdefault(status, {})[hour] = count
        return {
            "time": iso_seconds(self.now),
            "health": self.health.body,
            "jobs": self.jobs,
            "rate_limit": {
                "limit": self.budget.limit,
                "remaining": self.budget.remaining,
                "reset_at": iso_seconds(self.budget.reset_at) if self.budget.reset_at else None,
            },
            "runs_per_hour": per_status,
            "run_durations": {
                job: [
                    {"hour": h, "mean_seconds": round(m, 3), "max_seconds": round(x, 3)}
                    for h, m, x in points
                ]
                for job, points in self.durations.items()
            },
            "ratelimit_lowest_per_hour": [
                {"hour": h, "remaining": r} for h, r in self.budget_per_hour
            ],
            "archive_growth": [{"day": d, "documents": n, "bytes": b} for d, n, b in self.growth],
            "last_failures": self.failures,
            "feeds": self.feeds,
            "chains": self.chains,
        }


def hour_labels(now: float, hours: int = HOURS) -> list[str]:
    """The hours ending with the current one, as the database's `started_at[:13]`."""
    current = int(now // 3600) * 3600
    return [iso_seconds(current - 3600 * (hours - 1 - i))[:13] for i in range(hours)]


def take_snapshot(
    engine: Engine,
    config: JobsConfig,
    next_runs: dict[str, float | None],
    now: float,
    health: Health,
    session: SessionFacts,
    budget: Budget,
) -> Snapshot:
    hours = hour_labels(now)
    history = run_history(engine, hours[0] + ":00:00Z")
    return Snapshot(
        now=now,
        health=health,
        session=session,
        budget=budget,
        jobs=job_rows(engine, config, next_runs),
        hours=hours,
        runs_per_hour=history.runs,
        durations=history.durations,
        budget_per_hour=history.budget,
        growth=archive_growth(engine),
        failures=last_failures(engine),
        feeds=feed_rows(engine, config),
        chains=recent_chains(engine),
    )


def feed_rows(engine: Engine, config: JobsConfig) -> list[dict[str, Any]]:
    """jobs.yaml's feeds and what they did (rows of feeds no longer in the file too)."""
    with db.read(engine) as conn:
        return [status.as_dict() for status in feed_statuses(conn, config.feeds)]
