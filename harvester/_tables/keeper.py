"""Keeping the tables current as results are stored, inside the storing transaction.

A result's rows are written in the same transaction as the result itself, so a killed process
leaves both or neither. A large result (`PREPARE_BYTES` and more) is derived before that
transaction takes the write lock (`prepare`: parsed, mapped and coerced, its batches spooled to
a temporary file), so the lock is held only while its rows are written, read back a batch at a
time: other jobs' stores wait for the writes, not for the parsing.

Deriving never fails a harvest: the rows go in a savepoint, and a document that cannot be
derived (or rows of it that have no key, or values no column holds) is recorded in
`tables_skipped` and logged as `tables.skipped` with the reason; the raw body keeps everything.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Connection, Dialect, Table, bindparam, delete, select

from .._core.logs import get_logger
from .._core.text import error_line
from .._store import db
from .._store.models import Document
from .derive import MAPPERS, Batch, Derivation
from .schema import SKIPPED
from .source import Source
from .writer import Writer, _dialect_insert, _Statement

log = get_logger("harvester.tables")

_DOCUMENTS: Table = Document.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ResultToDerive:
    """One stored result as the tables read it: part 0's text and its chunks' sha256s (read
    back one at a time), with the request that fetched it."""

    result_id: int
    endpoint: str
    params: Mapping[str, object]
    part0: str
    chunks: Sequence[str]
    at: str  # when it was fetched
    job: str | None = None


PREPARE_BYTES = 1_000_000  # a result this large (part 0 and chunks) is derived before the lock


class Prepared:
    """A result derived before the write lock: its batches in a temporary file, or why it could
    not be derived."""

    def __init__(self, spool: IO[bytes] | None, problem: str | None, failed: str | None) -> None:
        self.spool, self.problem, self.failed = spool, problem, failed

    def batches(self, result_id: int) -> Iterator[Batch]:
        """The batches, read back one at a time, their rows given the stored result's id."""
        if self.spool is None:
            return
        self.spool.seek(0)
        while True:
            try:
                table, rank, rows = pickle.load(self.spool)  # noqa: S301 - our own spool
            except EOFError:
                return
            for row in rows:
                row["result_id"] = result_id
            yield Batch(table, rank, rows)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


class TableKeeper:
    """Derives each stored result into the tables (or into a rebuild's shadow tables)."""

    def __init__(
        self,
        dialect: Dialect,
        tables: Mapping[str, Table] | None = None,
    ) -> None:
        self.writer = Writer(dialect, tables)
        self.tables = frozenset(self.writer.tables)
        self._chunk = _Statement(
            dialect,
            select(_DOCUMENTS.c.body).where(_DOCUMENTS.c.sha256 == bindparam("sha256")),
        )
        skip = _dialect_insert(dialect, SKIPPED)
        self._record_skip = _Statement(
            dialect,
            skip.on_conflict_do_update(
                index_elements=["result_id"],
                set_={c: skip.excluded[c] for c in ("endpoint", "reason", "at")},
            ),
        )
        self._clear_skip = _Statement(
            dialect, delete(SKIPPED).where(SKIPPED.c.result_id == bindparam("result_id"))
        )

    @staticmethod
    def derives(endpoint: str) -> bool:
        return endpoint in MAPPERS

    def prepare(self, connection: Connection, result: ResultToDerive) -> Prepared | None:
        """Derive a result before the write lock (`connection` reads its chunks, committed
        already); `result_stored` then writes what this spooled. None: nothing to derive."""
        if result.endpoint not in MAPPERS:
            return None
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - Prepared closes it
        try:
            derivation = Derivation(self._source(connection, result), 0, self.tables)
            for batch in derivation:
                pickle.dump((batch.table, batch.rank, batch.rows), spool, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a shape we do not know: recorded when the result is stored
            spool.close()
            return Prepared(None, None, _one_line(exc))
        return Prepared(spool, derivation.problem(), None)

    def result_stored(
        self,
        connection: Connection,
        result: ResultToDerive,
        written: dict[str, list[tuple[Any, ...]]] | None = None,
        prepared: Prepared | None = None,
        isolated: bool = True,
    ) -> bool:
        """Derive one stored result (or write what `prepare` derived of it); True if all of it
        was taken. Never raises for the document's sake: the harvest goes on regardless.
        `written`: see `Writer.write`. `isolated=False` (a rebuild's group of results under
        one savepoint of its own): no savepoint here, and a failure raises for the caller to
        undo the group and derive it again one result at a time."""
        if result.endpoint not in MAPPERS:
            return True
        if prepared is not None and prepared.failed is not None:
            self._skip(connection, result, prepared.failed)
            return False
        try:
            with db.savepoint(connection, "tables") if isolated else nullcontext():
                if prepared is not None:
                    batches = prepared.batches(result.result_id)
                    self.writer.write_batches(connection, batches, result.result_id, written)
                    problem = prepared.problem
                else:
                    derivation = Derivation(
                        self._source(connection, result), result.result_id, self.tables
                    )
                    self.writer.write(connection, derivation, written)
                    problem = derivation.problem()
        except Exception as exc:  # a shape we do not know, or a value the database refused
            if not isolated:
                raise
            self._skip(connection, result, _one_line(exc))
            return False
        if problem is not None:
            self._skip(connection, result, problem)
            return False
        return True

    def forget_skip(self, connection: Connection, result_id: int) -> None:
        self._clear_skip.one(connection, {"result_id": result_id})

    def _skip(self, connection: Connection, result: ResultToDerive, reason: str) -> None:
        row = {"result_id": result.result_id, "endpoint": result.endpoint, "at": result.at}
        self._record_skip.one(connection, {**row, "reason": reason})
        log.warning(
            "tables.skipped",
            result_id=result.result_id,
            endpoint=result.endpoint,
            job=result.job,
            reason=reason,
        )

    def _source(self, connection: Connection, result: ResultToDerive) -> Source:
        return Source(
            result.endpoint,
            {k: str(v) for k, v in result.params.items()},
            parse_document(result.part0),
            self._chunks(connection, result.chunks),
        )

    def _chunks(self, connection: Connection, shas: Sequence[str]) -> Iterator[Any]:
        """The chunks, read back and parsed one at a time (a large result stays bounded)."""
        for sha in shas:
            row = self._chunk.one(connection, {"sha256": sha}).fetchone()
            yield parse_document(row[0]) if row is not None else None


class _Undecodable(ValueError):
    pass


def parse_document(text: str) -> Any:
    """A stored document as the tables read it. A key given twice in one object means its
    first value, as SQLite's `json_extract` reads the stored body (Python's own rule is the
    last), so the tables and a query of the raw JSON agree. (PostgreSQL's `jsonb` keeps the
    last; iRacing never sends a key twice.)"""
    try:
        return json.loads(text, object_pairs_hook=_first_of_each_key)
    except ValueError as exc:
        raise _Undecodable(f"the document is not JSON ({exc})") from None


def _first_of_each_key(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    taken = dict(pairs)
    if len(taken) == len(pairs):
        return taken
    taken = {}
    for key, value in pairs:
        taken.setdefault(key, value)
    return taken


def _one_line(exc: BaseException) -> str:
    return error_line(exc)
