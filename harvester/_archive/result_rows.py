"""A result's rows as statements: its documents, its part 0 pointing at itself, its chunk rows
pointing at part 0, and the `latest` pointer, the documents counted new or already stored as
they go in.

SQLite answers in-process, so there each is a multi-row INSERT of its own. On PostgreSQL every
statement is a round trip, which costs both processes more CPU than the rows themselves: there a
result of up to ROWS_PER_STATEMENT documents and parts is one statement, its INSERTs chained by
data-modifying CTEs (all of them see the id part 0 draws from the sequence under the write lock;
the foreign keys are checked at the statement's end, when every row is in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    String,
    Table,
    bindparam,
    func,
    insert,
    null,
    select,
    union_all,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects import postgresql, sqlite

from .._core.counts import RunCounts
from .._store import db
from .._store.models import Document, LatestResult, ResultPart

PARTS = cast(Table, ResultPart.__table__)
DOCUMENTS = cast(Table, Document.__table__)
LATEST = cast(Table, LatestResult.__table__)

ROWS_PER_STATEMENT = 50  # documents or chunk parts per multi-row INSERT
SHAPES_KEPT = 64  # PostgreSQL: one-statement results compiled and kept, by shape
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
    """The statements that write a result's rows on one engine, each compiled once (on
    PostgreSQL, once per result shape while the shape is among the SHAPES_KEPT kept)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = db.is_postgres(engine)
        self._shapes: dict[tuple[int, int], db.Prepared] = {}  # PostgreSQL: (documents, parts)
        self._sql: dict[str, db.Prepared] = {} if self.postgres else _sqlite_statements(engine)

    def write(
        self,
        conn: Connection,
        documents: list[tuple[str, str, str]],
        parts: list[PartRow],
        shared: dict[str, Any],
        counts: RunCounts,
    ) -> int:
        """A result's rows: its documents (body, sha256, content type) not stored yet, its
        parts in order (part 0 first) and the `latest` pointer of its job and request; the id
        of its part 0, which is the result's."""
        now = shared["fetched_at"]
        if self.postgres:  # the last ROWS_PER_STATEMENT documents and the first parts: one go
            ahead, documents = documents[:-ROWS_PER_STATEMENT], documents[-ROWS_PER_STATEMENT:]
            self.put_documents(conn, ahead, counts, now)
            first, after = parts[:ROWS_PER_STATEMENT], parts[ROWS_PER_STATEMENT:]
            values = {**shared, **_document_values(documents, now)}
            for i, part in enumerate(first):
                values.update({f"p_{name}_{i}": value for name, value in _values_of(part).items()})
            statement = self._statement_of_shape(len(documents), len(first))
            result_id = _stored(statement.execute(conn, values).fetchall(), documents, counts)
            self._insert_chunks(conn, after, shared, result_id)
            return result_id
        self.put_documents(conn, documents, counts, now)
        result_id = self._insert_parts(conn, parts, shared)
        latest = {name: shared[name] for name in ("job", "endpoint", "params")}
        self._sql["set_latest"].execute(conn, {**latest, "result_id": result_id})
        return result_id

    def _statement_of_shape(self, documents: int, parts: int) -> db.Prepared:
        """PostgreSQL: the statement of a result of this shape, documents, parts and `latest`
        in one (one round trip where there were four), compiled once per shape; past
        SHAPES_KEPT the oldest made goes. (Callers hold the write lock: one at a time.)"""
        statement = self._shapes.get((documents, parts))
        if statement is None:
            if len(self._shapes) >= SHAPES_KEPT:
                del self._shapes[next(iter(self._shapes))]
            statement = db.Prepared(self.engine, _one_statement(documents, parts))
            self._shapes[documents, parts] = statement
        return statement

    def put_documents(
        self, conn: Connection, documents: list[tuple[str, str, str]], counts: RunCounts, now: str
    ) -> None:
        """Insert the documents (body, sha256, content type) whose content is not stored yet,
        a statement per ROWS_PER_STATEMENT (one round trip, not one each), counting which
        were new and which were stored already."""
        for start in range(0, len(documents), ROWS_PER_STATEMENT):
            batch = documents[start : start + ROWS_PER_STATEMENT]
            values = _document_values(batch, now)
            new = {row[0] for row in self._batch("documents", len(batch)).execute(conn, values)}
            _count_documents(batch, new, counts)

    def _insert_parts(self, conn: Connection, parts: list[PartRow], shared: dict[str, Any]) -> int:
        """A result's rows, in the order of its parts: part 0 pointing at itself (it is the
        result) and its chunks pointing at it, a statement per ROWS_PER_STATEMENT; its id."""
        first, chunks = parts[0], parts[1:]
        cursor = self._sql["insert_part0"].execute(conn, {**shared, **_values_of(first)})
        result_id = int(cursor.fetchone()[0])
        self._insert_chunks(conn, chunks, shared, result_id)
        return result_id

    def _insert_chunks(
        self, conn: Connection, chunks: list[PartRow], shared: dict[str, Any], result_id: int
    ) -> None:
        """Chunk rows pointing at their result, a statement per ROWS_PER_STATEMENT."""
        for start in range(0, len(chunks), ROWS_PER_STATEMENT):
            batch = chunks[start : start + ROWS_PER_STATEMENT]
            values: dict[str, Any] = {}
            for i, part in enumerate(batch):
                row = {**shared, **_values_of(part), "result_id": result_id}
                values.update({f"{name}_{i}": value for name, value in row.items()})
            self._batch("parts", len(batch)).execute(conn, values)

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


