"""What the endpoint reports, read from the database (read-only) and the token store: the
session's facts, the jobs that are failing, the job table (harvester status's own report), and
the run history the dashboard plots. Plain functions, so tests and the bench call them too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, Float, cast, func, literal, select

from .. import db
from ..clock import iso_seconds
from ..errors import HarvesterError
from ..jobs import JobsConfig
from ..models import Document, Run
from ..reports import RUN_COLUMNS, ServiceInfo, jobs_overview
from ..tokenstore import TokenStore
from .health import FailingJob, SessionFacts

FAILURES = ("failed", "forbidden", "not_found")  # a run that did not get its data
STATUSES = ("success", "failed", "forbidden", "not_found", "maintenance", "skipped", "interrupted")


def session_facts(store: TokenStore, now: float, has_credentials: bool) -> SessionFacts:
    """The stored session as times and flags: no network, no lock held by a grant."""
    try:
        tokens = store.load()
        unreadable = None
    except HarvesterError as exc:
        tokens, unreadable = None, str(exc).split(":")[0]
    with store.reading() as conn:
        grants = store.password_grant_state(conn, now)
    return SessionFacts(
        stored=tokens is not None,
        foreign=tokens is None and store.has_foreign_session(),
        access_expires_at=tokens.access_expires_at if tokens else None,
        refresh_expires_at=tokens.refresh_expires_at if tokens else None,
        blocked_until=grants.blocked_until,
        block_reason=grants.block_reason,
        has_credentials=has_credentials,
        unreadable=unreadable,
    )


def failure_streaks(engine: Engine, job: str | None = None) -> dict[str, int]:
    """Each job's failed runs since its last success (runs that decided nothing — skipped,
    maintenance, interrupted — neither break nor extend a streak)."""
    last_ok = (
        select(Run.job.label("job"), func.max(Run.id).label("ok"))
        .where(Run.status == "success")
        .group_by(Run.job)
        .subquery()
    )
    statement = (
        select(Run.job, func.count())
        .select_from(Run)
        .outerjoin(last_ok, last_ok.c.job == Run.job)
        .where(Run.status.in_(FAILURES), Run.id > func.coalesce(last_ok.c.ok, 0))
        .group_by(Run.job)
    )
    if job is not None:
        statement = statement.where(Run.job == job)
    with db.read(engine) as conn:
        return {name: int(count) for name, count in conn.execute(statement).all()}


def failing_jobs(engine: Engine) -> tuple[FailingJob, ...]:
    return tuple(FailingJob(j, n) for j, n in sorted(failure_streaks(engine).items()))


def last_error(engine: Engine, job: str) -> str | None:
    with db.read(engine) as conn:
        return conn.execute(
            select(Run.error)
            .where(Run.job == job, Run.status.in_(FAILURES))
            .order_by(Run.id.desc())
            .limit(1)
        ).scalar()


def job_rows(
    engine: Engine, config: JobsConfig, next_runs: Mapping[str, float | None]
) -> list[dict[str, Any]]:
    """`harvester jobs`'s rows (reports.jobs_overview) with why a disabled job is off."""
    info = ServiceInfo(
        running=True,
        pid=None,
        host=None,
        started_at=None,
        heartbeat_at=None,
        stopped_at=None,
        state={"next_runs": {k: iso_seconds(v) if v else None for k, v in next_runs.items()}},
    )
    rows = jobs_overview(engine, config, info)
    for row in rows:
        spec = config.jobs[row["job"]]
        problems = config.problems_of(row["job"])
        if problems:
            row["disabled_because"] = "; ".join(p.message for p in problems)
        elif not spec.enabled:
            row["disabled_because"] = "enabled: false in the jobs file"
        else:
            row["disabled_because"] = None
    return rows


# -- history for the plots ---------------------------------------------------------------------


def _hour() -> Any:
    return func.substr(Run.started_at, 1, 13)  # 2026-11-28T06 (ISO text sorts as time)


def _seconds(engine: Engine) -> Any:
    """finished_at - started_at in seconds, in the database's own dialect."""
    if engine.dialect.name == "postgresql":
        stop = cast(Run.finished_at, db_timestamp())
        start = cast(Run.started_at, db_timestamp())
        return func.extract("epoch", stop - start)
    return (func.julianday(Run.finished_at) - func.julianday(Run.started_at)) * literal(
        86400.0, Float
    )


def db_timestamp() -> Any:
    from sqlalchemy.dialects.postgresql import TIMESTAMP

    return TIMESTAMP(timezone=True)


def runs_per_hour(engine: Engine, since: str) -> dict[tuple[str, str], int]:
    """(hour, status) -> runs started in that hour."""
    statement = (
        select(_hour(), Run.status, func.count())
        .where(Run.started_at >= since, Run.status != "running")
        .group_by(_hour(), Run.status)
    )
    with db.read(engine) as conn:
        return {(hour, status): int(n) for hour, status, n in conn.execute(statement).all()}


def durations_per_hour(engine: Engine, since: str) -> dict[str, list[tuple[str, float, float]]]:
    """job -> [(hour, mean seconds, longest seconds)] of the runs that did their work."""
    seconds = _seconds(engine)
    statement = (
        select(Run.job, _hour(), func.avg(seconds), func.max(seconds))
        .where(
            Run.started_at >= since,
            Run.finished_at.is_not(None),
            Run.status.not_in(("skipped", "running")),
        )
        .group_by(Run.job, _hour())
        .order_by(Run.job, _hour())
    )
    out: dict[str, list[tuple[str, float, float]]] = {}
    with db.read(engine) as conn:
        for job, hour, mean, longest in conn.execute(statement).all():
            out.setdefault(job, []).append((hour, float(mean or 0), float(longest or 0)))
    return out


def budget_per_hour(engine: Engine, since: str) -> list[tuple[str, int]]:
    """(hour, the fewest requests left in the rate window that a run saw in that hour)."""
    statement = (
        select(_hour(), func.min(Run.ratelimit_remaining))
        .where(Run.started_at >= since, Run.ratelimit_remaining.is_not(None))
        .group_by(_hour())
        .order_by(_hour())
    )
    with db.read(engine) as conn:
        return [(hour, int(low)) for hour, low in conn.execute(statement).all()]


def archive_growth(engine: Engine, days: int = 90) -> list[tuple[str, int, int]]:
    """(day, documents in the archive by the end of it, their bytes), the last `days` days."""
    day = func.substr(Document.first_seen_at, 1, 10)
    statement = (
        select(day, func.count(), func.coalesce(func.sum(Document.size), 0))
        .group_by(day)
        .order_by(day)
    )
    with db.read(engine) as conn:
        per_day = [(d, int(n), int(b)) for d, n, b in conn.execute(statement).all()]
    total_docs = total_bytes = 0
    growth = []
    for d, n, b in per_day:
        total_docs += n
        total_bytes += b
        growth.append((d, total_docs, total_bytes))
    return growth[-days:]


def last_failures(engine: Engine, limit: int = 15) -> list[dict[str, Any]]:
    """The newest runs that did not get their data, with their (already redacted) errors."""
    statement = (
        select(Run.id, Run.job, Run.status, Run.started_at, Run.error)
        .where(Run.status.in_((*FAILURES, "interrupted")))
        .order_by(Run.id.desc())
        .limit(limit)
    )
    with db.read(engine) as conn:
        return [dict(row._mapping) for row in conn.execute(statement).all()]


def run_dicts(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """reports.list_runs rows as JSON objects."""
    return [dict(zip(RUN_COLUMNS, row, strict=True)) for row in rows]
