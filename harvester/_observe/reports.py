"""What the operations commands show: jobs with their last and next runs, run history, and the
service's health. Plain functions over the database, so tests and the CLI read the same thing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, select

from .._archive.bookkeeping import all_cursors, item_counts
from .._config.graph import JobGraph
from .._config.jobs import JobsConfig
from .._core.clock import Clock, iso_seconds, parse_iso
from .._core.durations import parse_moment
from .._core.errors import ConfigError
from .._core.run_status import RunStatus
from .._store import db, lock
from .._store.models import Run, RunTotal, ServiceState

RUN_COLUMNS = (
    "id",
    "job",
    "trigger",  # what started it: schedule, startup, reload, parent, retry, cli, manual, backfill
    "parent_run",  # the run of a job it follows that started it, or that it waited for
    "status",
    "started_at",
    "finished_at",
    "duration",  # real seconds it took (None while running), whatever harvester's clock did
    "requests",
    "bytes",
    "documents_new",
    "documents_dup",
    "rows_new",
    "rows_dup",
    "ratelimit_remaining",
    "error",
)
STORED_RUN_COLUMNS = tuple(name for name in RUN_COLUMNS if name != "duration")
_STORED_AS = {"parent_run": "parent_run_id"}  # a column of RUN_COLUMNS by another name


@dataclass(frozen=True)
class ServiceInfo:
    running: bool
    pid: int | None
    host: str | None
    started_at: str | None
    heartbeat_at: str | None
    stopped_at: str | None
    state: dict[str, Any]
    standbys: tuple[str, ...] = ()  # "host pid N" of services waiting to take over (PostgreSQL)
    jobs_text: str | None = None  # the jobs file the service accepted last (and runs)

    @property
    def jobs_rejected(self) -> str | None:
        """The first problem of the edit of jobs.yaml the running service refused, if any."""
        rejected = self.state.get("jobs_rejected") if self.running else None
        return str(rejected.get("problem")) if isinstance(rejected, dict) else None

    # read from a PostgreSQL replica: how far behind its primary it is (seconds); None: primary
    replica_behind: float | None = None


STALE_BEATS = 3  # a standby silent for this many of its heartbeat intervals is dead
DEFAULT_BEAT = 10.0  # real seconds, ServiceOptions.heartbeat_interval's default


def standby_alive(heartbeat_at: str | None, state: str | None, clock: Clock) -> bool:
    """Whether a standby's row is alive: its last heartbeat is less than STALE_BEATS of its own
    intervals old (in real seconds: a scaled clock's time runs faster; a manual clock's never
    passes by itself, so under it a row never goes stale). A killed standby leaves its row
    behind; this is how `harvester status` and the active service's heartbeat tell."""
    if not heartbeat_at:
        return False
    try:
        every = float(json.loads(state or "{}").get("heartbeat_seconds", DEFAULT_BEAT))
        age = clock.now() - parse_iso(heartbeat_at)
    except (ValueError, TypeError, AttributeError):
        return False
    return age <= 0 or clock.real_seconds(age) <= STALE_BEATS * every


def service_info(engine: Engine, database_url: str, clock: Clock | None = None) -> ServiceInfo:
    """Whether `harvester start` holds this database's lock, and its last heartbeat; with a
    clock, only the standbys still alive (`standby_alive`). On a PostgreSQL replica the lease is
    judged as of the last commit the replica shows (`_store.lease`)."""
    holder = lock.service_lock(engine, database_url).holder()
    position = db.replica_position(engine)
    with db.read(engine) as conn:
        row = conn.execute(
            select(
                ServiceState.pid,
                ServiceState.host,
                ServiceState.started_at,
                ServiceState.heartbeat_at,
                ServiceState.stopped_at,
                ServiceState.state,
                ServiceState.jobs_text,
            ).where(ServiceState.id == 1)
        ).first()
        standbys = [
            (host, pid)
            for host, pid, beat, standby_state in conn.execute(
                select(
                    ServiceState.host,
                    ServiceState.pid,
                    ServiceState.heartbeat_at,
                    ServiceState.state,
                )
                .where(ServiceState.id != 1, ServiceState.stopped_at.is_(None))
                .order_by(ServiceState.started_at)
            ).all()
            if clock is None or standby_alive(beat, standby_state, clock)
        ]
    state = json.loads(row.state) if row is not None else {}
    return ServiceInfo(
        running=holder is not None,
        pid=holder if holder and holder > 0 else (row.pid if row is not None else None),
        host=row.host if row is not None else None,
        started_at=row.started_at if row is not None else None,
        heartbeat_at=row.heartbeat_at if row is not None else None,
        stopped_at=row.stopped_at if row is not None else None,
        state=state,
        standbys=tuple(f"{host} pid {pid}" for host, pid in standbys),
        jobs_text=row.jobs_text if row is not None else None,
        replica_behind=max(0.0, position[1] - position[0]) if position is not None else None,
    )


