"""`harvester tables rebuild`: the tables made again from the raw documents, safely while the
service runs.

One rebuild at a time (`db.rebuild_lock`: a second one stops at once, naming the holder). The
tables are built beside the live ones (`<table>__rebuild`, with their key only), a page of
results per short write transaction (so the service's writes wait a fraction of a second at
most), in the order the results were stored, with the same code that keeps them current. Then
one transaction catches up with results stored meanwhile and swaps each table in by name: the
live one is dropped, the new one renamed to it and given its indexes (no row is copied).
Readers see the old table until that commit and the new one after; a crash leaves the live
tables untouched, and the next rebuild drops what it left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    func,
    inspect,
    select,
)

from .._core.errors import ConfigError
from .._core.logs import get_logger
from .._store import db
from .._store.models import Document, ResultPart
from .derive import endpoints_for
from .keeper import ResultToDerive, TableKeeper
from .schema import SPECS, TABLE_NAMES, TABLES, make_table

log = get_logger("harvester.tables")

PARTS: Table = ResultPart.__table__  # type: ignore[assignment]
DOCUMENTS: Table = Document.__table__  # type: ignore[assignment]
PAGE = 100  # results read per query
GROUP = 20  # results derived under one savepoint
WRITE_BUDGET_SECONDS = 0.25  # longest a rebuild holds the write lock, but for the final swap
SHADOW_SUFFIX = "__rebuild"


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed: float

    @property
    def rate_per_minute(self) -> float:
        return self.done / self.elapsed * 60 if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.done == 0 or self.elapsed <= 0:
            return None
        return (self.total - self.done) / (self.done / self.elapsed)


@dataclass(frozen=True)
class RebuildReport:
    tables: tuple[str, ...]
    results: int
    rows: dict[str, int]
    seconds: float


def table_names(names: Iterable[str] | None) -> tuple[str, ...]:
    """The tables asked for (all when none), or a one-line error naming an unknown one."""
    chosen = tuple(dict.fromkeys(names or ()))
    unknown = [n for n in chosen if n not in SPECS]
    if unknown:
        raise ConfigError(f"unknown table {unknown[0]!r}; the tables are: {', '.join(TABLE_NAMES)}")
    return chosen or TABLE_NAMES


def rebuild(
    engine: Engine,
    names: Iterable[str] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> RebuildReport:
    """Rebuild these tables (all when none); ConfigError if another rebuild is running."""
    tables = table_names(names)
    with db.rebuild_lock(engine):
        return _rebuild(engine, tables, progress)


def _rebuild(
    engine: Engine, tables: tuple[str, ...], progress: Callable[[Progress], None] | None
) -> RebuildReport:
    endpoints = endpoints_for(tables)
    started = time.monotonic()
    shadows_md = MetaData()
    shadows = {
        n: make_table(SPECS[n], shadows_md, n + SHADOW_SUFFIX, indexes=False) for n in tables
    }
    with db.write(engine) as conn:
        for shadow in shadows.values():  # a crashed rebuild may have left them
            shadow.drop(conn, checkfirst=True)
            shadow.create(conn)
        high = int(conn.execute(select(func.max(PARTS.c.id))).scalar() or 0)
        total = int(
            conn.execute(
                select(func.count()).select_from(PARTS).where(_results(endpoints, 0, high))
            ).scalar()
            or 0
        )
    keeper = TableKeeper(engine.dialect, shadows)
    after, done = 0, 0
    while True:
        with db.write(engine) as conn:
            after, n = derive_stored(conn, keeper, endpoints, after, high, WRITE_BUDGET_SECONDS)
        done += n
        if progress is not None:
            progress(Progress(done, total, time.monotonic() - started))
        if n == 0:
            break
    with db.write(engine) as conn:
        _, caught_up = derive_stored(conn, keeper, endpoints, high, None, None)
        rows = {}
        for name in tables:
            swap_in(conn, TABLES[name], shadows[name])
            count = select(func.count()).select_from(TABLES[name])
            rows[name] = int(conn.execute(count).scalar() or 0)
    report = RebuildReport(tables, done + caught_up, rows, time.monotonic() - started)
    log.info(
        "tables.rebuilt",
        tables=list(tables),
        results=report.results,
        rows=rows,
        seconds=round(report.seconds, 2),
    )
    return report


def swap_in(conn: Connection, live: Table, shadow: Table) -> None:
    """Make the built copy the table, in the caller's transaction: drop the live one (its
    indexes go with it), rename the copy, give it the live one's indexes (and, on PostgreSQL,
    its key's name and the privileges granted on it). No row is copied."""
    postgres = db.is_postgres(conn)
    grants = _grants(conn, live.name) if postgres else []
    live.drop(conn)
    quote = conn.dialect.identifier_preparer.quote
    conn.exec_driver_sql(f"ALTER TABLE {quote(shadow.name)} RENAME TO {quote(live.name)}")
    if postgres:
        old, new = quote(f"{shadow.name}_pkey"), quote(f"{live.name}_pkey")
        conn.exec_driver_sql(f"ALTER INDEX {old} RENAME TO {new}")
        for grantee, privilege in grants:
            conn.exec_driver_sql(f"GRANT {privilege} ON {quote(live.name)} TO {quote(grantee)}")
    for index in live.indexes:
        index.create(conn)


