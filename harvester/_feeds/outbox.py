"""The outbox: which rows each feed must tell, written in the transaction that stores them.

When a result is stored, the tables keeper notes the keys of the rows it wrote; for each feed
that reads one of those tables, the rows of this result that pass the feed's `where` are read
back and inserted into `feed_outbox` under (feed, key), ignoring keys already there. So a row
is queued once whatever re-polls, restarts or crashes follow: it commits with the table rows
or not at all. What is not queued:

- the archive's history when a feed begins (or its rows' definition changes): `begin` marks
  the rows already there `skipped`, in one write transaction, unless `since:` asks for those
  stored since then;
- rows stored by a backfill: `skipped` too (known, never told, never told later);
- rows written by `tables rebuild`, which never passes through here.

A feed's query or filter that fails at storing time is logged and that feed's rows of that
result are left out (a savepoint): it never fails the harvest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, text, tuple_, update
from sqlalchemy.sql import ColumnElement

from .._core.clock import iso_seconds
from .._core.durations import parse_moment
from .._core.logs import get_logger
from .._core.text import error_line
from .._store import db
from .._store.models import ResultPart, Run
from .._tables.schema import SPECS, TABLE_NAMES, TABLES
from .schema import FAILED, FOLDED, OUTBOX, PENDING, SENT, SKIPPED, STATE
from .spec import FeedSpec

log = get_logger("harvester.feeds")

IN_BATCH = 300  # keys per IN (...) when reading back the rows a result wrote
PAGE = 1000  # rows per page when a feed begins over existing rows
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tables_read(feed: FeedSpec) -> frozenset[str]:
    """The analysis tables a feed's rows come from (those named in its query)."""
    if feed.table is not None:
        return frozenset({feed.table})
    words = {w.lower() for w in _WORD.findall(feed.query or "")}
    return frozenset(name for name in TABLE_NAMES if name in words)


def row_key(feed: FeedSpec, row: Mapping[str, Any]) -> str:
    return json.dumps([row.get(column) for column in feed.key], separators=(",", ":"), default=str)


