"""The archive: documents stored once per content, the results that point at them, and runs.

A document is the exact text received with one deliberate change: pre-signed query strings are
cut (they are short-lived credentials, and without them an unchanged poll hashes the same and
adds no second copy). Chunks are written as they arrive (memory stays bounded); the result rows
that make them visible are written in one transaction at the end, so a killed process leaves no
half-stored result, only unreferenced documents that `collect_orphans` removes.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from .._config.catalog import CATALOG_ENDPOINT, catalogue_problem
from .._core.clock import Clock, iso_seconds
from .._core.counts import RunCounts
from .._core.errors import BadCatalogue
from .._core.redact import redact_text, strip_signatures
from .._core.run_status import FINAL_STATUSES, RunStatus
from .._core.shapes import Part
from .._core.text import parse_json
from .._feeds.outbox import Outbox
from .._store import db
from .._store.models import Document, ResultPart, Run
from .._tables.keeper import PREPARE_BYTES, Prepared, ResultToDerive, TableKeeper
from . import process
from .result_rows import PartRow, ResultRows
from .run import SERVICE_TRIGGERS, RunContext, Unwritten

RUNNING = RunStatus.RUNNING
HOST = socket.gethostname()  # runs record which host and pid ran them


@dataclass
class StoredResult:
    """One request's result as stored: its part-0 row id and its documents' hashes."""

    result_id: int
    parts: list[str] = field(default_factory=list)


def canonical_params(params: Mapping[str, object]) -> str:
    """Parameters as stored: JSON with sorted keys, so equal requests compare equal in SQL."""
    return json.dumps({k: params[k] for k in sorted(params)}, separators=(",", ":"))


def content_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# chunk bodies held to go in the result's own transaction (one transaction per result, not one
# per chunk too); a result with more is stored in transactions of about this many characters
CHUNKS_HELD = 8_000_000

RUNS = cast(Table, Run.__table__)
PARTS = cast(Table, ResultPart.__table__)
DOCUMENTS = cast(Table, Document.__table__)


def _statements(engine: Engine) -> dict[str, db.Prepared]:
    """The statements of every run, prepared once per engine (see `db.Prepared`)."""

    def binds(*names: str) -> dict[str, Any]:
        return {name: bindparam(name) for name in names}

    statements = {
        "open_run": insert(RUNS)
        .values(
            {
                **binds(
                    "job",
                    "trigger",
                    "status",
                    "started_at",
                    "finished_at",
                    "error",
                    "pid",
                    "process_started_at",
                    "host",
                    "parent_run_id",
                    "duration_seconds",
                ),
                **dict.fromkeys(
                    ("requests", "bytes", "documents_new", "documents_dup", "rows_new", "rows_dup"),
                    0,
                ),
            }
        )
        .returning(RUNS.c.id),
        "close_run": update(RUNS)
        .where(RUNS.c.id == bindparam("run_id"))
        .values(
            binds(
                "status",
                "finished_at",
                "requests",
                "bytes",
                "documents_new",
                "documents_dup",
                "error",
                "ratelimit_remaining",
                "rows_new",
                "rows_dup",
                "duration_seconds",
            )
        ),
    }
    return {name: db.Prepared(engine, statement) for name, statement in statements.items()}


class Archive:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._sql = _statements(engine)
        self._rows = ResultRows(engine)
        self.tables: TableKeeper | None = TableKeeper(engine.dialect)  # None: raw archive only
        self.feeds: Outbox | None = None  # set where jobs.yaml's feeds are told (`_feeds`)
        self.identity = process.current()

    # -- runs ----------------------------------------------------------------------------

    def open_run(self, job: str, trigger: str, parent_run: int | None = None) -> int:
        """A new `running` row; `parent_run` is the run of a job it follows that started it."""
        now = iso_seconds(self.clock.now())
        with db.write(self.engine) as conn:
            return self._insert_run(conn, job, trigger, RUNNING, now, parent_run=parent_run)

    def unwritten(self, trigger: str, parent_run: int | None = None) -> Unwritten:
        """A run opened without writing its row yet (see `Unwritten`): started now."""
        return Unwritten(trigger, parent_run, iso_seconds(self.clock.now()))

    def write_run_row(self, conn: Connection, run: RunContext, unless_ended: bool = False) -> bool:
        """Write the run's row as `running` in the caller's transaction if it is not written
        yet (and, `unless_ended`, if the run is not over); True if it was written now. The
        caller holds the write lock, so no one else writes it meanwhile; if its transaction
        rolls back, it forgets the id (`_rows_of`)."""
        unwritten = run.unwritten
        if unwritten is None:
            return False
        with unwritten.lock:
            if run.run_id != 0 or (unless_ended and unwritten.ended):
                return False
            run.run_id = self._insert_run(
                conn,
                run.job.name,
                unwritten.trigger,
                RUNNING,
                unwritten.started_at,
                parent_run=unwritten.parent_run,
            )
            return True

    def write_running(self, runs: Iterable[RunContext]) -> int:
        """Write as `running` the rows of runs still unwritten and not over (a run that
        outlasts a second shows, and a process killed meanwhile leaves it to be marked
        interrupted); how many were written."""
        waiting = [r for r in runs if r.unwritten is not None and not r.unwritten.ended]
        if not waiting:
            return 0
        with self._rows_of(waiting, unless_ended=True) as (_, written):
            pass
        return len(written)

    def end_run(self, run: RunContext, status: str, error: str | None, seconds: float) -> None:
        """Record a run's outcome: its row closed, written first if it was not (one
        transaction)."""
        if run.unwritten is not None:
            run.unwritten.ended = True
        with self._row_of(run) as conn:
            self.close_run(conn, run.run_id, status, run.counts, error, seconds)

    @contextmanager
    def _row_of(self, run: RunContext) -> Iterator[Connection]:
        """A write transaction in which the run's row exists (written now if need be)."""
        with self._rows_of([run]) as (conn, _):
            yield conn

    @contextmanager
    def _rows_of(
        self, runs: list[RunContext], unless_ended: bool = False
    ) -> Iterator[tuple[Connection, list[RunContext]]]:
        """A write transaction that first writes the rows of `runs` not written yet (see
        `write_run_row`), and the runs it wrote; if it rolls back, their ids are forgotten (a
        rolled-back id may be given to another row)."""
        written: list[RunContext] = []
        try:
            with db.write(self.engine) as conn:
                for run in runs:
                    if self.write_run_row(conn, run, unless_ended):
                        written.append(run)
                yield conn, written
        except BaseException:
            for run in written:
                assert run.unwritten is not None
                with run.unwritten.lock:
                    run.run_id = 0
            raise

    def finish_run(
        self,
        run_id: int,
        status: str,
        counts: RunCounts,
        error: str | None,
        seconds: float | None = None,
    ) -> None:
        with db.write(self.engine) as conn:
            self.close_run(conn, run_id, status, counts, error, seconds)

    def close_run(
        self,
        conn: Connection,
        run_id: int,
        status: str,
        counts: RunCounts,
        error: str | None,
        seconds: float | None = None,
    ) -> None:
        """Record a run's outcome inside the caller's transaction; `seconds` is how long it
        took in real (monotonic) seconds."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        status = RunStatus(status)
        closed = self._sql["close_run"].execute(
            conn,
            {
                "run_id": run_id,
                "status": status.value,
                "finished_at": iso_seconds(self.clock.now()),
                "requests": counts.requests,
                "bytes": counts.bytes,
                "documents_new": counts.documents_new,
                "documents_dup": counts.documents_dup,
                "error": redact_text(error)[:2000] if error else None,
                "ratelimit_remaining": counts.ratelimit_remaining,
                "rows_new": counts.rows_new,
                "rows_dup": counts.rows_dup,
                "duration_seconds": round(seconds, 3) if seconds is not None else None,
            },
        )
        if closed.rowcount != 1:  # never an outcome recorded for no run
            raise RuntimeError(f"run {run_id} is not in the runs table")

    def record_skipped(
        self, job: str, trigger: str, reason: str, parent_run: int | None = None
    ) -> int:
        """A run that was due but did not touch the API (maintenance pause, overlap)."""
        now = iso_seconds(self.clock.now())
        with db.write(self.engine) as conn:
            return self._insert_run(
                conn, job, trigger, RunStatus.SKIPPED, now, now, reason, parent_run
            )

    def _insert_run(
        self,
        conn: Connection,
        job: str,
        trigger: str,
        status: RunStatus,
        started_at: str,
        finished_at: str | None = None,
        error: str | None = None,
        parent_run: int | None = None,
    ) -> int:
        """A new row in `runs`, owned by this process (pid, start time, host); its id."""
        result = self._sql["open_run"].execute(
            conn,
            {
                "job": job,
                "trigger": trigger,
                "status": status.value,
                "started_at": started_at,
                "finished_at": finished_at,
                "error": error,
                "pid": self.identity.pid,
                "process_started_at": self.identity.started_at,
                "host": HOST,
                "parent_run_id": parent_run,
                "duration_seconds": 0.0 if finished_at is not None else None,
            },
        )
        return int(result.fetchone()[0])

    def mark_interrupted(self, active_service: bool = False) -> int:
        """Runs left `running` by this process or by one that no longer exists become
        `interrupted`. Call it when this process has no run in flight: at start-up, at
        shutdown (after draining), before a command's runs.

        A run of another host cannot be looked up; the active service (which holds the lock
        that only one service holds) knows that the runs a service starts by itself (its
        schedules, start-up, reloads, parents, retries) of other processes, on any host, are a
        previous active service's: dead, or replaced (frozen, cut off) and fenced so that it can
        never record their end; it takes them over as interrupted."""
        with db.write(self.engine) as conn:
            stale = [
                row.id
                for row in conn.execute(
                    select(Run.id, Run.pid, Run.process_started_at, Run.host, Run.trigger).where(
                        Run.status == RUNNING.value
                    )
                )
                if (
                    (row.host or HOST) == HOST
                    and (
                        self.identity.is_(row.pid, row.process_started_at)
                        or not process.still_running(row.pid, row.process_started_at)
                    )
                )
                or (
                    active_service
                    and row.trigger in SERVICE_TRIGGERS
                    and not ((row.host or HOST) == HOST and self.identity.is_(row.pid, None))
                )
            ]
            if stale:
                conn.execute(
                    update(Run)
                    .where(Run.id.in_(stale))
                    .values(
                        status=RunStatus.INTERRUPTED.value,
                        finished_at=iso_seconds(self.clock.now()),
                        error="the process running it stopped before it finished",
                    )
                )
        return len(stale)

    def _runs_in_flight(self, conn: Connection) -> bool:
        """True if a run is `running` in this process or in another that still exists."""
        return any(
            self.identity.is_(row.pid, row.process_started_at)
            or process.still_running(row.pid, row.process_started_at)
            for row in conn.execute(
                select(Run.pid, Run.process_started_at).where(Run.status == RUNNING.value)
            )
        )

    # -- results -------------------------------------------------------------------------

    def store_result(
        self,
        run: RunContext,
        params: Mapping[str, object],
        parts: Iterable[Part],
        in_same_transaction: Callable[[Connection], None] | None = None,
    ) -> StoredResult:
        """Consume one fetch of the run's job with `params`, then one transaction writes its
        chunks' documents, the part-0 document, every result row, the `latest` pointer, the
        derived table rows and `in_same_transaction` (a cursor, the run's outcome, say). Chunks
        beyond CHUNKS_HELD characters go ahead in transactions of their own (documents are
        content-addressed: one no result points at is collected later), and so do those of a
        result large enough to be derived before the write lock. If the fetch fails midway no
        result becomes visible."""
        job, endpoint = run.job.name, run.job.endpoint
        rows: dict[int, PartRow] = {}
        part0_text = ""
        part0_type = "application/json"
        waiting: list[tuple[str, str, str]] = []  # chunks (body, sha256, type): with part 0
        held = 0  # their characters: past CHUNKS_HELD they go in a transaction of their own
        size = 0  # characters of the result's parts: a large one is derived before the lock
        for part in parts:
            body = strip_signatures(part.text, part.content_type)
            digest = content_hash(body)
            size = len(body) if part.index == 0 else size + len(body)
            if part.index == 0:  # a part 0 begins the result (again, after a re-request)
                rows.clear()
                part0_text, part0_type = body, part.content_type
            else:
                waiting.append((body, digest, part.content_type))
                held += len(body)
                if held > CHUNKS_HELD:
                    self._store_chunks(run, waiting)
                    waiting, held = [], 0
            envelope = strip_signatures(part.envelope) if part.envelope else None
            rows[part.index] = PartRow(
                part.index, digest, part.url, part.link_expires, part.rows, envelope
            )
        if 0 not in rows:
            raise ValueError("a fetch yielded no part 0")
        if endpoint == CATALOG_ENDPOINT:
            _check_catalogue(part0_text)
        fetched_at = iso_seconds(self.clock.now())
        chunks = [rows[i].sha256 for i in sorted(rows) if i > 0]
        prepared = None
        if self.tables is not None and size >= PREPARE_BYTES:  # derived before the write lock
            if waiting:  # the derivation reads the chunks: they go ahead
                self._store_chunks(run, waiting)
                waiting = []
            with db.read(self.engine) as reading:
                early = ResultToDerive(0, endpoint, params, part0_text, chunks, fetched_at, job)
                prepared = self.tables.prepare(reading, early)
        try:
            return self._commit_result(
                run,
                params,
                rows,
                part0_text,
                part0_type,
                fetched_at,
                waiting,
                chunks,
                prepared,
                in_same_transaction,
            )
        finally:
            if prepared is not None:
                prepared.close()

    def _commit_result(
        self,
        run: RunContext,
        params: Mapping[str, object],
        rows: dict[int, PartRow],
        part0_text: str,
        part0_type: str,
        fetched_at: str,
        waiting: list[tuple[str, str, str]],
        chunks: list[str],
        prepared: Prepared | None,
        in_same_transaction: Callable[[Connection], None] | None,
    ) -> StoredResult:
        """The one transaction of `store_result`."""
        job, endpoint, counts = run.job.name, run.job.endpoint, run.counts
        params_text = canonical_params(params)
        with counts.taken_back_on_failure(), self._row_of(run) as conn:
            run_id = run.run_id
            documents = [*waiting, (part0_text, rows[0].sha256, part0_type)]
            shared = {
                "run_id": run_id,
                "job": job,
                "endpoint": endpoint,
                "params": params_text,
                "fetched_at": fetched_at,
            }
            parts = [rows[i] for i in sorted(rows)]
            result_id = self._rows.write(conn, documents, parts, shared, counts)
            counts.results += 1
            written = self.feeds.written() if self.feeds is not None else None
            if self.tables is not None:  # the analysis-ready tables, in the same transaction
                self.tables.result_stored(
                    conn,
                    ResultToDerive(
                        result_id, endpoint, params, part0_text, chunks, fetched_at, job
                    ),
                    written,
                    prepared,
                )
            if self.feeds is not None and written:  # the rows feeds tell: the same transaction
                self.feeds.result_stored(conn, result_id, run_id, written, fetched_at)
            if in_same_transaction is not None:
                in_same_transaction(conn)
        if self.feeds is not None and written:
            self.feeds.committed()  # the sender looks now, not at its next poll
        return StoredResult(result_id, [rows[i].sha256 for i in sorted(rows)])

    def _store_chunks(self, run: RunContext, chunks: list[tuple[str, str, str]]) -> None:
        """Chunks stored ahead of their result, in a transaction of their own: the run's row
        first, so that orphan collection sees a run in flight and leaves them be."""
        with run.counts.taken_back_on_failure(), self._row_of(run) as conn:
            self._rows.put_documents(conn, chunks, run.counts, iso_seconds(self.clock.now()))

    # -- upkeep --------------------------------------------------------------------------

    def collect_orphans(self, older_than_seconds: float = 3600.0) -> int:
        """Delete documents no result points at (left by killed or failed runs).

        Nothing is deleted while a run is in flight (in any process still alive): it may be about
        to point at a stored chunk that looks orphaned, having found it already there. A run
        left `running` by a process that is gone does not hold collection up."""
        cutoff = iso_seconds(self.clock.now() - older_than_seconds)
        with db.write(self.engine) as conn:
            if self._runs_in_flight(conn):
                return 0
            result = conn.execute(
                delete(Document).where(
                    Document.first_seen_at < cutoff,
                    ~select(ResultPart.id).where(ResultPart.sha256 == Document.sha256).exists(),
                )
            )
            return int(result.rowcount)

    def analyze(self) -> None:
        """Refresh the query planner's statistics (quick: sampled), so the views stay fast as
        the archive grows. The service does this at start-up and daily."""
        db.analyze(self.engine)


def _check_catalogue(text: str) -> None:
    """/data/doc is what every command and the service check jobs against: one that is no
    usable catalogue is refused before it is stored (BadCatalogue, the run's reason)."""
    try:
        document = parse_json(text)
    except ValueError:
        document = text
    problem = catalogue_problem(document)
    if problem is not None:
        raise BadCatalogue(
            f"the /data catalogue was not stored (the last good one stays in force): {problem}"
        )
