"""What incremental jobs remember between runs: cursors, row keys seen, fan-out items and how far
the parent was read, backfill positions. Every writer takes the connection of the transaction
that stores the documents it covers, so state and data move together or not at all."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, insert, or_, select, update

from .._core.jsonpath import Step, extract
from .._core.run_status import RunStatus
from .._core.text import parse_json, storable
from .._store import db
from .._store.models import (
    Backfill,
    Cursor,
    Document,
    FanoutItem,
    FanoutMark,
    ResultPart,
    Run,
    SeenKey,
)

# -- cursors ---------------------------------------------------------------------------------


def get_cursor(engine: Engine, job: str) -> str | None:
    with db.read(engine) as conn:
        return conn.execute(select(Cursor.value).where(Cursor.job == job)).scalar()


def set_cursor(conn: Connection, job: str, value: str, run_id: int, now: str) -> None:
    db.upsert(conn, Cursor, {"job": job}, {"value": value, "updated_at": now, "run_id": run_id})


def all_cursors(engine: Engine) -> dict[str, str]:
    with db.read(engine) as conn:
        return {
            str(job): str(value) for job, value in conn.execute(select(Cursor.job, Cursor.value))
        }


def add_seen_keys(conn: Connection, job: str, keys: Iterable[str]) -> tuple[int, int]:
    """Remember row keys; returns (new, already seen)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return 0, 0
    new = db.insert_new(conn, SeenKey, [{"job": job, "key": k} for k in unique])
    return new, len(unique) - new


# -- fan-out -----------------------------------------------------------------------------------


def collect_fanout_values(
    engine: Engine, job: str, parent: str, steps: tuple[Step, ...], now: str
) -> int:
    """Read the parent's result parts stored since the last look; every new value becomes a
    pending item. Returns how many values were new.

    The documents are read in a snapshot (which may take a while on a first look at a large
    archive) and the items and the mark are written in one short transaction: if it fails, the
    next look reads the same parts again and nothing is lost."""
    with db.read(engine) as conn:
        mark = (
            conn.execute(select(FanoutMark.parent_part_id).where(FanoutMark.job == job)).scalar()
            or 0
        )
        latest = mark
        values: list[str] = []
        parts = conn.execute(
            select(ResultPart.id, ResultPart.sha256)
            .where(ResultPart.job == parent, ResultPart.id > mark)
            .order_by(ResultPart.id)
        ).all()
        for part_id, sha in parts:
            latest = max(latest, part_id)
            values.extend(_values_in(conn, sha, steps))
    if latest == mark:
        return 0
    unique = list(dict.fromkeys(values))
    with db.write(engine) as conn:
        new = db.insert_new(
            conn,
            FanoutItem,
            [
                {"job": job, "value": v, "status": "pending", "attempts": 0, "updated_at": now}
                for v in unique
            ],
        )
        # never moves back (another process may have looked meanwhile)
        db.upsert(
            conn,
            FanoutMark,
            {"job": job},
            {"parent_part_id": latest},
            only_if=FanoutMark.parent_part_id < latest,
        )
    return new


def _values_in(conn: Connection, sha256: str, steps: tuple[Step, ...]) -> Iterator[str]:
    row = conn.execute(
        select(Document.body, Document.content_type).where(Document.sha256 == sha256)
    ).first()
    if row is None or row.content_type != "application/json":
        return
    try:
        document = parse_json(row.body)
    except ValueError:
        return
    for value in extract(document, list(steps)):
        if isinstance(value, str | int) and not isinstance(value, bool) and storable(str(value)):
            yield str(value)


