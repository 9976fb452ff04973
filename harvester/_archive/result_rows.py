"""A result's rows as statements: its documents and its chunk rows a multi-row INSERT at a
time, its part 0 pointing at itself in its own INSERT (one round trip each on PostgreSQL, where
a statement a row cost one each), the documents counted new or already stored as they go in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert

from .._core.counts import RunCounts
from .._store import db
from .._store.models import Document, ResultPart

PARTS = cast(Table, ResultPart.__table__)
DOCUMENTS = cast(Table, Document.__table__)

ROWS_PER_STATEMENT = 50  # documents or chunk parts per multi-row INSERT
DOCUMENT_COLUMNS = ("sha256", "body", "size", "content_type", "first_seen_at")
PART_COLUMNS = (
    "run_id",
    "job",
    "endpoint",
    "params",
    "fetched_at",
    "part",
    "sha256",
    "url",
    "link_expires",
    "rows",
    "envelope",
)


@dataclass(frozen=True)
class PartRow:
    index: int
    sha256: str
    url: str | None
    link_expires: str | None
    rows: int | None
    envelope: str | None


class ResultRows:
    """The statements that write a result's rows on one engine, each prepared once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        binds: dict[str, Any] = {name: bindparam(name) for name in PART_COLUMNS}
        self._sql: dict[str, db.Prepared] = {
            # part 0 is its result: it points at itself
            "insert_part0": db.Prepared(
                engine, db.insert_own_id(engine, PARTS, binds, "result_id")
            ),
        }

    def put_documents(
        self, conn: Connection, documents: list[tuple[str, str, str]], counts: RunCounts, now: str
    ) -> None:
        """Insert the documents (body, sha256, content type) whose content is not stored yet,
        a statement per ROWS_PER_STATEMENT (one round trip, not one each), counting which
        were new and which were stored already."""
        for start in range(0, len(documents), ROWS_PER_STATEMENT):
            batch = documents[start : start + ROWS_PER_STATEMENT]
            values: dict[str, Any] = {}
            for i, (body, digest, content_type) in enumerate(batch):
                values[f"sha256_{i}"] = digest
                values[f"body_{i}"] = body
                values[f"size_{i}"] = len(body.encode("utf-8"))
                values[f"content_type_{i}"] = content_type
                values[f"first_seen_at_{i}"] = now
            new = {row[0] for row in self._batch("documents", len(batch)).execute(conn, values)}
            for _, digest, _ in batch:
                _count(digest in new, counts)
                new.discard(digest)  # the same content twice in a result: new once

    def insert_parts(self, conn: Connection, parts: list[PartRow], shared: dict[str, Any]) -> int:
        """A result's rows, in the order of its parts: part 0 pointing at itself (it is the
        result) and its chunks pointing at it, a statement per ROWS_PER_STATEMENT; its id."""
        first, chunks = parts[0], parts[1:]
        cursor = self._sql["insert_part0"].execute(conn, {**shared, **_values_of(first)})
        result_id = int(cursor.fetchone()[0])
        for start in range(0, len(chunks), ROWS_PER_STATEMENT):
            batch = chunks[start : start + ROWS_PER_STATEMENT]
            values: dict[str, Any] = {}
            for i, part in enumerate(batch):
                row = {**shared, **_values_of(part), "result_id": result_id}
                values.update({f"{name}_{i}": value for name, value in row.items()})
            self._batch("parts", len(batch)).execute(conn, values)
        return result_id

    def _batch(self, table: str, rows: int) -> db.Prepared:
        """The multi-row INSERT of `rows` documents or chunk parts, prepared once."""
        key = f"{table}:{rows}"
        statement = self._sql.get(key)
        if statement is None:
            names: tuple[str, ...] = DOCUMENT_COLUMNS
            if table == "documents":
                base = db.insert_ignoring(self.engine, DOCUMENTS, ["sha256"])
                returning: Any = DOCUMENTS.c.sha256
            else:
                names, base, returning = (*PART_COLUMNS, "result_id"), insert(PARTS), None
            rows_of: list[dict[str, Any]] = [
                {n: bindparam(f"{n}_{i}") for n in names} for i in range(rows)
            ]
            built = base.values(rows_of)
            statement = db.Prepared(
                self.engine, built.returning(returning) if returning is not None else built
            )
            self._sql[key] = statement
        return statement


def _count(new: bool, counts: RunCounts) -> None:
    if new:
        counts.documents_new += 1
    else:
        counts.documents_dup += 1


def _values_of(part: PartRow) -> dict[str, Any]:
    return {
        "part": part.index,
        "sha256": part.sha256,
        "url": part.url,
        "link_expires": part.link_expires,
        "rows": part.rows,
        "envelope": part.envelope,
    }
