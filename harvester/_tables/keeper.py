"""Keeping the tables current as results are stored, inside the storing transaction.

A result's rows are written in the same transaction as the result itself, so a killed process
leaves both or neither. Deriving never fails a harvest: the rows go in a savepoint, and a
document that cannot be derived (or rows of it that have no key) is recorded in
`tables_skipped` and logged as `tables.skipped` with the reason; the raw body keeps everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Table, bindparam, delete, select

from .._core.logs import get_logger
from .._store.models import Document
from .derive import MAPPERS, Derivation
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

    def result_stored(
        self,
        connection: Connection,
        result: ResultToDerive,
        written: dict[str, list[tuple[Any, ...]]] | None = None,
    ) -> bool:
        """Derive one stored result; True if all of it was taken. Never raises for the
        document's sake: the harvest goes on regardless. `written`: see `Writer.write`."""
        if result.endpoint not in MAPPERS:
            return True
        savepoint = connection.begin_nested()
        try:
            source = Source(
                result.endpoint,
                {k: str(v) for k, v in result.params.items()},
                parse_document(result.part0),
                self._chunks(connection, result.chunks),
            )
            derivation = Derivation(source, result.result_id, self.tables)
            self.writer.write(connection, derivation, written)
        except Exception as exc:  # a shape we do not know, or a value the database refused
            savepoint.rollback()
            self._skip(connection, result, _one_line(exc))
            return False
        savepoint.commit()
        problem = derivation.problem()
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
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text or type(exc).__name__
    return text[:500]
