"""`harvester start`: the scheduler service around one Runtime.

It holds the instance lock (on PostgreSQL the lease, as standby until it is free: serving its
endpoint, which says so; once active, it looks at the lease every second and steps down when it
is lost), marks runs a dead process left `running` as interrupted, schedules the enabled jobs as
a pipeline (a job follows its parents: `pipeline`), reloads jobs.yaml when it changes (SIGHUP
forces it; an invalid edit is refused, the previous jobs keep running, and the refusal shows in
`harvester jobs`, /healthz, the dashboard, a metric and an alert), writes a heartbeat that
`harvester status` reads, and on SIGTERM or SIGINT starts no new run, lets runs in flight finish
for a while, then cancels them (they are recorded `interrupted`) and exits 0.

Losing the lease or the database is not the end: the service steps down and, where a standby
can wait (PostgreSQL), goes back to standby in the same process and takes over again when it
can (`lifetime.run_service`). Where it cannot (SQLite), it exits with EXIT_STEPPED_DOWN, and
the unit's restart policy brings it back.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.exc import DBAPIError

from .._archive.run import Trigger
from .._config.jobs import JobsConfig, JobsError
from .._config.jobs_file import fingerprint as jobs_fingerprint
from .._config.jobs_file import load_jobs_file
from .._core.clock import iso_seconds, parse_iso
from .._core.errors import ConfigError, LostActiveLock
from .._core.logs import get_logger
from .._core.run_status import RunStatus
from .._core.text import error_line
from .._feeds.control import Feeds
from .._feeds.worker import FeedSender
from .._observe.reports import standby_alive
from .._store import db, lock
from .._store.lease import LeaseLock
from .._store.models import Run, ServiceState
from .pipeline import Pipeline
from .runner import RunOutcome
from .runtime import Runtime
from .scheduler import Changes, JobScheduler

if TYPE_CHECKING:
    from .._observe.web.watch import Watch  # imported when the endpoint starts: web stays optional

log = get_logger("harvester.service")

SERVICE_ROW = 1
UPKEEP_SECONDS = 86400.0
# what losing the database looks like from the service (a lost lease fences its writes)
DATABASE_LOST = (DBAPIError, LostActiveLock)


class ServiceObserver(Protocol):
    """Told of the service's life (the HTTP endpoint, metrics and alerts listen: `_observe.web`).
    Called on the service's threads, so an observer only notes what happened and returns."""

    def heartbeat(self) -> None: ...

    def run_finished(self, outcome: RunOutcome) -> None: ...


@dataclass(frozen=True)
class ServiceOptions:
    workers: int = 4
    reload_interval: float = 2.0  # real seconds between looks at jobs.yaml
    heartbeat_interval: float = 10.0  # real seconds between heartbeats
    drain_seconds: float = 10.0  # real seconds runs in flight may finish after SIGTERM
    cancel_seconds: float = 20.0  # then, real seconds cancelled runs get to record themselves
    standby_poll: float = 1.0  # real seconds between a standby's tries for the active lock
    lock_check: float = 1.0  # real seconds between the active one's looks at its own lock
    # children follow their parents' runs (off: every job on its own schedule only, as before
    # the pipeline; for measuring what it changed)
    follow_parents: bool = True