def row_json(row: Mapping[str, Any]) -> str:
    return json.dumps(dict(row), separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Item:
    """A row to tell: its outbox id, the run that stored it, its values."""

    id: int
    run_id: int | None
    values: dict[str, Any]


class Outbox:
    """The feeds the storing transaction queues rows for (replaced whole on a reload)."""

    def __init__(self, feeds: Iterable[FeedSpec] = ()) -> None:
        self.feeds: tuple[FeedSpec, ...] = ()
        self._watched: dict[str, tuple[FeedSpec, ...]] = {}
        self.listeners: list[Callable[[], None]] = []  # told after a commit that queued rows
        self.set_feeds(feeds)

    def committed(self) -> None:
        """The storing transaction that wrote watched tables committed (the sender looks)."""
        for listener in self.listeners:
            listener()

    def set_feeds(self, feeds: Iterable[FeedSpec]) -> None:
        chosen = tuple(f for f in feeds if f.enabled)
        watched: dict[str, list[FeedSpec]] = {}
        for feed in chosen:
            for table in tables_read(feed):
                watched.setdefault(table, []).append(feed)
        self._watched = {t: tuple(fs) for t, fs in watched.items()}
        self.feeds = chosen

    # -- in the storing transaction ------------------------------------------------------------

    def written(self) -> dict[str, list[tuple[Any, ...]]]:
        """What the tables keeper fills with the keys of the rows it writes (watched tables)."""
        return {table: [] for table in self._watched}

    def result_stored(
        self,
        conn: Connection,
        result_id: int,
        run_id: int,
        written: Mapping[str, Sequence[tuple[Any, ...]]],
        now: str,
    ) -> int:
        """Queue the rows of this result that each feed tells; how many were new."""
        touched = [t for t, keys in written.items() if keys]
        if not touched:
            return 0
        feeds = {f.name: f for t in touched for f in self._watched.get(t, ())}
        if not feeds:
            return 0
        trigger = conn.execute(select(Run.trigger).where(Run.id == run_id)).scalar()
        status = SKIPPED if trigger == "backfill" else PENDING
        queued = 0
        for feed in feeds.values():
            try:
                with db.savepoint(conn, "feeds"):
                    rows = list(self._new_rows(conn, feed, result_id, written))
                    queued += insert_rows(conn, feed, rows, status, run_id, now)
            except Exception as exc:  # a filter the database refuses: never fails the harvest
                log.error(
                    "feed.queue_failed", feed=feed.name, result_id=result_id, error=_line(exc)
                )
        return queued if status == PENDING else 0

    def _new_rows(
        self,
        conn: Connection,
        feed: FeedSpec,
        result_id: int,
        written: Mapping[str, Sequence[tuple[Any, ...]]],
    ) -> Iterable[Mapping[str, Any]]:
        if feed.table is None:
            sql = f"SELECT * FROM ({feed.source}) AS feed_rows WHERE feed_rows.result_id = :rid"
            if feed.where:
                sql += f" AND ({feed.where})"
            for row in conn.execute(text(sql), {"rid": result_id}).mappings():
                yield dict(row)
            return
        table = TABLES[feed.table]
        key = SPECS[feed.table].key
        keys = list(dict.fromkeys(written.get(feed.table, ())))
        for start in range(0, len(keys), IN_BATCH):
            batch = keys[start : start + IN_BATCH]
            chosen: ColumnElement[bool] = (
                table.c[key[0]].in_([k[0] for k in batch])
                if len(key) == 1
                else tuple_(*(table.c[c] for c in key)).in_(batch)
            )
            condition = and_(table.c.result_id == result_id, chosen)
            if feed.where:
                condition = and_(condition, text(f"({feed.where})"))
            for row in conn.execute(select(table).where(condition)).mappings():
                yield dict(row)


def insert_rows(
    conn: Connection,
    feed: FeedSpec,
    rows: Iterable[Mapping[str, Any]],
    status: str,
    run_id: int | None,
    now: str,
) -> int:
    """Insert rows whose key the feed has not seen; how many were new."""
    values = []
    seen: set[str] = set()
    for row in rows:
        key = row_key(feed, row)
        if key in seen:
            continue
        seen.add(key)
        values.append(
            {
                "feed": feed.name,
                "key": key,
                "status": status,
                "row": row_json(row) if status == PENDING else None,
                "run_id": run_id,
                "created_at": now,
            }
        )
    if not values:
        return 0
    statement = db.insert_ignoring(conn, OUTBOX, ["feed", "key"]).returning(OUTBOX.c.id)
    new = 0
    for start in range(0, len(values), db.INSERT_BATCH):
        new += len(conn.execute(statement.values(values[start : start + db.INSERT_BATCH])).all())
    return new


# -- when a feed begins ---------------------------------------------------------------------------


def begin(engine: Engine, feeds: Iterable[FeedSpec], now: float) -> list[str]:
    """Give each new (or redefined) feed its starting point: the rows already in the tables are
    `skipped`, or, with `since:`, those stored since then are queued. Returns the feeds begun."""
    begun = []
    for feed in feeds:
        if not feed.enabled:
            continue
        with db.write(engine) as conn:
            known = conn.execute(
                select(STATE.c.fingerprint).where(STATE.c.feed == feed.name)
            ).scalar()
            if known == feed.fingerprint:
                continue
            queued, skipped = _mark_existing(conn, feed, now)
            db.upsert(
                conn,
                STATE,
                {"feed": feed.name},
                {"fingerprint": feed.fingerprint, "started_at": iso_seconds(now)},
            )
        begun.append(feed.name)
        log.info(
            "feed.began",
            feed=feed.name,
            existing_rows_skipped=skipped,
            existing_rows_queued=queued,
            since=feed.since,
        )
    return begun


def _mark_existing(conn: Connection, feed: FeedSpec, now: float) -> tuple[int, int]:
    since = iso_seconds(parse_moment(feed.since, now)) if feed.since else None
    sql = f"SELECT feed_rows.*, rp.fetched_at AS feed_fetched_at FROM ({feed.source}) AS feed_rows"
    sql += f" LEFT JOIN {ResultPart.__tablename__} AS rp ON rp.id = feed_rows.result_id"
    if feed.where:
        sql += f" WHERE ({feed.where})"
    stamp = iso_seconds(now)
    queued = skipped = 0
    # streamed (a server-side cursor on PostgreSQL): a large table's keys in pages
    result = conn.execute(text(sql).execution_options(stream_results=True, max_row_buffer=PAGE))
    try:
        while page := result.mappings().fetchmany(PAGE):
            fresh: list[dict[str, Any]] = []
            old: list[dict[str, Any]] = []
            for row in page:
                values = {k: v for k, v in row.items() if k != "feed_fetched_at"}
                stored = row["feed_fetched_at"]
                (fresh if since is not None and stored and stored >= since else old).append(values)
            queued += insert_rows(conn, feed, fresh, PENDING, None, stamp)
            skipped += insert_rows(conn, feed, old, SKIPPED, None, stamp)
    finally:
        result.close()
    return queued, skipped


# -- the sender's reads and marks ---------------------------------------------------------------


ANY_RUN: Any = object()


def _waiting(feed: str, target: str, run: Any) -> ColumnElement[bool]:
    condition = and_(
        OUTBOX.c.feed == feed,
        OUTBOX.c.status == PENDING,
        (OUTBOX.c.sent_to.is_(None)) | (~OUTBOX.c.sent_to.contains(target)),
    )
    if run is not ANY_RUN:
        condition = and_(
            condition, OUTBOX.c.run_id.is_(None) if run is None else OUTBOX.c.run_id == run
        )
    return condition


def pending(conn: Connection, feed: str, target: str, limit: int, run: Any = ANY_RUN) -> list[Item]:
    """The oldest rows of a feed that `target` has not taken yet (of one run, if given)."""
    rows = conn.execute(
        select(OUTBOX.c.id, OUTBOX.c.run_id, OUTBOX.c.row)
        .where(_waiting(feed, target, run))
        .order_by(OUTBOX.c.id)
        .limit(limit)
    ).all()
    return [Item(row.id, row.run_id, _values(row.row)) for row in rows]


def pending_ids(
    conn: Connection, feed: str, target: str, limit: int, run: Any = ANY_RUN
) -> list[int]:
    """Only the ids (a digest counts the rows it does not show)."""
    return list(
        conn.execute(
            select(OUTBOX.c.id)
            .where(_waiting(feed, target, run))
            .order_by(OUTBOX.c.id)
            .limit(limit)
        ).scalars()
    )


def count_pending(conn: Connection, feed: str, target: str) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(OUTBOX).where(_waiting(feed, target, ANY_RUN))
        ).scalar()
        or 0
    )