def jobs_overview(engine: Engine, config: JobsConfig, info: ServiceInfo) -> list[dict[str, Any]]:
    """One row per job: schedule, next run (from the running service), last status and success,
    the jobs it follows (`for_each`, `after`) and those that follow it."""
    with db.read(engine) as conn:
        newest = (
            select(Run.status)
            .where(Run.job == RunTotal.job, Run.status != RunStatus.RUNNING.value)
            .order_by(Run.id.desc())
            .limit(1)
            .correlate(RunTotal)
            .scalar_subquery()
        )
        # each job's newest finished run: one index seek per job (runs(job, id)), over the
        # jobs the running figures know; its last success from them too
        statuses: dict[str, str | None] = dict(
            conn.execute(
                select(RunTotal.job, newest)
                .where(RunTotal.job.in_(list(config.jobs)))
                .group_by(RunTotal.job)
            ).all()
        )
        last_ok = dict(
            conn.execute(
                select(RunTotal.job, RunTotal.last_finished_at).where(
                    RunTotal.status == RunStatus.SUCCESS.value
                )
            ).all()
        )
    next_runs = info.state.get("next_runs", {}) if info.running else {}
    cursors = all_cursors(engine)
    graph = JobGraph.of(config.jobs)
    rows = []
    for name, spec in config.jobs.items():
        position = None
        if spec.incremental is not None:
            position = cursors.get(name) or f"start {spec.incremental.start}"
        elif spec.for_each is not None:
            counts = item_counts(engine, name)
            position = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or None
        rows.append(
            {
                "job": name,
                "endpoint": spec.endpoint,
                "schedule": spec.schedule.describe() if spec.enabled else "disabled",
                "next_run": next_runs.get(name) if spec.enabled else None,
                "last_status": statuses.get(name),
                "last_success": last_ok.get(name),
                "cursor": position,
                "parents": ", ".join(graph.parents.get(name, ())) or None,
                "children": ", ".join(graph.children.get(name, ())) or None,
            }
        )
    return rows


def parse_since(text: str, clock: Clock) -> str:
    """`--since`: an ISO date or time, or a duration back from now (`2h`, `-7d`, `7d`)."""
    try:
        return iso_seconds(parse_moment(text, clock.now()))
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None


def list_runs(
    engine: Engine,
    job: str | None = None,
    status: str | None = None,
    since: str | None = None,
    limit: int = 50,
) -> list[tuple[Any, ...]]:
    """The newest runs first, filtered; rows in RUN_COLUMNS order."""
    columns = [getattr(Run, _STORED_AS.get(name, name)).label(name) for name in STORED_RUN_COLUMNS]
    columns.append(Run.duration_seconds)
    conditions = []
    if job:
        conditions.append(Run.job == job)
    if status:
        conditions.append(Run.status == status)
    if since:
        conditions.append(Run.started_at >= since)
    statement = select(*columns).order_by(Run.id.desc()).limit(limit)
    if conditions:
        statement = statement.where(and_(*conditions))
    with db.read(engine) as conn:
        found = conn.execute(statement).all()
    return [_with_duration(row._mapping) for row in found]


def _with_duration(row: Any) -> tuple[Any, ...]:
    """The row with its duration: the real seconds it recorded, or for a run recorded before
    they were (migration 0010), the seconds between its times on harvester's clock."""
    started, finished, real = row["started_at"], row["finished_at"], row["duration_seconds"]
    if finished is None:
        duration: float | None = None
    elif real is not None:
        duration = round(real, 1)
    else:
        duration = round(parse_iso(finished) - parse_iso(started)) if started else None
    return tuple(duration if name == "duration" else row[name] for name in RUN_COLUMNS)


def run_counts_since(engine: Engine, since: str) -> dict[str, int]:
    """Runs started since `since`, by status. Grouped by an expression, so the planner reads
    the range of runs(started_at, status) rather than walking all of runs(status) in order."""
    status = Run.status.concat("")
    with db.read(engine) as conn:
        return {
            str(s): int(n)
            for s, n in conn.execute(
                select(status, func.count()).where(Run.started_at >= since).group_by(status)
            ).all()
        }
