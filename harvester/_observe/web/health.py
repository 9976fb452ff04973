"""Whether the service can do its work: the verdict of /healthz and /readyz, from facts (pure).

Unhealthy (503) when the scheduler loop has stalled or there is no usable session (logged out,
the refresh token expired, token requests blocked by the token endpoint). Maintenance, failing
jobs and a refused edit of jobs.yaml (the previous jobs keep running) are degraded, not
unhealthy: the service is doing all it can.

A standby (PostgreSQL: another service is active) is healthy while its loop beats — it is
doing its job, waiting, and restarting it would help nothing — but never ready: /readyz, what a
load balancer asks, answers 200 only for the active service. The session is the active one's
to keep, so a standby does not fail its health for it; nor does it depend on anything the
active one holds (its loop never waits for the write lock).

A database that does not answer is unhealthy on every role (503, with the reason): nothing can
be harvested, and a standby could not take over.

So is an active service whose last run the database refused to record (a full disk): every run
fails and nothing is archived, until a run is recorded again. A standby runs nothing, so never
reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..._core.clock import iso_seconds


@dataclass(frozen=True)
class SessionFacts:
    """The stored session, as times and flags only (never a token)."""

    stored: bool
    foreign: bool  # a session of another client id or user is stored
    access_expires_at: float | None
    refresh_expires_at: float | None
    blocked_until: float | None
    block_reason: str | None
    has_credentials: bool
    unreadable: str | None = None  # why the stored session could not be read (a key problem)
    # a refresh token is stored and has not expired: an expired access token is renewed by it
    refresh_held: bool = False

    def problem(self, now: float) -> str | None:
        """Why no request can be authorised, or None if the session is usable."""
        if self.blocked_until is not None and self.blocked_until > now:
            return f"password logins blocked until {iso_seconds(self.blocked_until)}" + (
                f" ({self.block_reason})" if self.block_reason else ""
            )
        if self.unreadable is not None:
            return f"the stored session cannot be read: {self.unreadable}"
        if not self.stored:
            if self.foreign:
                return "logged out (the stored session is for another client or user)"
            return "logged out (run `harvester auth login`)"
        access_ok = self.access_expires_at is not None and self.access_expires_at > now
        refresh_ok = self.refresh_expires_at is None or self.refresh_expires_at > now
        if not access_ok and not refresh_ok:
            return "refresh token expired (run `harvester auth login`)"
        return None

    def refresh_expiring(self, now: float, within: float = 86400.0) -> bool:
        """The refresh token ends within `within` seconds and nothing can replace it: no
        password to log in with, or password logins blocked."""
        if self.refresh_expires_at is None or self.refresh_expires_at - now > within:
            return False
        blocked = self.blocked_until is not None and self.blocked_until > now
        return not self.has_credentials or blocked


@dataclass(frozen=True)
class FailingJob:
    job: str
    failed_in_a_row: int


@dataclass(frozen=True)
class HealthFacts:
    now: float
    heartbeat_age: float | None  # real seconds since the service loop last beat
    stall_after: float  # real seconds without a beat that mean the loop has stalled
    session: SessionFacts | None  # None: the database could not be read
    maintenance_until: float | None
    maintenance_since: float | None
    failing: tuple[FailingJob, ...]
    role: str = "active"  # "standby" (waiting for the lock), "stepped_down" (lost it), ...
    active: dict[str, Any] | None = None  # the active service: host, pid, heartbeat_at
    jobs_file: str | None = None
    config_rejected: str | None = None  # the refused edit's first problem (file:line: ...)
    config_rejected_at: float | None = None
    database: str | None = None  # why the database does not answer (None: it does)
    # the active service's runs cannot be recorded (a full disk): since when, the last error
    not_recorded: str | None = None


@dataclass(frozen=True)
class Health:
    healthy: bool
    body: dict[str, Any]
    ready: bool = False  # the active service, healthy: send it traffic

    @property
    def http_status(self) -> int:
        return 200 if self.healthy else 503

    @property
    def ready_status(self) -> int:
        return 200 if self.ready else 503


def assess(facts: HealthFacts) -> Health:
    reasons: list[str] = []
    standby = facts.role == "standby"
    loop = "the standby loop" if standby else "the scheduler loop"
    if facts.heartbeat_age is None:
        reasons.append(f"{loop} has not started")
    elif facts.heartbeat_age > facts.stall_after:
        reasons.append(f"{loop} stalled {facts.heartbeat_age:.0f}s ago")
    if facts.role == "stepped_down":
        reasons.append("this service lost the active lock and is stopping; another takes over")
    if facts.database is not None:
        reasons.append(f"the database does not answer: {facts.database}")
    not_recorded = facts.not_recorded if facts.role == "active" else None  # a standby runs none
    if not_recorded is not None:
        reasons.append(f"runs cannot be recorded in the database: {not_recorded}")
    session = facts.session
    if session is None:
        session_problem: str | None = "unknown (the database could not be read)"
    else:
        session_problem = session.problem(facts.now)
        if session_problem is not None and not standby:
            reasons.append(f"no usable session: {session_problem}")
    paused = facts.maintenance_until is not None
    if reasons:
        status = "unhealthy"
    elif standby:
        status = "standby"
    elif paused or facts.failing or facts.config_rejected is not None:
        status = "degraded"
    else:
        status = "ok"
    ready = not reasons and facts.role == "active"
    body: dict[str, Any] = {
        "status": status,
        "role": facts.role,
        "ready": ready,
        "reasons": reasons,
        "active": facts.active,
        "time": iso_seconds(facts.now),
        "heartbeat_age_seconds": (
            round(facts.heartbeat_age, 1) if facts.heartbeat_age is not None else None
        ),
        "session": {
            "state": "ok" if session_problem is None else session_problem,
            "access_expires_at": _when(session.access_expires_at if session else None),
            "refresh_expires_at": _when(session.refresh_expires_at if session else None),
        },
        "database": "ok" if facts.database is None else facts.database,
        "recording": "ok" if not_recorded is None else not_recorded,
        "maintenance": {
            "paused": paused,
            "since": _when(facts.maintenance_since) if paused else None,
            "probe_at": _when(facts.maintenance_until),
        },
        "failing_jobs": [
            {"job": f.job, "failed_runs_in_a_row": f.failed_in_a_row} for f in facts.failing
        ],
        "jobs_file": {
            "path": facts.jobs_file,
            "state": "ok" if facts.config_rejected is None else "rejected",
            "rejected": facts.config_rejected,  # the previous jobs keep running meanwhile
            "since": _when(facts.config_rejected_at),
        },
    }
    return Health(not reasons, body, ready)


def _when(epoch: float | None) -> str | None:
    return iso_seconds(epoch) if epoch is not None else None