def _sqlite_statements(engine: Engine) -> dict[str, db.Prepared]:
    """SQLite's statements of a result that are not multi-row batches: part 0, pointing at
    itself in its own INSERT (its id one past the largest, under the write lock every writer
    takes: what SQLite would give it anyway), and the `latest` upsert."""
    largest = select(func.coalesce(func.max(PARTS.c.id), 0) + 1).scalar_subquery()
    part0 = {"id": largest, **{n: bindparam(n) for n in PART_COLUMNS}, "result_id": largest}
    latest = sqlite.insert(LATEST).values(
        {name: bindparam(name) for name in ("job", "endpoint", "params", "result_id")}
    )
    return {
        "insert_part0": db.Prepared(engine, insert(PARTS).values(part0).returning(PARTS.c.id)),
        "set_latest": db.Prepared(
            engine,
            latest.on_conflict_do_update(
                index_elements=["job", "endpoint", "params"],
                set_={"result_id": latest.excluded.result_id},
            ),
        ),
    }


def _document_values(documents: list[tuple[str, str, str]], now: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i, (body, digest, content_type) in enumerate(documents):
        values[f"sha256_{i}"] = digest
        values[f"body_{i}"] = body
        values[f"size_{i}"] = len(body.encode("utf-8"))
        values[f"content_type_{i}"] = content_type
        values[f"first_seen_at_{i}"] = now
    return values


def _stored(returned: list[Any], documents: list[tuple[str, str, str]], counts: RunCounts) -> int:
    """The id of a result `_one_statement` stored, its documents counted from the rows it
    returned: (sha256, NULL) for each new document, (NULL, id) once."""
    new = {digest for digest, result_id in returned if result_id is None}
    _count_documents(documents, new, counts)
    return next(int(result_id) for _, result_id in returned if result_id is not None)


def _count_documents(
    documents: list[tuple[str, str, str]], new: set[str], counts: RunCounts
) -> None:
    """Count each document new (its INSERT returned it) or stored already; the same content
    twice in a result is new once."""
    for _, digest, _ in documents:
        if digest in new:
            counts.documents_new += 1
            new.discard(digest)
        else:
            counts.documents_dup += 1


def _one_statement(documents: int, parts: int) -> Any:
    """PostgreSQL's statement of a whole result (`documents` documents, `parts` parts, part 0
    first): the documents' INSERT returns the new ones' sha256, the sequence's next id becomes
    part 0's id and every part's result_id, and `latest` points at it; the rows it returns are
    (sha256, NULL) for each new document and (NULL, id) once."""
    doc_rows = (
        postgresql.insert(DOCUMENTS)
        .values([{n: bindparam(f"{n}_{i}") for n in DOCUMENT_COLUMNS} for i in range(documents)])
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(DOCUMENTS.c.sha256)
        .cte("doc_rows")
    )
    sequence = func.pg_get_serial_sequence(PARTS.name, "id")
    new_id = select(func.nextval(sequence).label("id")).cte("new_id")
    shared = [_typed(n, n) for n in ("run_id", "job", "endpoint", "params", "fetched_at")]

    def part_row(i: int) -> Any:
        own = new_id.c.id if i == 0 else func.nextval(sequence)
        own_values = [_typed(n, f"p_{n}_{i}") for n in PART_COLUMNS[5:]]
        return select(own, new_id.c.id, *shared, *own_values)

    names = ["id", "result_id", *PART_COLUMNS]
    rows = [part_row(i) for i in range(parts)]
    part_rows = (
        insert(PARTS)
        .from_select(names, rows[0] if parts == 1 else union_all(*rows))
        .cte("part_rows")
    )
    latest = postgresql.insert(LATEST).from_select(
        ["job", "endpoint", "params", "result_id"],
        select(*shared[1:4], new_id.c.id),
    )
    latest_row = latest.on_conflict_do_update(
        index_elements=["job", "endpoint", "params"],
        set_={"result_id": latest.excluded.result_id},
    ).cte("latest_row")
    return union_all(
        select(doc_rows.c.sha256, null()),
        select(null(), new_id.c.id),
    ).add_cte(part_rows, latest_row)


def _typed(column: str, name: str) -> Any:
    """A bound value cast to its result_parts column's type without a length (a NULL's type is
    unknown otherwise): PostgreSQL cuts a value cast to VARCHAR(n) short without a word, where
    the INSERT itself refuses one too long for its column."""
    kind = PARTS.c[column].type
    return sql_cast(bindparam(name), type(kind)() if isinstance(kind, String) else kind)


def _values_of(part: PartRow) -> dict[str, Any]:
    return {
        "part": part.index,
        "sha256": part.sha256,
        "url": part.url,
        "link_expires": part.link_expires,
        "rows": part.rows,
        "envelope": part.envelope,
    }
