"""`harvester db copy`: move an archive to another database (SQLite to PostgreSQL, typically).

Everything a harvester keeps is copied, in the order its foreign keys need: documents, runs,
result parts, the `latest` pointers, cursors, row keys seen, fan-out items and marks,
backfills, and the OAuth session (tokens stay encrypted as they are: the target needs the same
key). The analysis tables are derived again from the copied documents on the target.

Each batch is one transaction on the target, and a row already there is skipped (tables keyed
by an id resume after the largest id copied), so an interrupted copy run again continues where
it stopped. At the end every table is compared: row counts, and a digest of all its rows that
does not depend on their order (the sum of each row's sha256), and every document's body is
hashed again against its key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, func, select

from .._core.errors import ConfigError
from .._store import db, lock
from .._store.models import (
    AuthEvent,
    AuthState,
    Backfill,
    Cursor,
    Document,
    FanoutItem,
    FanoutMark,
    LatestResult,
    OAuthToken,
    ResultPart,
    Run,
    SeenKey,
)
from .._tables.rebuild import rebuild

COPIED = (
    Document,
    Run,
    ResultPart,
    LatestResult,
    Cursor,
    SeenKey,
    FanoutItem,
    FanoutMark,
    Backfill,
    OAuthToken,
    AuthState,
    AuthEvent,
)
BATCH = 2000
_MOD = 2**256


@dataclass(frozen=True)
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    digests_match: bool

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.digests_match


@dataclass(frozen=True)
class CopyReport:
    copied: dict[str, int]  # rows written by this run, per table
    checks: list[TableCheck]
    bad_documents: int  # documents whose body does not hash to their key on the target

    @property
    def ok(self) -> bool:
        return self.bad_documents == 0 and all(check.ok for check in self.checks)


def copy_archive(
    source: Engine, target: Engine, say: Callable[[str], None] = lambda _: None
) -> CopyReport:
    """Copy every table of `source` into `target` (migrated), then verify. Raises ConfigError
    when the source's service is running (stop it first: the copy must be of a still archive)."""
    if lock.service_lock(source, source.url.render_as_string(hide_password=False)).holder():
        raise ConfigError("harvester start is running on the source database: stop it first")
    copied: dict[str, int] = {}
    for model in COPIED:
        table = cast(Table, model.__table__)
        copied[table.name] = _copy_table(source, target, table)
        say(f"{table.name}: {copied[table.name]} row(s) copied")
    with db.write(target) as conn:
        db.after_bulk_copy(conn, [cast(Table, m.__table__) for m in COPIED])
    _rederive(target, say)
    checks = [_check(source, target, cast(Table, model.__table__)) for model in COPIED]
    return CopyReport(copied, checks, _bad_documents(target))


def _copy_table(source: Engine, target: Engine, table: Table) -> int:
    key = list(table.primary_key.columns)
    statement = select(table).order_by(*key)
    if len(key) == 1 and key[0].name == "id":  # resume after the largest id already there
        with db.read(target) as conn:
            done = conn.execute(select(func.max(key[0]))).scalar()
        if done is not None:
            statement = statement.where(key[0] > done)
    insert = db.insert_ignoring(target, table)
    written = 0
    with source.connect() as reader:
        result = reader.execution_options(stream_results=True, yield_per=BATCH).execute(statement)
        for batch in result.partitions(BATCH):
            rows = [dict(row._mapping) for row in batch]
            with db.write(target) as conn:
                conn.execute(insert, rows)
            written += len(rows)
    return written


def _rederive(target: Engine, say: Callable[[str], None]) -> None:
    """The analysis tables, derived from the copied documents (as `harvester tables rebuild`)."""
    report = rebuild(target)
    say(f"analysis tables derived again on the target: {sum(report.rows.values())} row(s)")


def _check(source: Engine, target: Engine, table: Table) -> TableCheck:
    source_rows, source_digest = _digest(source, table)
    target_rows, target_digest = _digest(target, table)
    return TableCheck(table.name, source_rows, target_rows, source_digest == target_digest)


def _digest(engine: Engine, table: Table) -> tuple[int, int]:
    """(rows, sum of the rows' sha256 mod 2**256): equal tables give equal pairs whatever order
    either database returns them in."""
    count = 0
    total = 0
    with engine.connect() as conn:
        for row in _stream(conn, select(table)):
            text = "\x1f".join(_canonical(value) for value in row)
            total = (total + int.from_bytes(hashlib.sha256(text.encode()).digest())) % _MOD
            count += 1
    return count, total


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bad_documents(engine: Engine) -> int:
    bad = 0
    with engine.connect() as conn:
        for sha256, body in _stream(conn, select(Document.sha256, Document.body)):
            if hashlib.sha256(str(body).encode("utf-8")).hexdigest() != sha256:
                bad += 1
    return bad


def _stream(conn: Connection, statement: Any) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(statement)
    for batch in result.partitions(BATCH):
        yield from batch
