"""Running one job end to end: open a run, plan its requests, fetch, store, close the run.

A plain job is one request. A cursor job is one request per window from its stored cursor to
now, each window's documents stored with the cursor's new value in one transaction. A fan-out
job is one request per value new in its parent's results, each item's outcome recorded. A run
never crashes its caller: every failure becomes the run's status (failed, forbidden, not_found,
maintenance, interrupted, skipped) with a one-line reason, and one log line says how it went.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice

import structlog
from sqlalchemy import Connection

from .._archive import bookkeeping
from .._archive.archive import Archive
from .._archive.run import RunContext
from .._config.incremental import WINDOWS_PER_RUN, Window, advance, parse_start, plan_windows
from .._config.jobs import JobSpec
from .._config.templates import render
from .._core.cancel import CancelToken
from .._core.clock import Clock, ScaledClock, iso_seconds, parse_iso
from .._core.counts import RunCounts
from .._core.errors import ApiError, Cancelled, Forbidden, HarvesterError, Maintenance, NotFound
from .._core.logs import get_logger
from .._core.redact import redact_text
from .._core.run_status import RunStatus
from .._core.shapes import Part
from .._core.text import error_line, parse_json, printable, query_value, storable
from .._fetch.data_client import DataClient
from .._fetch.maintenance import MaintenancePause
from .._store import db
from .run_watch import RunWatch

log = get_logger("harvester.runner")

ITEM_ATTEMPTS = 3  # a fan-out item that fails this many runs in a row is given up


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    job: str
    status: RunStatus
    error: str | None
    counts: RunCounts
    duration: float
    # False: the database refused to record it (a full disk, a database busy too long): the
    # service's health, a metric and an alert say so until a run is recorded again
    recorded: bool = True

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCESS

    def summary(self) -> str:
        c = self.counts
        text = (
            f"{self.job}: {self.status} (run {self.run_id}, {c.requests} request(s), "
            f"{c.documents_new} new / {c.documents_dup} unchanged document(s)"
        )
        if c.rows_new or c.rows_dup:
            text += f", {c.rows_new} new / {c.rows_dup} seen row(s)"
        text += f", {self.duration:.1f}s)"
        return text + (f": {self.error}" if self.error else "")


@dataclass
class RowWatcher:
    """Looks at the rows of a result as its parts go by: the largest cursor value and the keys."""

    cursor_field: str | None
    key_field: str | None
    largest: float | None = None
    keys: list[str] = field(default_factory=list)

    def watch(self, parts: Iterable[Part]) -> Iterator[Part]:
        for part in parts:
            if part.index == 0:  # a result (re)starts
                self.largest, self.keys = None, []
            if part.content_type == "application/json":
                self._look(part)
            yield part

    def _look(self, part: Part) -> None:
        document = parse_json(part.text)
        if not isinstance(document, list):
            return
        for row in document:
            if not isinstance(row, dict):
                continue
            key = row.get(self.key_field) if self.key_field is not None else None
            if key is not None and storable(str(key)):
                self.keys.append(str(key))
            value = row.get(self.cursor_field) if self.cursor_field else None
            if isinstance(value, str):
                try:
                    moment = parse_iso(value)
                except ValueError:
                    continue
                self.largest = moment if self.largest is None else max(self.largest, moment)


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
        self.watch = RunWatch(archive)  # writes the rows of unwritten runs that last
        self.recording = True  # False while the database refuses to record runs

    def close(self) -> None:
        """No more runs: the watch ends."""
        self.watch.close()

    def run(
        self,
        job: JobSpec,
        trigger: str = "manual",
        stop: threading.Event | None = None,
        body: Callable[[RunContext], None] | None = None,
        parent_run: int | None = None,
    ) -> RunOutcome:
        """Run a job (or `body`, for a backfill) inside one recorded run; `trigger` (and
        `parent_run`, the run of a job it follows) say what started it."""
        started = time.monotonic()
        try:
            if self.pause.holding():
                reason = "iRacing is in maintenance: the run was not attempted"
                run_id = self.archive.record_skipped(job.name, trigger, reason, parent_run)
                outcome = RunOutcome(run_id, job.name, RunStatus.SKIPPED, reason, RunCounts(), 0.0)
                self._log(outcome, trigger, parent_run)
                return outcome
            # a plain job's run is written with its result: one transaction (see Unwritten);
            # while the database refuses to record runs, each is opened first, as the others
            # are, so that one it cannot record does not call the API for nothing
            plain = (
                body is None and job.for_each is None and job.incremental is None and self.recording
            )
            unwritten = self.archive.unwritten(trigger, parent_run) if plain else None
            run_id = 0 if plain else self.archive.open_run(job.name, trigger, parent_run)
        except Exception as exc:  # the database refused (busy too long, disk full): nothing ran
            self.recording = False
            reason = f"the run could not be recorded: {error_line(exc)}"
            log.error("run.not_recorded", job=job.name, error=reason)
            return RunOutcome(
                0, job.name, RunStatus.FAILED, reason, RunCounts(), 0.0, recorded=False
            )
        deadline = self.clock.now() + self.clock_seconds(job.timeout) if job.timeout else None
        cancel = CancelToken(self.clock, stop, deadline)
        run = RunContext(job, run_id, cancel, started=started, unwritten=unwritten)
        counts = run.counts
        status: RunStatus = RunStatus.SUCCESS
        error: str | None = None
        closed = False  # a plain job closes its run in the transaction that stores its result
        bound = {"run_id": run_id} if run_id else {}  # an unwritten run has no id yet
        with structlog.contextvars.bound_contextvars(job=job.name, **bound), self._watched(run):
            try:
                if body is not None:
                    body(run)
                else:
                    closed = self._execute(run)
            except Cancelled as exc:
                status, error = exc.outcome, str(exc)
                if cancel.deadline is not None and not cancel.stop.is_set():
                    status = RunStatus.FAILED
            except HarvesterError as exc:
                status, error = exc.outcome, str(exc)
            except KeyboardInterrupt:
                self._finish(run, RunStatus.INTERRUPTED, "interrupted (Ctrl-C)")
                raise
            except Exception as exc:  # a bug, or the database refused: record it, keep going
                log.exception("run.crashed")
                status, error = (
                    RunStatus.FAILED,
                    f"unexpected {type(exc).__name__}: {error_line(exc)}",
                )
            unrecorded = None if closed else self._finish(run, status, error)
            if unrecorded is not None:
                status, error = RunStatus.FAILED, unrecorded
        self.recording = unrecorded is None
        outcome = RunOutcome(
            run.run_id, job.name, status, error, counts, run.seconds(), recorded=self.recording
        )
        self._log(outcome, trigger, parent_run)
        return outcome

    @contextmanager
    def _watched(self, run: RunContext) -> Iterator[None]:
        """An unwritten run is watched while it goes on (however it ends)."""
        if run.unwritten is None:
            yield
            return
        self.watch.add(run)
        try:
            yield
        finally:
            run.unwritten.ended = True
            self.watch.remove(run)

    def clock_seconds(self, real: float) -> float:
        """Seconds of harvester's clock that take `real` seconds: a job's timeout is real time,
        so a 10-minute timeout lasts 10 minutes on a clock scaled ×60 too, not 10 seconds. (A
        manual clock, in tests, only moves when told: its seconds are taken as real ones.)"""
        return real * self.clock.factor if isinstance(self.clock, ScaledClock) else real

    # -- the kinds of job ----------------------------------------------------------------

    def _execute(self, run: RunContext) -> bool:
        """Do the job's requests; True if the run was closed with the last result."""
        job = run.job
        if job.for_each is not None:
            self._fan_out(run)
            return False
        if job.incremental is not None:
            self._cursor(run)
            return False
        params = self.params(job)

        def close_with_result(conn: Connection) -> None:
            seconds = run.seconds()
            self.archive.close_run(conn, run.run_id, RunStatus.SUCCESS, run.counts, None, seconds)

        self.archive.store_result(run, params, self.fetch(run, params), close_with_result)
        return True

    def fetch(self, run: RunContext, params: dict[str, str]) -> Iterator[Part]:
        """The run's job's endpoint asked with `params`, on the run's cancellation and counts."""
        return self.client.fetch(run.job.endpoint, params, cancel=run.cancel, counts=run.counts)

    def params(self, job: JobSpec) -> dict[str, str]:
        """The job's parameters with their templates resolved now."""
        now = self.clock.now()
        return {
            name: render(query_value(v), now, self.client.settings.env())
            for name, v in job.params.items()
        }

    def _cursor(self, run: RunContext) -> None:
        job = run.job
        spec = job.incremental
        assert spec is not None
        now = self.clock.now()
        stored = bookkeeping.get_cursor(self.archive.engine, job.name)
        cursor = parse_iso(stored) if stored else parse_start(spec.start, now)
        for window in islice(plan_windows(cursor, now, spec.window), WINDOWS_PER_RUN):
            run.cancel.check()
            cursor = self.fetch_window(run, window, cursor=cursor, now=now)

    def fetch_window(
        self,
        run: RunContext,
        window: Window,
        *,
        cursor: float | None = None,
        now: float,
        also: Callable[[Connection], None] | None = None,
    ) -> float:
        """One window of a cursor job: its documents, row keys and (unless `cursor` is None, as
        in a backfill) the advanced cursor, all in one transaction. Returns the new cursor."""
        job, counts = run.job, run.counts
        spec = job.incremental
        assert spec is not None
        params = self.params(job)
        params[spec.param] = iso_seconds(window.begin)
        if window.end is not None:
            params[spec.end_param] = iso_seconds(window.end)
        watcher = RowWatcher(spec.cursor, spec.key)
        parts = watcher.watch(self.fetch(run, params))
        moved = cursor

        def commit_with_documents(conn: Connection) -> None:
            nonlocal moved
            stamp = iso_seconds(self.clock.now())
            new, seen = bookkeeping.add_seen_keys(conn, job.name, watcher.keys)
            counts.rows_new += new if spec.key else 0
            counts.rows_dup += seen if spec.key else 0
            if cursor is not None:
                moved = advance(cursor, window, watcher.largest, now)
                bookkeeping.set_cursor(conn, job.name, iso_seconds(moved), run.run_id, stamp)
            if also is not None:
                also(conn)

        self.archive.store_result(run, params, parts, commit_with_documents)
        return moved if moved is not None else window.begin

    def _fan_out(self, run: RunContext) -> None:
        job, run_id, counts = run.job, run.run_id, run.counts
        spec = job.for_each
        assert spec is not None
        engine = self.archive.engine
        stamp = iso_seconds(self.clock.now())
        bookkeeping.collect_fanout_values(engine, job.name, spec.job, spec.steps, stamp)
        items = bookkeeping.claim_items(engine, job.name, run_id, spec.max_items)
        base = self.params(job)
        failures: list[str] = []
        for value in items:
            run.cancel.check()
            params = {**base, spec.param: value}
            try:
                parts = self.fetch(run, params)
                self.archive.store_result(
                    run, params, parts, self._item_done(job.name, value, run_id)
                )
                counts.items_ok += 1
            except (Forbidden, NotFound) as exc:  # remembered: not asked again
                self._item(job.name, value, exc.outcome, run_id, str(exc))
                counts.items_skipped += 1
            except Maintenance:
                raise  # the whole API is down: the run ends, the items wait
            except ApiError as exc:
                attempts = bookkeeping.item_attempts(engine, job.name, value) + 1
                status = "failed" if attempts >= ITEM_ATTEMPTS else "pending"
                self._item(job.name, value, status, run_id, str(exc))
                failures.append(f"{spec.param}={printable(value)}: {exc}")
        if failures:
            raise FanOutIncomplete(
                f"{len(failures)} of {len(items)} item(s) failed (they are tried again next run, "
                f"up to {ITEM_ATTEMPTS} times); first: {failures[0]}"
            )

    def _item_done(self, job: str, value: str, run_id: int) -> Callable[[Connection], None]:
        def mark(conn: Connection) -> None:
            bookkeeping.set_item(conn, job, value, "success", run_id, iso_seconds(self.clock.now()))

        return mark

    def _item(self, job: str, value: str, status: str, run_id: int, error: str) -> None:
        with db.write(self.archive.engine) as conn:
            bookkeeping.set_item(
                conn,
                job,
                value,
                status,
                run_id,
                iso_seconds(self.clock.now()),
                redact_text(error)[:500],
            )

    # -- bookkeeping ---------------------------------------------------------------------

    def _finish(self, run: RunContext, status: RunStatus, error: str | None) -> str | None:
        """Close the run; never raises. Returns why it could not be closed (a full disk, a
        database busy too long): a written row stays `running` until this process's next
        `mark_interrupted` (at shutdown or the next start) says `interrupted`; an unwritten
        run leaves none."""
        try:
            self.archive.end_run(run, status, error, run.seconds())
        except Exception as exc:
            if run.run_id == 0:  # never written: the run left no trace in the database
                reason = f"the run could not be recorded: {error_line(exc)}"
                log.error("run.not_recorded", status=status, error=reason)
                return reason
            reason = f"the run's outcome could not be recorded: {error_line(exc)}"
            log.error("run.not_closed", status=status, error=reason)
            return reason
        return None

    @staticmethod
    def _log(outcome: RunOutcome, trigger: str, parent_run: int | None) -> None:
        c = outcome.counts
        fields: dict[str, object] = {
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
        if parent_run is not None:
            fields["parent_run"] = parent_run
        if c.rows_new or c.rows_dup:
            fields.update(rows_new=c.rows_new, rows_dup=c.rows_dup)
        if c.items_ok or c.items_skipped:
            fields.update(items_ok=c.items_ok, items_skipped=c.items_skipped)
        if outcome.error:
            fields["error"] = outcome.error
        if outcome.status in (RunStatus.SUCCESS, RunStatus.SKIPPED):
            log.info("run.finished", **fields)
        else:
            log.warning("run.finished", **fields)


class FanOutIncomplete(ApiError):
    """Some items of a fan-out failed; the others are stored."""