def created_at(conn: Connection, item_id: int) -> str | None:
    value = conn.execute(select(OUTBOX.c.created_at).where(OUTBOX.c.id == item_id)).scalar()
    return None if value is None else str(value)


def mark_taken(
    conn: Connection,
    ids: Sequence[int],
    target: str,
    targets: Sequence[str],
    now: str,
    folded: Sequence[int] = (),
) -> None:
    """`target` took these rows (shown, or counted in a digest's "… and N more": `folded`);
    a row every target has taken is done, and its values are dropped."""
    for chunk, final in ((ids, SENT), (folded, FOLDED)):
        for start in range(0, len(chunk), IN_BATCH):
            batch = list(chunk[start : start + IN_BATCH])
            rows = conn.execute(
                select(OUTBOX.c.id, OUTBOX.c.sent_to).where(
                    OUTBOX.c.id.in_(batch), OUTBOX.c.status == PENDING
                )
            ).all()
            for row in rows:
                taken = [t for t in (row.sent_to or "").split(",") if t]
                if target not in taken:
                    taken.append(target)
                done = set(targets) <= set(taken)
                values: dict[str, Any] = {"sent_to": ",".join(taken)}
                if done:
                    values.update(status=final, row=None, sent_at=now)
                conn.execute(update(OUTBOX).where(OUTBOX.c.id == row.id).values(values))


def mark_failed(conn: Connection, ids: Sequence[int], reason: str, now: str) -> None:
    """These rows will not be told: a template could not render them, or a target refused."""
    for start in range(0, len(ids), IN_BATCH):
        batch = list(ids[start : start + IN_BATCH])
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(batch), OUTBOX.c.status == PENDING)
            .values(status=FAILED, error=reason[:500], sent_at=now)
        )


def _values(text_value: str | None) -> dict[str, Any]:
    try:
        values = json.loads(text_value or "{}")
    except ValueError:
        return {}
    return values if isinstance(values, dict) else {}


def _line(exc: BaseException) -> str:
    return error_line(exc, limit=300)


def latest_row(conn: Connection, feed: FeedSpec) -> dict[str, Any] | None:
    """The newest row the feed would tell (by the result it came from): `feeds test`."""
    sql = f"SELECT * FROM ({feed.source}) AS feed_rows"
    if feed.where:
        sql += f" WHERE ({feed.where})"
    row = conn.execute(text(sql + " ORDER BY feed_rows.result_id DESC LIMIT 1")).mappings().first()
    return dict(row) if row is not None else None
