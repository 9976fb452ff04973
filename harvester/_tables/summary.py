"""What `harvester tables` shows: each table's rows, what feeds it, when it last changed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, Table, func, select

from .._store import db
from .._store.models import ResultPart
from .derive import FEEDS
from .schema import SKIPPED, SPECS, TABLES

PARTS: Table = ResultPart.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int
    feeds: tuple[str, ...]
    last_update: str | None  # when the newest document behind its rows was fetched
    description: str


def summaries(engine: Engine) -> list[TableSummary]:
    out = []
    with db.read(engine) as conn:
        for name, table in TABLES.items():
            rows = int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
            newest = conn.execute(select(func.max(table.c.result_id))).scalar()
            last = None
            if newest is not None:
                last = conn.execute(select(PARTS.c.fetched_at).where(PARTS.c.id == newest)).scalar()
            out.append(TableSummary(name, rows, FEEDS[name], last, SPECS[name].doc))
    return out


def skipped(engine: Engine) -> list[tuple[int, str, str, str]]:
    """The documents (or rows of them) the tables could not take: result_id, endpoint,
    reason, when."""
    with db.read(engine) as conn:
        rows = conn.execute(
            select(
                SKIPPED.c.result_id, SKIPPED.c.endpoint, SKIPPED.c.reason, SKIPPED.c.at
            ).order_by(SKIPPED.c.result_id)
        ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]
