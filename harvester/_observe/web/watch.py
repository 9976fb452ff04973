"""The service's observer: it is told of heartbeats and finished runs, and from them and what the
service already holds (memory, the database read-only) it serves the endpoint, keeps the
metrics and raises alerts. It never calls into the runner: data flows one way, to here.

Alert conditions are evaluated on the service loop's heartbeat, never on a run's thread, so an
alert (or a slow database read for one) never delays a run.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
from sqlalchemy import Engine

from ..._config.jobs import JobsConfig
from ..._config.settings import Settings
from ..._core.clock import Clock, iso_seconds
from ..._core.logs import get_logger
from ..._core.redact import redact_text
from ..._core.text import error_line
from ..._feeds.status import target_statuses
from ..._fetch.maintenance import MaintenancePause
from ..._fetch.ratelimit import RateBudget
from ..._oauth.store import TokenStore
from ..._store import db
from ..alerts import AlertRules, AlertSender
from ..metrics import CONTENT_TYPE, LiveFacts, ServiceMetrics
from ..reports import list_runs, parse_since
from .dashboard import render_dashboard
from .health import FailingJob, Health, HealthFacts, SessionFacts, assess
from .reads import (
    active_service,
    failing_jobs,
    failure_streaks,
    last_error,
    run_dicts,
    session_facts,
)
from .server import WebServer, check_address
from .snapshot import Budget, Snapshot, take_snapshot


class _Beating(Protocol):
    @property
    def heartbeat_interval(self) -> float: ...


class _Scheduling(Protocol):
    def next_runs(self) -> dict[str, float | None]: ...


class WatchedRuntime(Protocol):
    """What the watch reads of the process's runtime (`_service.runtime.Runtime` is one)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def http(self) -> httpx.Client: ...
    @property
    def store(self) -> TokenStore: ...
    @property
    def budget(self) -> RateBudget: ...
    @property
    def pause(self) -> MaintenancePause: ...


class WatchedService(Protocol):
    """What the watch reads of the service it watches (`_service.service.Service` is one). A
    protocol, so the web package never imports the service that starts it: imports go one way."""

    @property
    def runtime(self) -> WatchedRuntime: ...
    @property
    def role(self) -> str: ...
    @property
    def config(self) -> JobsConfig: ...
    @property
    def options(self) -> _Beating: ...
    @property
    def scheduler(self) -> _Scheduling: ...
    @property
    def config_rejected(self) -> str | None: ...  # the refused edit's first problem
    @property
    def config_rejected_at(self) -> float | None: ...
    @property
    def database_problem(self) -> str | None: ...