def claim_items(engine: Engine, job: str, run_id: int, limit: int) -> list[str]:
    """Claim up to `limit` pending items for `run_id` and return them. An item claimed by a
    run still `running` is left to it, so parallel runs of one fan-out (the service and a
    `harvester run` beside it) ask for each value once; a claim of a run that has ended (or
    was marked interrupted) is taken over."""
    claimant_running = (
        select(Run.id)
        .where(Run.id == FanoutItem.claimed_by, Run.status == RunStatus.RUNNING.value)
        .exists()
    )
    with db.write(engine) as conn:
        values = [
            str(v)
            for v in conn.execute(
                select(FanoutItem.value)
                .where(
                    FanoutItem.job == job,
                    FanoutItem.status == "pending",
                    or_(FanoutItem.claimed_by.is_(None), ~claimant_running),
                )
                .order_by(FanoutItem.updated_at, FanoutItem.value)
                .limit(limit)
            ).scalars()
        ]
        for start in range(0, len(values), 500):
            conn.execute(
                update(FanoutItem)
                .where(FanoutItem.job == job, FanoutItem.value.in_(values[start : start + 500]))
                .values(claimed_by=run_id)
            )
    return values


def set_item(
    conn: Connection,
    job: str,
    value: str,
    status: str,
    run_id: int,
    now: str,
    error: str | None = None,
    attempt: bool = True,
) -> None:
    conn.execute(
        update(FanoutItem)
        .where(FanoutItem.job == job, FanoutItem.value == value)
        .values(
            status=status,
            run_id=run_id,
            updated_at=now,
            error=error,
            attempts=FanoutItem.attempts + (1 if attempt else 0),
            claimed_by=None,
        )
    )


def item_attempts(engine: Engine, job: str, value: str) -> int:
    with db.read(engine) as conn:
        return int(
            conn.execute(
                select(FanoutItem.attempts).where(FanoutItem.job == job, FanoutItem.value == value)
            ).scalar()
            or 0
        )


def item_counts(engine: Engine, job: str) -> dict[str, int]:
    with db.read(engine) as conn:
        return {
            str(status): int(count)
            for status, count in conn.execute(
                select(FanoutItem.status, func.count())
                .where(FanoutItem.job == job)
                .group_by(FanoutItem.status)
            )
        }


# -- backfills ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillState:
    id: int
    since: str
    until: str
    next_begin: str
    windows_done: int
    windows_total: int
    started_at: str


_BACKFILL_STATE = (  # the columns of a BackfillState, in its order
    Backfill.id,
    Backfill.since,
    Backfill.until,
    Backfill.next_begin,
    Backfill.windows_done,
    Backfill.windows_total,
    Backfill.started_at,
)


def unfinished_backfills(engine: Engine, job: str) -> list[BackfillState]:
    """The unfinished backfills of `job`, the latest first."""
    statement = select(*_BACKFILL_STATE).where(Backfill.job == job, Backfill.status != "done")
    with db.read(engine) as conn:
        return [BackfillState(*row) for row in conn.execute(statement.order_by(Backfill.id.desc()))]


def find_backfill(engine: Engine, job: str, since: str, until: str | None) -> BackfillState | None:
    """The unfinished backfill of `job` from `since` (to `until`, when given), to resume."""
    statement = select(*_BACKFILL_STATE).where(
        Backfill.job == job, Backfill.since == since, Backfill.status != "done"
    )
    if until is not None:
        statement = statement.where(Backfill.until == until)
    with db.read(engine) as conn:
        row = conn.execute(statement.order_by(Backfill.id.desc())).first()
    return BackfillState(*row) if row is not None else None


def create_backfill(engine: Engine, job: str, since: str, until: str, total: int, now: str) -> int:
    with db.write(engine) as conn:
        result = conn.execute(
            insert(Backfill).values(
                job=job,
                since=since,
                until=until,
                next_begin=since,
                windows_done=0,
                windows_total=total,
                status="running",
                started_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def advance_backfill(
    conn: Connection, backfill_id: int, next_begin: str, done: int, now: str, finished: bool
) -> None:
    conn.execute(
        update(Backfill)
        .where(Backfill.id == backfill_id)
        .values(
            next_begin=next_begin,
            windows_done=done,
            updated_at=now,
            status="done" if finished else "running",
        )
    )


def finish_backfill(engine: Engine, backfill_id: int, now: str) -> None:
    with db.write(engine) as conn:
        conn.execute(
            update(Backfill).where(Backfill.id == backfill_id).values(status="done", updated_at=now)
        )
