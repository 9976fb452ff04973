"""Running one job end to end: open a run, fetch, store, close the run with its outcome.

A run never crashes its caller: every failure becomes the run's status (failed, forbidden,
not_found, maintenance, interrupted, skipped) with a one-line reason, and one log line says how
it went.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import structlog

from .api import DataClient, FetchStats
from .archive import Archive, RunCounts
from .cancel import CancelToken
from .clock import Clock
from .errors import Cancelled, HarvesterError
from .jobs import JobSpec, query_value
from .logs import get_logger
from .maintenance import MaintenancePause

log = get_logger("harvester.runner")


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    job: str
    status: str
    error: str | None
    counts: RunCounts
    duration: float

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def summary(self) -> str:
        c = self.counts
        text = (
            f"{self.job}: {self.status} (run {self.run_id}, {c.requests} request(s), "
            f"{c.documents_new} new / {c.documents_dup} unchanged document(s), "
            f"{self.duration:.1f}s)"
        )
        return text + (f": {self.error}" if self.error else "")


class Runner:
    def __init__(
        self,
        client: DataClient,
        archive: Archive,
        clock: Clock,
        pause: MaintenancePause,
    ) -> None:
        self.client = client
        self.archive = archive
        self.clock = clock
        self.pause = pause

    def run(
        self,
        job: JobSpec,
        trigger: str = "manual",
        stop: threading.Event | None = None,
    ) -> RunOutcome:
        started = time.monotonic()
        if self.pause.holding():
            reason = "iRacing is in maintenance: the run was not attempted"
            run_id = self.archive.record_skipped(job.name, trigger, reason)
            outcome = RunOutcome(run_id, job.name, "skipped", reason, RunCounts(), 0.0)
            self._log(outcome, trigger)
            return outcome

        run_id = self.archive.open_run(job.name, trigger)
        deadline = self.clock.now() + job.timeout if job.timeout else None
        cancel = CancelToken(self.clock, stop, deadline)
        counts = RunCounts()
        stats = FetchStats()
        status, error = "success", None
        with structlog.contextvars.bound_contextvars(job=job.name, run_id=run_id):
            try:
                self._execute(job, run_id, cancel, counts, stats)
            except Cancelled as exc:
                status, error = exc.outcome, str(exc)
                if cancel.deadline is not None and not cancel.stop.is_set():
                    status = "failed"
            except HarvesterError as exc:
                status, error = exc.outcome, str(exc)
            except KeyboardInterrupt:
                self._finish(run_id, "interrupted", counts, stats, "interrupted (Ctrl-C)")
                raise
            except Exception as exc:  # a bug: record it, keep the service alive
                log.exception("run.crashed")
                status, error = "failed", f"unexpected {type(exc).__name__}: {exc}"
            self._finish(run_id, status, counts, stats, error)
        outcome = RunOutcome(run_id, job.name, status, error, counts, time.monotonic() - started)
        self._log(outcome, trigger)
        return outcome

    def _execute(
        self,
        job: JobSpec,
        run_id: int,
        cancel: CancelToken,
        counts: RunCounts,
        stats: FetchStats,
    ) -> None:
        params = {name: query_value(value) for name, value in job.params.items()}
        parts = self.client.fetch(job.endpoint, params, cancel=cancel, stats=stats)
        self.archive.store_result(run_id, job.name, job.endpoint, params, parts, counts)

    def _finish(
        self, run_id: int, status: str, counts: RunCounts, stats: FetchStats, error: str | None
    ) -> None:
        counts.requests = stats.requests
        counts.bytes = stats.bytes
        counts.ratelimit_remaining = stats.ratelimit_remaining
        self.archive.finish_run(run_id, status, counts, error)

    @staticmethod
    def _log(outcome: RunOutcome, trigger: str) -> None:
        c = outcome.counts
        fields = {
            "job": outcome.job,
            "run_id": outcome.run_id,
            "trigger": trigger,
            "status": outcome.status,
            "duration": round(outcome.duration, 3),
            "documents_new": c.documents_new,
            "documents_dup": c.documents_dup,
            "requests": c.requests,
            "bytes": c.bytes,
            "ratelimit_remaining": c.ratelimit_remaining,
        }
        if outcome.error:
            fields["error"] = outcome.error
        if outcome.status in ("success", "skipped"):
            log.info("run.finished", **fields)
        else:
            log.warning("run.finished", **fields)
