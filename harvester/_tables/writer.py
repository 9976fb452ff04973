"""Writing a document's rows so that the tables stay a function of the archive.

Whatever order documents arrive in, each entity row ends as the best document's (fullest
source, then newest `result_id`) and each scope's rows as its newest document's: so applying
the results as they are stored gives exactly what a rebuild from the raw documents gives.

- entity tables: one upsert, updating only when the new row wins (`source_rank`, `result_id`);
  a `max_columns` column keeps the largest value seen whoever wins;
- scoped tables: the scope's newest `result_id` is looked up once per document; if the document
  is at least as new, the scope's rows are deleted and the document's inserted.

The statements are SQLAlchemy Core compiled once for the engine's dialect (SQLite and
PostgreSQL share the `INSERT ... ON CONFLICT` form) and run with the driver's `executemany`:
on the harvest path SQLAlchemy's per-call machinery would cost more than the writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.sql import ClauseElement

from .._store import driver
from .._store.db import dialect_insert
from .derive import Batch, Derivation
from .schema import SPECS, TABLES, Spec


class _Statement:
    """A Core statement compiled once; run on the DBAPI cursor of the caller's transaction."""

    def __init__(self, dialect: Dialect, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        names: Sequence[str] | None = compiled.positiontup  # type: ignore[attr-defined]
        self._args: Callable[[Mapping[str, Any]], Any] = _identity
        if names is not None:  # positional parameters (SQLite): one tuple per row
            pick = itemgetter(*names)
            self._args = pick if len(names) > 1 else (lambda row: (pick(row),))

    def many(self, connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        driver.executemany(connection, self.sql, [self._args(r) for r in rows])

    def one(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        return driver.execute(connection, self.sql, self._args(values))


def _identity(values: Mapping[str, Any]) -> Any:
    return values  # named parameters (PostgreSQL's drivers): the row itself


def _dialect_insert(dialect: Dialect, table: Table) -> Any:
    return dialect_insert(dialect, table).values({c.name: bindparam(c.name) for c in table.columns})


def _entity_upsert(dialect: Dialect, spec: Spec, table: Table) -> ClauseElement:
    statement = _dialect_insert(dialect, table)
    new, old = statement.excluded, table.c
    wins = or_(
        old.source_rank < new.source_rank,
        and_(old.source_rank == new.source_rank, old.result_id <= new.result_id),
    )
    others = [c for c in spec.names if c not in spec.key]
    if not spec.max_columns:
        update = {c: new[c] for c in others}
        return statement.on_conflict_do_update(  # type: ignore[no-any-return]
            index_elements=list(spec.key), set_=update, where=wins
        )
    update = {}
    for c in others:
        if c in spec.max_columns:
            larger = or_(old[c].is_(None), new[c] > old[c])
            update[c] = case((larger, new[c]), else_=old[c])
        else:
            update[c] = case((wins, new[c]), else_=old[c])
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=list(spec.key), set_=update
    )


class _TableStatements:
    def __init__(self, dialect: Dialect, spec: Spec, table: Table) -> None:
        self.spec = spec
        if spec.entity:
            self.write = _Statement(dialect, _entity_upsert(dialect, spec, table))
            return
        statement = _dialect_insert(dialect, table)
        others = [c for c in spec.names if c not in spec.key]
        self.write = _Statement(
            dialect,
            statement.on_conflict_do_update(
                index_elements=list(spec.key), set_={c: statement.excluded[c] for c in others}
            ),
        )
        in_scope = and_(*(table.c[c] == bindparam(c) for c in spec.scope))
        self.owner = _Statement(dialect, select(func.max(table.c.result_id)).where(in_scope))
        self.clear = _Statement(dialect, delete(table).where(in_scope))


class Writer:
    """Writes derivations into a set of tables: the live ones, or a rebuild's shadow copies."""

    def __init__(self, dialect: Dialect, tables: Mapping[str, Table] | None = None) -> None:
        self.tables = dict(tables or TABLES)
        self._sql = {
            name: _TableStatements(dialect, SPECS[name], table)
            for name, table in self.tables.items()
        }

    def write(
        self,
        connection: Connection,
        derivation: Derivation,
        written: dict[str, list[tuple[Any, ...]]] | None = None,
    ) -> int:
        """Apply one document's rows; return how many rows were written. The keys of the rows
        written to a table named in `written` are added to its list (the feeds' outbox reads
        those rows back in the same transaction)."""
        return self.write_batches(connection, derivation, derivation.result_id, written)

    def write_batches(
        self,
        connection: Connection,
        batches: Iterable[Batch],
        result_id: int,
        written: dict[str, list[tuple[Any, ...]]] | None = None,
    ) -> int:
        """`write`, for one document's batches derived beforehand (see `keeper.Prepared`)."""
        scopes: dict[tuple[str, tuple[Any, ...]], bool] = {}  # (table, scope) -> taken
        count = 0
        for batch in batches:
            statements = self._sql.get(batch.table)
            if statements is None:
                continue
            rows = _last_per_key(batch, statements.spec)
            if not statements.spec.entity:
                rows = self._take_scopes(connection, statements, result_id, rows, scopes)
            if rows:
                statements.write.many(connection, rows)
                count += len(rows)
                keys = written.get(batch.table) if written is not None else None
                if keys is not None:
                    keys.extend(tuple(row[c] for c in statements.spec.key) for row in rows)
        return count

    @staticmethod
    def _take_scopes(
        connection: Connection,
        statements: _TableStatements,
        result_id: int,
        rows: list[dict[str, Any]],
        scopes: dict[tuple[str, tuple[Any, ...]], bool],
    ) -> list[dict[str, Any]]:
        """The rows whose scope this document owns (deciding, and clearing, each scope once)."""
        spec = statements.spec
        kept = []
        for row in rows:
            scope = tuple(row[c] for c in spec.scope)
            taken = scopes.get((spec.name, scope))
            if taken is None:
                where = dict(zip(spec.scope, scope, strict=True))
                owner = statements.owner.one(connection, where).fetchone()[0]
                taken = owner is None or owner <= result_id
                if taken and owner is not None:
                    statements.clear.one(connection, where)
                scopes[(spec.name, scope)] = taken
            if taken:
                kept.append(row)
        return kept


def _last_per_key(batch: Batch, spec: Spec) -> list[dict[str, Any]]:
    """One row per key (the last): a key twice in one statement is an error on PostgreSQL."""
    key = itemgetter(*spec.key)  # one value, or a tuple of them: either way hashable
    unique = {key(row): row for row in batch.rows}
    if len(unique) == len(batch.rows):
        return batch.rows
    return list(unique.values())