class Service:
    def __init__(
        self,
        runtime: Runtime,
        jobs_path: Path,
        options: ServiceOptions | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.runtime = runtime
        self.jobs_path = jobs_path
        self.options = options or ServiceOptions()
        settings = runtime.settings
        self.lock = lock.service_lock(runtime.engine, settings.database_url, settings.lease_seconds)
        # why the database does not answer the lock's tries (None: it does), for /healthz
        self.database_problem: str | None = None
        # then "standby" (PostgreSQL, another is active), "active", and "stepped_down" if the
        # active lock is lost
        self._role = "starting"
        self._took_over = False
        self._lock_failing = False
        self._standby_row = random.randrange(2, 2**31)
        self.config = JobsConfig(str(jobs_path), {})
        self.cancel = threading.Event()  # set: runs in flight stop at their next step
        self.stopping = threading.Event()  # set: no new runs
        self.pipeline = Pipeline(
            runtime,
            lambda: self.config,
            lambda name, delay: self.scheduler.schedule_retry(name, delay),
            stopping=self.stopping,
            cancel=self.cancel,
            workers=self.options.workers,
            follow_parents=self.options.follow_parents,
        )
        self.scheduler = JobScheduler(runtime.clock, self.pipeline.due)
        self.reload_requested = threading.Event()
        self._wake = threading.Event()
        self._fingerprint = ""
        # the first problem of the last edit of jobs.yaml refused (None: the file in use is
        # the file on disk), and when (harvester's clock)
        self.config_rejected: str | None = None
        self.config_rejected_at: float | None = None
        self._jobs_text_saved = False  # the accepted file's text is in the service row
        self.observers: list[ServiceObserver] = []
        self.watch: Watch | None = None  # `_observe.web`'s, while it runs
        # jobs.yaml's feeds: the outbox the archive queues rows into, the sender's lanes
        self.feeds = Feeds(runtime.engine, runtime.clock, FeedSender(runtime.engine, runtime.clock))
        if watch is not None:  # a stepped-down service's, handed over: the endpoint goes on
            watch.service = self
            self.watch = watch

    @property
    def role(self) -> str:
        """Its role; an active service whose lock its own check counts lost (the lease not
        renewed in time) is stepped down from that instant, before its loop next looks."""
        if self._role == "active" and isinstance(self.lock, LeaseLock) and self.lock.lapsed():
            return "stepped_down"
        return self._role

    @role.setter
    def role(self, value: str) -> None:
        self._role = value

    @property
    def running(self) -> frozenset[str]:
        """The jobs with a run claimed: waiting for a worker or going."""
        return self.pipeline.running

    @property
    def outcomes(self) -> deque[RunOutcome]:
        """The latest outcomes, for the demo's summary and for tests."""
        return self.pipeline.outcomes

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Take the lock (as standby until it is free, on PostgreSQL), tidy up after a previous
        process, schedule the jobs."""
        from .._observe.web.watch import check_settings

        check_settings(self)  # before the lock: a refusal leaves nothing behind
        if not self._elect():
            return  # asked to stop while standby
        try:
            self.config = load_jobs_file(
                self.jobs_path, self.runtime.engine, strict=False, env=self.runtime.settings.env()
            )
            self._warn(self.config)
            self._fingerprint = jobs_fingerprint(self.jobs_path)
            self.pipeline.use(self.config)  # before the first look: parents first from the start
            archive = self.runtime.archive
            interrupted = archive.mark_interrupted(active_service=True)
            orphans = archive.collect_orphans()
            archive.analyze()
            self._write_state(started=True)
            if self.watch is None:  # a standby opened it already: the same server goes on
                self._open_watch(required=not self._took_over)
            if self.watch is not None:
                self.observers.append(self.watch)
                self.pipeline.observers.append(self.watch)
            self._apply_feeds(self.config)
            self.feeds.start()
            self.scheduler.start()
            changes = self.scheduler.sync(self.config.jobs, self._last_started(), Trigger.STARTUP)
        except BaseException as exc:
            self.feeds.stop()
            # the database lost while taking over: the endpoint stays for the next standby
            waits = isinstance(exc, DATABASE_LOST) and self.lock.supports_standby
            if self.watch is not None and not waits:
                self.watch.stop()
                self.watch = None
            self.lock.release()
            raise
        log.info(
            "service.started",
            pid=os.getpid(),
            jobs=len(changes.added),
            jobs_file=str(self.jobs_path),
            interrupted_runs=interrupted,
            orphan_documents_removed=orphans,
        )

    def _open_watch(self, required: bool) -> None:
        """The HTTP endpoint, metrics and alerts (`_observe.web`). At the first start a busy port
        stops the start; a standby, or a standby taking over, goes on without the endpoint
        (one line says why): another service on this host may hold the port, and a takeover
        must not fail for want of a window on it."""
        from .._observe.web.watch import Watch

        try:
            watch = Watch(self)  # binds HARVESTER_HTTP
        except ConfigError as exc:
            if required:
                raise
            log.warning("web.unavailable", role=self.role, reason=str(exc), serving=False)
            return
        watch.start()
        self.watch = watch

    def _elect(self) -> bool:
        """Become the active service; where the lock allows a standby (PostgreSQL), wait for it,
        serving the endpoint (its /healthz says standby), with a heartbeat row that says so.
        False if asked to stop before becoming active."""
        if not self.lock.supports_standby:
            self.lock.acquire()  # SQLite: raises, naming the holder, if another start has it
        elif not self._try_lock():
            self.role = "standby"
            log.info("service.standby", pid=os.getpid(), host=socket.gethostname())
            if self.watch is None:  # else handed over by the service that stepped down
                self._open_watch(required=False)
            next_beat = 0.0
            while not self._try_lock():
                if self.watch is not None:
                    self.watch.heartbeat()  # the standby loop is alive
                if time.monotonic() >= next_beat:
                    self._write_standby()
                    next_beat = time.monotonic() + self.options.heartbeat_interval
                if self.stopping.wait(self.options.standby_poll):
                    self._write_standby(stopped=True)
                    if self.watch is not None:
                        self.watch.stop()
                        self.watch = None
                    return False
            self._write_standby(stopped=True)
            self._took_over = True
            log.info("service.took_over", pid=os.getpid(), host=socket.gethostname())
        self.role = "active"
        return True

    def _try_lock(self) -> bool:
        """One try for the active lock; a database that does not answer is a failed try (one
        line when it starts failing, and /healthz says so), never the end of the standby."""
        try:
            taken = self.lock.try_acquire()
        except Exception as exc:
            reason = error_line(exc, limit=300)
            if not self._lock_failing:
                log.warning("service.lock_try_failed", error=reason)
            self._lock_failing = True
            self.database_problem = reason
            return False
        if self._lock_failing:
            log.info("service.database_answers_again")
        self._lock_failing = False
        self.database_problem = None
        return taken

    def _write_standby(self, stopped: bool = False) -> None:
        """A standby's own row in `service` (the active one is row 1); gone once it stops.
        Written without the write lock (`db.write_own`): whatever holds that lock (a frozen
        active service too) never stalls a standby's loop, nor so its health."""

        try:
            now = iso_seconds(self.runtime.clock.now())
            who = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": now}
            # how often it beats: whoever reads the row can tell a dead standby
            # (reports.standby_alive)
            state = json.dumps(
                {"role": "standby", "heartbeat_seconds": self.options.heartbeat_interval}
            )
            with db.write_own(self.runtime.engine) as conn:
                if stopped:
                    conn.execute(delete(ServiceState).where(ServiceState.id == self._standby_row))
                    return
                values = {"heartbeat_at": now, "state": state, "stopped_at": None}
                db.upsert(conn, ServiceState, {"id": self._standby_row}, values, on_insert=who)
        except Exception as exc:  # a heartbeat must never stop the service
            log.warning("service.heartbeat_failed", error=error_line(exc))

    def serve(self) -> None:
        """Until asked to stop: watch jobs.yaml, reload on request, write the heartbeat."""
        next_look = 0.0
        next_beat = 0.0
        next_lock = 0.0
        clock = self.runtime.clock  # daily on harvester's clock, as the orphans' age is
        next_upkeep = clock.now() + UPKEEP_SECONDS
        while not self.stopping.is_set():
            now = time.monotonic()
            if clock.now() >= next_upkeep:
                self._upkeep()
                next_upkeep = clock.now() + UPKEEP_SECONDS
            if self.reload_requested.is_set() or now >= next_look:
                forced = self.reload_requested.is_set()
                self.reload_requested.clear()
                self.reload(forced=forced)
                next_look = now + self.options.reload_interval
            if now >= next_lock:
                if not self.lock.still_held():  # its connection is gone: a standby takes over
                    self._step_down()
                    break
                next_lock = now + self.options.lock_check
            if now >= next_beat:
                self._write_state()
                for observer in self.observers:
                    observer.heartbeat()
                next_beat = now + self.options.heartbeat_interval
            options = self.options
            self._wake.wait(
                min(options.reload_interval, options.heartbeat_interval, options.lock_check)
            )
            self._wake.clear()

    def _step_down(self) -> None:
        """The active lock is lost: another service may be active already. Its writes are
        refused from that moment (the fence in `_store.pg`); now no run starts, the runs in
        flight are cancelled, and the service stops without touching the active one's row
        (then waits as standby again: `run_service`)."""
        self.role = "stepped_down"
        self.cancel.set()
        self.request_stop()
        log.error(
            "service.lost_active_lock",
            pid=os.getpid(),
            reason=getattr(self.lock, "lost_because", None),
            action="stepping down: runs cancelled, nothing more written; a standby takes over",
        )

    def _upkeep(self) -> None:
        """Daily (a day of the runtime's clock): drop documents no result points at (older than
        an hour), refresh the planner's statistics. Nothing is pruned otherwise."""
        try:
            removed = self.runtime.archive.collect_orphans()
            self.runtime.archive.analyze()
            log.info("service.upkeep", orphan_documents_removed=removed)
        except Exception as exc:  # upkeep must never stop the service
            log.warning("service.upkeep_failed", error=error_line(exc))

    def stop(self, keep_watch: bool = False) -> Watch | None:
        """No new runs; runs in flight finish or are cancelled (recorded interrupted). With
        `keep_watch` the endpoint goes on serving and is returned, for the next service."""
        self.stopping.set()
        self._wake.set()
        if self.role not in ("active", "stepped_down"):  # a standby asked to stop: nothing ran
            self.lock.release()  # its connection for the tries
            return self._end_watch(keep_watch)
        self.scheduler.shutdown()
        log.info("service.stopping", runs_in_flight=sorted(self.running))
        idle = self.pipeline.wait_idle(self.options.drain_seconds)
        if not idle:
            self.cancel.set()
            idle = self.pipeline.wait_idle(self.options.cancel_seconds)
        # every worker thread ends with the service (unless a run ignored its cancellation)
        self.pipeline.shutdown(wait=idle)
        self.runtime.runner.watch.stop()  # and the watch over the runs it ran
        left = 0
        if self.role == "active":  # stepped down: the new active one marks our runs
            try:
                left = self.runtime.archive.mark_interrupted()  # ours, still running
                self._write_state(stopped=True)
            except LostActiveLock:  # lost just now, before the lock check noticed: as stepped down
                self.role = "stepped_down"
                log.warning("service.lost_active_lock", at="stop")
            except DBAPIError as exc:  # the database is gone: whoever is active next marks them
                self.role = "stepped_down"
                log.warning("service.database_lost", at="stop", error=error_line(exc, limit=300))
        self.feeds.stop()
        watch = self._end_watch(keep_watch)
        self.lock.release()
        log.info("service.stopped", runs_marked_interrupted=left)
        return watch

    def _end_watch(self, keep: bool) -> Watch | None:
        watch, self.watch = self.watch, None
        if watch is not None and watch in self.observers:
            self.observers.remove(watch)
        if watch is not None and watch in self.pipeline.observers:
            self.pipeline.observers.remove(watch)
        if watch is not None and not keep:
            watch.stop()
            return None
        return watch

    def request_stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def request_reload(self) -> None:
        self.reload_requested.set()
        self._wake.set()

    # -- reload ----------------------------------------------------------------------------

    def reload(self, forced: bool = False) -> bool:
        """Apply jobs.yaml if it changed (or when forced); keep the old jobs if it is invalid,
        and say so (`config_rejected`) until a good file is loaded."""
        fingerprint = jobs_fingerprint(self.jobs_path)
        if not forced and fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        self.runtime.settings.reread_env()  # a variable added to .env with the job that uses it
        try:
            config = load_jobs_file(
                self.jobs_path, self.runtime.engine, strict=False, env=self.runtime.settings.env()
            )
        except (JobsError, ConfigError) as exc:
            problems = [str(p) for p in exc.problems] if isinstance(exc, JobsError) else [str(exc)]
            self.config_rejected = problems[0]
            self.config_rejected_at = self.runtime.clock.now()
            log.error("jobs.reload_failed", problems=problems, keeping=len(self.config.jobs))
            self._write_state()  # `harvester jobs` shows the refusal now
            return False
        self.config = config
        rejected, self.config_rejected, self.config_rejected_at = self.config_rejected, None, None
        self._jobs_text_saved = False
        self._warn(config)
        self._apply_feeds(config)
        self.pipeline.use(config)
        changes = self.scheduler.sync(config.jobs, self._last_started(), Trigger.RELOAD)
        self._log_reload(changes, len(config.enabled()), rejected)
        self._write_state()  # the jobs it runs now, for `harvester jobs` and `status`
        return True

    @staticmethod
    def _log_reload(changes: Changes, jobs: int, was_rejected: str | None) -> None:
        log.info(
            "jobs.reloaded",
            added=changes.added,
            removed=changes.removed,
            disabled=changes.disabled,
            changed=changes.changed,
            jobs=jobs,
            **({"replaces_rejected": was_rejected} if was_rejected else {}),
        )

    def _apply_feeds(self, config: JobsConfig) -> None:
        """jobs.yaml's feeds: new ones begin from now, the sender's lanes follow."""
        used = self.feeds.apply(config.feeds.values())
        self.runtime.archive.feeds = self.feeds.outbox if used else None

    @staticmethod
    def _warn(config: JobsConfig) -> None:
        for warning in config.warnings:
            log.warning("jobs.warning", problem=str(warning))
        for problem in config.rejected:  # disabled until fixed: the catalogue, an unset variable
            log.error("jobs.disabled", problem=str(problem))

    # -- bookkeeping ------------------------------------------------------------------------

    def _last_started(self) -> dict[str, float]:
        with db.read(self.runtime.engine) as conn:
            rows = conn.execute(
                select(Run.job, func.max(Run.started_at))
                .where(Run.status != RunStatus.SKIPPED.value)
                .where(Run.trigger != Trigger.BACKFILL)  # history filled in: not the schedule
                .group_by(Run.job)
            ).all()
        return {job: parse_iso(started) for job, started in rows if started}

    def _write_state(self, started: bool = False, stopped: bool = False) -> None:
        """The service row's heartbeat; never raises: reading the state (the scheduler, the rate
        budget) and writing it are both inside the `try`."""
        try:
            values, who = self._state_row(started, stopped)
            with db.write(self.runtime.engine) as conn:
                db.upsert(conn, ServiceState, {"id": SERVICE_ROW}, values, on_insert=who)
                self._prune_standbys(conn)
            self._jobs_text_saved = self._jobs_text_saved or "jobs_text" in values
        except Exception as exc:  # a heartbeat must never stop the service
            log.warning("service.heartbeat_failed", error=error_line(exc))

    def _state_row(self, started: bool, stopped: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """The heartbeat's values, and the row's identity for when it is first written."""
        rt = self.runtime
        budget = rt.budget.state()
        state = {
            "role": self.role,
            "jobs_file": str(self.jobs_path),
            "jobs": sorted(name for name, spec in self.config.jobs.items() if spec.enabled),
            "next_runs": {
                name: iso_seconds(at) if at else None
                for name, at in self.scheduler.next_runs().items()
            },
            "running": sorted(self.pipeline.running),
            "waiting": sorted(self.pipeline.waiting),  # due, waiting for a parent's run
            "jobs_rejected": (  # the edit of jobs.yaml refused; the jobs above keep running
                {"problem": self.config_rejected, "at": iso_seconds(self.config_rejected_at)}
                if self.config_rejected is not None and self.config_rejected_at is not None
                else None
            ),
            "rate_limit": {
                "limit": budget.limit,
                "remaining": budget.remaining,
                "reset_at": iso_seconds(budget.reset_at) if budget.reset_at else None,
                "received_429": rt.budget.received_429,
            },
            "maintenance_until": (
                iso_seconds(until) if (until := rt.pause.resume_at()) is not None else None
            ),
        }
        now = iso_seconds(rt.clock.now())
        values: dict[str, Any] = {"heartbeat_at": now, "state": json.dumps(state)}
        if not self._jobs_text_saved:  # the jobs file it runs, once per file accepted
            values["jobs_text"] = self.config.source
        who = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": now}
        if started:
            values.update(who, stopped_at=None)
        if stopped:
            values["stopped_at"] = now
        return values, who

    def _prune_standbys(self, conn: Connection) -> None:
        """Delete the rows of standbys that died without a word (SIGKILL, a lost host): alive
        ones beat every heartbeat interval (reports.standby_alive)."""
        rows = conn.execute(
            select(
                ServiceState.id,
                ServiceState.host,
                ServiceState.pid,
                ServiceState.heartbeat_at,
                ServiceState.state,
            ).where(ServiceState.id != SERVICE_ROW)
        ).all()
        dead = [
            row
            for row in rows
            if not standby_alive(row.heartbeat_at, row.state, self.runtime.clock)
        ]
        if dead:
            conn.execute(delete(ServiceState).where(ServiceState.id.in_([row.id for row in dead])))
            log.info(
                "service.standby_rows_pruned",
                standbys=[f"{row.host} pid {row.pid}" for row in dead],
            )