class FinishedRun(Protocol):
    """What the watch reads of a finished run (`_service.runner.RunOutcome` is one)."""

    @property
    def job(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def error(self) -> str | None: ...
    @property
    def recorded(self) -> bool: ...  # False: the database refused to record it


@dataclass(frozen=True)
class Unrecorded:
    """The last run the database refused to record, and since when none has been."""

    job: str
    error: str
    since: float  # harvester's clock

    def reason(self) -> str:
        return f"since {iso_seconds(self.since)}; last: job {self.job}, {self.error}"

    def alert(self) -> str:
        return (
            f"runs cannot be recorded in the database since {iso_seconds(self.since)} (a full "
            f"disk?): nothing is being archived; last: job {self.job}, {self.error}"
        )


log = get_logger("harvester.watch")

MAINTENANCE_ALERT_AFTER = 3600.0
MAX_API_RUNS = 1000
HEALTH_READ_SECONDS = 3.0  # a probe's database reads wait this long, then it answers 503

T = TypeVar("T")


class BoundedReads:
    """The database reads of /healthz, each on a thread of its own, waited for at most
    `seconds`: a database that does not answer (down, cut off, behind a frozen proxy) makes
    the probe answer 503 with the reason at once instead of hanging or failing with 500. While
    one read is stuck, no other is started (the answer says for how long)."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._stuck_since: float | None = None
        self._stuck: threading.Thread | None = None

    def run(self, work: Callable[[], T]) -> tuple[T | None, str | None]:
        """(the result, None), or (None, why there is none)."""
        with self._lock:
            if self._stuck is not None and self._stuck.is_alive():
                assert self._stuck_since is not None
                waited = self._monotonic() - self._stuck_since
                return None, f"the database has not answered a read for {waited:.0f} s"
            self._stuck = None
        box: list[T] = []
        failure: list[BaseException] = []

        def read() -> None:
            try:
                box.append(work())
            except BaseException as exc:  # reported to the probe, never raised
                failure.append(exc)

        started = self._monotonic()
        thread = threading.Thread(target=read, name="health-read", daemon=True)
        thread.start()
        thread.join(self.seconds)
        if thread.is_alive():
            with self._lock:
                self._stuck, self._stuck_since = thread, started
            return None, f"the database did not answer within {self.seconds:g} s"
        if failure:
            exc = failure[0]
            line = redact_text(error_line(exc, limit=200))
            return None, f"the database cannot be read ({line})"
        return box[0], None


def check_settings(service: WatchedService) -> None:
    """Before anything starts: a non-loopback address needs a token (ConfigError otherwise)."""
    settings = service.runtime.settings
    if settings.http is not None:
        check_address(settings.http, settings.http_token)


class Watch:
    def __init__(
        self,
        service: WatchedService,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        alert_wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.service = service
        rt = service.runtime
        self.settings = rt.settings
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._beat: float | None = None
        self._maintenance_since: float | None = None
        self._finished: set[str] = set()  # jobs with a run finished since the last check
        self._failing: dict[str, int] = {}  # job -> streak, while announced or due
        # the last run the database refused to record, until one is recorded again
        self._unrecorded: Unrecorded | None = None
        self._host = socket.gethostname()
        self._reads = BoundedReads(HEALTH_READ_SECONDS, monotonic)
        self.server = (  # first: a busy port leaves nothing installed behind
            WebServer(
                self.settings.http,
                self,
                self.settings.http_token,
                allowed_hosts=self.settings.http_allowed_hosts,
            )
            if self.settings.http is not None
            else None
        )
        self.metrics = ServiceMetrics(
            rt.engine, rt.clock, self._live, self.settings.oauth_url, self.settings.data_url
        )
        self.metrics.install(rt.http)
        self.rules = AlertRules()
        self.sender = (
            AlertSender(self.settings.alert_webhook, rt.clock, wait=alert_wait)
            if self.settings.alert_webhook
            else None
        )

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self.sender is not None:
            self.sender.start()
        if self.server is not None:
            self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.sender is not None:
            self.sender.stop()

    # -- what the service tells it ------------------------------------------------------------

    def heartbeat(self) -> None:
        """The service loop beat (a standby's loop beats too: its /healthz follows it); alerts
        are the active service's to raise."""
        with self._lock:
            self._beat = self._monotonic()
            if self.service.role != "active":  # runs nothing: nothing of recording to report
                self._unrecorded = None
        if self.service.role != "active":
            return
        try:
            self.check()
        except Exception as exc:  # watching must never stop the service
            log.warning("watch.check_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    def run_finished(self, outcome: FinishedRun) -> None:
        self.metrics.observe_run(outcome.job, outcome.duration, outcome.recorded)
        now = self.service.runtime.clock.now()
        with self._lock:
            self._finished.add(outcome.job)
            if outcome.recorded:
                self._unrecorded = None
            else:  # a full disk is an outage, not a log line: health, metric, alert
                since = self._unrecorded.since if self._unrecorded is not None else now
                self._unrecorded = Unrecorded(outcome.job, outcome.error or "-", since)

    # -- alerts -------------------------------------------------------------------------------

    def check(self) -> None:
        """Evaluate every alert condition now (the heartbeat calls this)."""
        rt = self.service.runtime
        now = rt.clock.now()
        paused = rt.pause.resume_at() is not None
        with self._lock:
            if paused and self._maintenance_since is None:
                self._maintenance_since = now
            since = self._maintenance_since
            if not paused:
                self._maintenance_since = None
            finished, self._finished = self._finished, set()
            unrecorded = self._unrecorded
        if self.sender is None:
            return
        self._raise(
            "recording",
            unrecorded is not None,
            now,
            unrecorded.alert() if unrecorded is not None else "",
            "runs are recorded in the database again",
        )
        self._check_jobs(finished, now)
        self._check_feed_targets(now)
        facts = session_facts(rt.store, now, self.settings.has_credentials)
        problem = facts.problem(now)
        self._raise(
            "session",
            problem is not None,
            now,
            f"no usable iRacing session: {problem}; runs cannot fetch anything until it is fixed",
            "the iRacing session is usable again",
        )
        expires = facts.refresh_expires_at
        self._raise(
            "refresh_token",
            facts.refresh_expiring(now),
            now,
            f"the refresh token expires at {iso_seconds(expires or now)} and cannot be renewed "
            "(no password configured, or password logins blocked): run `harvester auth login` "
            "before then",
            "the refresh token has been renewed",
        )
        rejected = self.service.config_rejected
        self._raise(
            "config",
            rejected is not None,
            now,
            f"an edit of the jobs file was refused: {rejected}; the service keeps running the "
            f"{len(self.service.config.enabled())} job(s) it had until the file is fixed",
            "the jobs file was accepted again; the service runs it as it is now",
        )
        lasted = now - since if since is not None else 0.0
        self._raise(
            "maintenance",
            paused and lasted > MAINTENANCE_ALERT_AFTER,
            now,
            f"iRacing has been in maintenance for {lasted / 60:.0f} min; requests are paused and "
            "probed until it answers",
            "iRacing's maintenance is over; runs resume",
        )

    def _check_jobs(self, finished: set[str], now: float) -> None:
        after = self.settings.alert_after
        for job in sorted(finished | set(self._failing)):
            streak = failure_streaks(self.service.runtime.engine, [job]).get(job, 0)
            failing = streak >= after
            if failing:
                self._failing[job] = streak
            error = last_error(self.service.runtime.engine, job) if failing else None
            sent = self._raise(
                f"job:{job}",
                failing,
                now,
                f"job {job} has failed {streak} run{'s' if streak != 1 else ''} in a row; "
                f"last error: {error or '-'}",
                f"job {job} succeeded again",
            )
            if not failing and (sent or not self.rules.announced(f"job:{job}")):
                self._failing.pop(job, None)

    def _check_feed_targets(self, now: float) -> None:
        """A feed's target that failed FAILING_AFTER sends in a row: one alert, one all-clear."""
        with db.read(self.service.runtime.engine) as conn:
            targets = target_statuses(conn)
        for t in targets:
            self._raise(
                f"feed:{t.feed}:{t.label}",
                t.failing,
                now,
                f"feed {t.feed}: {t.label} has failed {t.failures} sends in a row since "
                f"{t.failing_since or '-'}; last error: {t.last_error or '-'}",
                f"feed {t.feed}: {t.label} takes messages again",
            )

    def _raise(self, condition: str, active: bool, now: float, raised: str, cleared: str) -> bool:
        alert = self.rules.update(
            condition,
            active,
            now,
            f"harvester@{self._host}: {raised}",
            f"harvester@{self._host}: {cleared}",
        )
        if alert is not None and self.sender is not None:
            log.info("alert.queued", cause=alert.cause)
            self.sender.send(alert)
        return alert is not None

    # -- what the endpoint serves ---------------------------------------------------------------

    def _live(self) -> LiveFacts:
        rt = self.service.runtime
        budget = rt.budget.state()
        facts = session_facts(rt.store, rt.clock.now(), self.settings.has_credentials)
        return LiveFacts(
            ratelimit_limit=budget.limit,
            ratelimit_remaining=budget.remaining,
            maintenance_paused=rt.pause.resume_at() is not None,
            access_expires_at=facts.access_expires_at,
            refresh_expires_at=facts.refresh_expires_at,
            refresh_held=facts.refresh_held,
            active=self.service.role == "active",
            config_rejected=self.service.config_rejected is not None,
        )

    def health(self, session: SessionFacts | None = None) -> Health:
        """The verdict of /healthz and /readyz. Its database reads are bounded in time: a
        database that does not answer is a reason for 503 on every role, never a hang or 500."""
        rt = self.service.runtime
        now = rt.clock.now()
        with self._lock:
            beat = self._beat
            since = self._maintenance_since
            unrecorded = self._unrecorded
        interval = self.service.options.heartbeat_interval
        role = self.service.role
        jobs = self.service.config.jobs

        def read() -> tuple[SessionFacts, tuple[FailingJob, ...], dict[str, Any] | None]:
            facts = session or session_facts(rt.store, now, self.settings.has_credentials)
            other = None if role == "active" else active_service(rt.engine)
            return facts, failing_jobs(rt.engine, jobs), other

        found, problem = self._reads.run(read)
        if role == "active":
            active: dict[str, Any] | None = {"host": self._host, "pid": os.getpid()}
        else:
            active = found[2] if found is not None else None
        return assess(
            HealthFacts(
                now=now,
                heartbeat_age=None if beat is None else self._monotonic() - beat,
                stall_after=max(60.0, 3 * interval),
                session=found[0] if found is not None else None,
                maintenance_until=rt.pause.resume_at(),
                maintenance_since=since,
                failing=found[1] if found is not None else (),
                role=role,
                active=active,
                jobs_file=str(self.service.config.path),
                config_rejected=self.service.config_rejected,
                config_rejected_at=self.service.config_rejected_at,
                database=problem or self.service.database_problem,
                not_recorded=unrecorded.reason() if unrecorded is not None else None,
            )
        )

    def snapshot(self) -> Snapshot:
        rt = self.service.runtime
        now = rt.clock.now()
        session = session_facts(rt.store, now, self.settings.has_credentials)
        state = rt.budget.state()
        return take_snapshot(
            rt.engine,
            self.service.config,
            self.service.scheduler.next_runs(),
            now,
            self.health(session),
            session,
            Budget(state.limit, state.remaining, state.reset_at),
        )

    def healthz(self) -> tuple[int, dict[str, Any]]:
        health = self.health()
        return health.http_status, health.body

    def readyz(self) -> tuple[int, dict[str, Any]]:
        health = self.health()
        return health.ready_status, health.body

    def metrics_text(self) -> tuple[bytes, str]:
        return self.metrics.render(), CONTENT_TYPE

    def dashboard(self) -> str:
        return render_dashboard(self.snapshot())

    def api_status(self) -> dict[str, Any]:
        return self.snapshot().as_json()

    def api_runs(self, query: dict[str, str]) -> list[dict[str, Any]]:
        unknown = set(query) - {"job", "status", "since", "limit"}
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(sorted(unknown))[:200]}")
        limit_text = query.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_API_RUNS:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_API_RUNS}")
        rt = self.service.runtime
        since = parse_since(query["since"], rt.clock) if query.get("since") else None
        rows = list_runs(rt.engine, query.get("job"), query.get("status"), since, int(limit_text))
        return run_dicts(rows)