def _grants(conn: Connection, table: str) -> list[tuple[str, str]]:
    """The privileges other roles hold on a table (a new table has none but its owner's)."""
    rows = conn.exec_driver_sql(
        "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
        "WHERE table_schema = current_schema() AND table_name = %(table)s "
        "AND grantee <> current_user",
        {"table": table},
    ).all()
    return [(r[0], r[1]) for r in rows]


def _results(endpoints: Sequence[str], after: int, upto: int | None) -> Any:
    where = and_(PARTS.c.part == 0, PARTS.c.endpoint.in_(endpoints), PARTS.c.id > after)
    return and_(where, PARTS.c.id <= upto) if upto is not None else where


def derive_stored(
    conn: Connection,
    keeper: TableKeeper,
    endpoints: Sequence[str],
    after: int,
    upto: int | None,
    budget_seconds: float | None,
) -> tuple[int, int]:
    """Derive the stored results with ids in (after, upto], in order, until the budget is
    spent; return the last id done and how many were."""
    began = time.monotonic()

    def out_of_time() -> bool:
        return budget_seconds is not None and time.monotonic() - began > budget_seconds

    done = 0
    while True:
        page = conn.execute(
            select(
                PARTS.c.id,
                PARTS.c.endpoint,
                PARTS.c.params,
                PARTS.c.job,
                PARTS.c.fetched_at,
                PARTS.c.rows,
                DOCUMENTS.c.body,
            )
            .select_from(PARTS.join(DOCUMENTS, DOCUMENTS.c.sha256 == PARTS.c.sha256))
            .where(_results(endpoints, after, upto))
            .order_by(PARTS.c.id)
            .limit(PAGE)
        ).all()
        chunks = _chunks_of(conn, [row.id for row in page])
        for start in range(0, len(page), GROUP):
            group = page[start : start + GROUP]
            n = _derive_group(conn, keeper, group, chunks, out_of_time)
            after, done = group[n - 1].id, done + n
            if out_of_time():
                return after, done
        if len(page) < PAGE:
            return after, done


def _chunks_of(conn: Connection, result_ids: list[int]) -> dict[int, list[str]]:
    """The chunks (parts 1...) of a page of results, in order, by result: one query a page."""
    found: dict[int, list[str]] = {}
    if not result_ids:
        return found
    rows = conn.execute(
        select(PARTS.c.result_id, PARTS.c.sha256)
        .where(PARTS.c.result_id.in_(result_ids), PARTS.c.part >= 1)
        .order_by(PARTS.c.result_id, PARTS.c.part)
    )
    for result_id, sha in rows:
        found.setdefault(int(result_id), []).append(sha)
    return found


def _derive_group(
    conn: Connection,
    keeper: TableKeeper,
    group: Sequence[Any],
    chunks: dict[int, list[str]],
    out_of_time: Callable[[], bool],
) -> int:
    """Derive a few results under one savepoint (a savepoint each cost a tenth of a
    rebuild); if one fails, undo them and derive each under its own, so the bad one is
    skipped with its reason and the others kept. Returns how many were done (at least one)."""
    done = 0
    try:
        with db.savepoint(conn, "tables_group"):
            for row in group:
                _derive_one(conn, keeper, row, chunks.get(row.id, []), isolated=False)
                done += 1
                if out_of_time():
                    break
    except Exception:  # redone one by one below, where each failure is named
        done = 0
        for row in group:
            _derive_one(conn, keeper, row, chunks.get(row.id, []))
            done += 1
            if out_of_time():
                break
    return done


def _derive_one(
    conn: Connection, keeper: TableKeeper, row: Any, chunks: list[str], isolated: bool = True
) -> None:
    try:
        params = json.loads(row.params)
    except ValueError:
        params = {}
    keeper.forget_skip(conn, row.id)
    params = params if isinstance(params, dict) else {}
    keeper.result_stored(
        conn,
        ResultToDerive(row.id, row.endpoint, params, row.body, chunks, row.fetched_at, row.job),
        isolated=isolated,
    )


def fill_in_place(conn: Connection) -> int:
    """Fill the (empty) live tables from every stored result, in the caller's transaction: the
    migration that creates the tables does this. Skipped, with a log line, when the tables no
    longer have the columns this code writes (a later migration changed them: rebuild then)."""
    present = inspect(conn)
    for name, table in TABLES.items():
        have = {c["name"] for c in present.get_columns(name)}
        if not {c.name for c in table.columns} <= have:
            log.warning("tables.not_filled", reason=f"{name} differs; run harvester tables rebuild")
            return 0
    keeper = TableKeeper(conn.dialect)
    _, done = derive_stored(conn, keeper, endpoints_for(TABLE_NAMES), 0, None, None)
    return done
