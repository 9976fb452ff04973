"""What the endpoint reports, read from the database (read-only) and the token store: the
session's facts, the jobs that are failing, the job table (harvester status's own report), and
the run history the dashboard plots. Plain functions, so tests and the bench call them too."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from ..._config.jobs import JobsConfig
from ..._core.clock import iso_seconds
from ..._core.errors import HarvesterError
from ..._oauth.store import TokenStore
from ..._store import db
from ..._store.models import Document, Run, RunHour, RunTotal, ServiceState
from ..reports import RUN_COLUMNS, ServiceInfo, jobs_overview
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
        refresh_held=tokens is not None and tokens.refresh_valid(now),
    )


def active_service(engine: Engine) -> dict[str, Any] | None:
    """The active service's host, pid and last heartbeat, from its row (None: none running)."""
    with db.read(engine) as conn:
        row = conn.execute(
            select(ServiceState.host, ServiceState.pid, ServiceState.heartbeat_at).where(
                ServiceState.id == 1, ServiceState.stopped_at.is_(None)
            )
        ).first()
    return (
        None
        if row is None
        else {"host": row.host, "pid": row.pid, "heartbeat_at": row.heartbeat_at}
    )


def failure_streaks(engine: Engine, jobs: Iterable[str], depth: int = 200) -> dict[str, int]:
    """Each job's failed runs since its last success, counted over its newest `depth` runs
    (one index range per job). Runs that decided nothing (skipped, maintenance, interrupted)
    neither break nor extend a streak. Only the jobs whose newest failure is not older than
    their newest success (`run_totals`, a few rows) are looked at run by run: ten thousand
    jobs cost one read, not ten thousand."""
    wanted = set(jobs)
    streaks: dict[str, int] = {}
    with db.read(engine) as conn:
        candidates = sorted(wanted.intersection(_maybe_failing(conn)))
        for job in candidates:
            statuses = conn.execute(
                select(Run.status)
                .where(Run.job == job)
                .order_by(Run.started_at.desc(), Run.id.desc())
                .limit(depth)
            ).scalars()
            streak = 0
            for status in statuses:
                if status == "success":
                    break
                if status in FAILURES:
                    streak += 1
            if streak:
                streaks[job] = streak
    return streaks


def _maybe_failing(conn: Connection) -> set[str]:
    """The jobs with a failed run started no earlier than their newest success (or with no
    success at all): a superset of the jobs with a streak, read from the running figures."""
    newest_failure: dict[str, str] = {}
    newest_success: dict[str, str] = {}
    for job, status, started in conn.execute(
        select(RunTotal.job, RunTotal.status, RunTotal.last_started_at).where(
            RunTotal.status.in_((*FAILURES, "success"))
        )
    ):
        into = newest_success if status == "success" else newest_failure
        if started is not None and started > into.get(job, ""):
            into[job] = started
        into.setdefault(job, "")
    return {
        job
        for job, started in newest_failure.items()
        if job not in newest_success or started >= newest_success[job]
    }


def failing_jobs(engine: Engine, jobs: Iterable[str]) -> tuple[FailingJob, ...]:
    return tuple(FailingJob(j, n) for j, n in sorted(failure_streaks(engine, jobs).items()))


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


@dataclass
class History:
    """The runs of the plotted hours, aggregated in one pass over them."""

    runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (hour, status) -> runs
    durations: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)
    budget: list[tuple[str, int]] = field(default_factory=list)  # (hour, fewest left)


def run_history(engine: Engine, since: str) -> History:
    """Runs started since the hour of `since`: counts per hour and status, each job's mean and
    longest duration per hour (real seconds; for runs recorded before those were, the span of
    their times), the fewest requests left in the rate window per hour. Read from the running
    figures (`run_hours`): a row per hour, job and status, however many runs there were."""
    statement = select(
        RunHour.hour,
        RunHour.job,
        RunHour.status,
        RunHour.runs,
        RunHour.seconds_n,
        RunHour.seconds_sum,
        RunHour.seconds_max,
        RunHour.ratelimit_min,
    ).where(RunHour.hour >= since[:13])
    history = History()
    spans: dict[tuple[str, str], tuple[int, float, float]] = {}  # (job, hour) -> n, sum, max
    lowest: dict[str, int] = {}
    with db.read(engine) as conn:
        for hour, job, status, runs, n, total, longest, remaining in conn.execute(statement):
            key = (hour, status)
            history.runs[key] = history.runs.get(key, 0) + runs
            if remaining is not None and (hour not in lowest or remaining < lowest[hour]):
                lowest[hour] = remaining
            if n and total is not None and longest is not None:
                was_n, was_total, was_max = spans.get((job, hour), (0, 0.0, longest))
                spans[(job, hour)] = (was_n + n, was_total + total, max(was_max, longest))
    for (job, hour), (n, total, longest) in sorted(spans.items()):
        history.durations.setdefault(job, []).append((hour, total / n, longest))
    history.budget = sorted(lowest.items())
    return history


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


CHAIN_WINDOW = 500  # the newest runs a chain is looked for in


def recent_chains(engine: Engine, limit: int = 6) -> list[list[dict[str, Any]]]:
    """The newest chains of runs: a run that started others (its children, by their
    `parent_run_id`, and theirs), each chain as its runs in order, a `depth` on each (0 for the
    first). Looked for among the newest CHAIN_WINDOW runs."""
    statement = (
        select(
            Run.id,
            Run.job,
            Run.trigger,
            Run.parent_run_id,
            Run.status,
            Run.started_at,
            Run.duration_seconds,
            Run.error,
        )
        .order_by(Run.id.desc())
        .limit(CHAIN_WINDOW)
    )
    with db.read(engine) as conn:
        runs = {row.id: dict(row._mapping) for row in conn.execute(statement)}
    children: dict[int, list[int]] = {}
    for run_id, run in runs.items():
        parent = run["parent_run_id"]
        if parent in runs:
            children.setdefault(parent, []).append(run_id)
    roots = [
        run_id
        for run_id in sorted(children, reverse=True)
        if runs[run_id]["parent_run_id"] not in runs
    ][:limit]
    chains = []
    for root in roots:
        chain: list[dict[str, Any]] = []
        stack = [(root, 0)]
        while stack:
            run_id, depth = stack.pop()
            chain.append({**runs[run_id], "depth": depth})
            stack.extend((c, depth + 1) for c in sorted(children.get(run_id, []), reverse=True))
        chains.append(chain)
    return chains


def run_dicts(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """reports.list_runs rows as JSON objects."""
    return [dict(zip(RUN_COLUMNS, row, strict=True)) for row in rows]
