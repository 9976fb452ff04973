"""The harvest's health for an assistant: is the service running, how each job is doing, the
recent runs and failures, in one answer with a verdict on top. The reports are those of
`harvester status`, `harvester jobs` and the dashboard (`_observe`), read through the archive's
read-only engine; the OAuth session is not part of it (its tables are not readable here).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from .._config.jobs_file import load_jobs_file
from .._config.settings import Settings
from .._core.clock import Clock, iso_seconds, parse_clock, parse_iso
from .._core.errors import HarvesterError
from .._core.redact import redact_text
from .._observe.reports import (
    ServiceInfo,
    jobs_overview,
    list_runs,
    run_counts_since,
    service_info,
)
from .._observe.web.reads import failure_streaks, last_failures, run_dicts
from .archive import Archive

DAY = 86400.0
RECENT = 10  # runs and failures shown


def harvest_health(
    archive: Archive, settings: Settings, clock: Clock | None = None
) -> dict[str, Any]:
    clock = clock or parse_clock(settings.clock)
    engine = archive.engine
    now = clock.now()
    info = service_info(engine, archive.database_url, clock)
    jobs, jobs_problem = _jobs(engine, settings, info)
    names = [row["job"] for row in jobs] or _jobs_of_runs(archive)
    streaks = failure_streaks(engine, names)
    for row in jobs:
        row["failed_in_a_row"] = streaks.get(row["job"], 0)
    counts = run_counts_since(engine, iso_seconds(now - DAY))
    answer: dict[str, Any] = {
        "verdict": _verdict(info, streaks, counts, now, jobs_problem),
        "service": _service(info, now),
        "runs_last_24h": counts,
        "jobs": jobs,
        "failing_jobs": [{"job": j, "failed_in_a_row": n} for j, n in sorted(streaks.items())],
        "recent_failures": [_redacted(row) for row in last_failures(engine, RECENT)],
        "last_runs": [_redacted(row) for row in run_dicts(list_runs(engine, limit=RECENT))],
    }
    if jobs_problem:
        answer["jobs_file_problem"] = jobs_problem
    return answer


def _jobs(
    engine: Engine, settings: Settings, info: ServiceInfo
) -> tuple[list[dict[str, Any]], str | None]:
    """`harvester jobs`'s rows, with why a job is off; or none and why the file is unreadable."""
    try:
        config = load_jobs_file(settings.jobs_path, engine, strict=False, env=settings.env())
    except HarvesterError as exc:
        return [], redact_text(f"{settings.jobs_path}: {exc}")
    rows = jobs_overview(engine, config, info)
    for row in rows:
        problems = config.problems_of(row["job"])
        row["disabled_because"] = problems[0].message if problems else None
    return rows, None


def _jobs_of_runs(archive: Archive) -> list[str]:
    return [row[0] for row in archive.rows("SELECT DISTINCT job FROM runs ORDER BY job").rows]


def _service(info: ServiceInfo, now: float) -> dict[str, Any]:
    state = info.state if info.running else {}
    return {
        "running": info.running,
        "pid": info.pid if info.running else None,
        "host": info.host,
        "started_at": info.started_at,
        "heartbeat_at": info.heartbeat_at,
        "heartbeat_seconds_ago": _age(info.heartbeat_at, now),
        "stopped_at": info.stopped_at,
        "standbys": list(info.standbys),
        "running_now": state.get("running"),
        "rate_limit": state.get("rate_limit"),
        "maintenance_until": state.get("maintenance_until"),
    }


def _verdict(
    info: ServiceInfo,
    streaks: dict[str, int],
    counts: dict[str, int],
    now: float,
    jobs_problem: str | None,
) -> str:
    """One paragraph a person can read: the service, the failing jobs, the last day."""
    if info.running:
        age = _age(info.heartbeat_at, now)
        beat = f", last heartbeat {age:.0f} s ago" if age is not None else ""
        parts = [f"the service is running (pid {info.pid} on {info.host}{beat})"]
    elif info.stopped_at:
        parts = [f"the service is not running (it stopped at {info.stopped_at})"]
    else:
        parts = ["the service is not running"]
    if streaks:
        failing = ", ".join(f"{job} ({n} in a row)" for job, n in sorted(streaks.items()))
        parts.append(f"failing since their last success: {failing}")
    else:
        parts.append("no job is failing")
    day = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    parts.append(f"runs in the last 24 h: {day}")
    if jobs_problem:
        parts.append(f"the jobs file cannot be read: {jobs_problem}")
    return "; ".join(parts)


def _age(moment: str | None, now: float) -> float | None:
    if not moment:
        return None
    try:
        return round(max(0.0, now - parse_iso(moment)), 1)
    except ValueError:
        return None


def _redacted(row: dict[str, Any]) -> dict[str, Any]:
    """Run errors are redacted when stored; redacted again here, as everything shown is."""
    return {k: redact_text(v) if isinstance(v, str) else v for k, v in row.items()}
