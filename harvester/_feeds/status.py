"""How the feeds are doing, read from the database (read-only): what `harvester feeds`, the
metrics, the dashboard card and the alert for a failing target show. Never a target URL: a
target is its label (scheme and place in the list)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from .schema import FAILED, FOLDED, OUTBOX, PENDING, SENT, SKIPPED, TARGETS

FAILING_AFTER = 5  # failures in a row that make a target's alert


@dataclass(frozen=True)
class TargetStatus:
    feed: str
    target: str  # its id (a hash)
    label: str
    failures: int
    failing_since: str | None
    last_error: str | None
    last_error_at: str | None
    last_sent_at: str | None

    @property
    def failing(self) -> bool:
        return self.failures >= FAILING_AFTER


@dataclass(frozen=True)
class FeedStatus:
    name: str
    pending: int = 0
    sent: int = 0  # shown in a message (or counted in a digest: `folded`)
    folded: int = 0
    failed: int = 0
    skipped: int = 0
    last_error: str | None = None
    last_error_at: str | None = None
    last_sent_at: str | None = None
    targets: tuple[TargetStatus, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "feed": self.name,
            "pending": self.pending,
            "sent": self.sent,
            "folded": self.folded,
            "failed": self.failed,
            "skipped": self.skipped,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_sent_at": self.last_sent_at,
            "targets": [
                {"target": t.label, "failures": t.failures, "last_error": t.last_error}
                for t in self.targets
            ],
        }


def target_statuses(conn: Connection) -> list[TargetStatus]:
    rows = conn.execute(select(TARGETS).order_by(TARGETS.c.feed, TARGETS.c.label)).all()
    return [
        TargetStatus(
            r.feed,
            r.target,
            r.label,
            int(r.failures or 0),
            r.failing_since,
            r.last_error,
            r.last_error_at,
            r.last_sent_at,
        )
        for r in rows
    ]


def feed_statuses(conn: Connection, names: Iterable[str] = ()) -> list[FeedStatus]:
    """Each feed's counts and last events: the feeds named (jobs.yaml's) and any other the
    outbox still holds rows of."""
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    for feed, status, count in conn.execute(
        select(OUTBOX.c.feed, OUTBOX.c.status, func.count()).group_by(
            OUTBOX.c.feed, OUTBOX.c.status
        )
    ):
        counts.setdefault(feed, {})[status] = int(count)
    newest_failed = (
        select(func.max(OUTBOX.c.id)).where(OUTBOX.c.status == FAILED).group_by(OUTBOX.c.feed)
    )
    last_row_error = {
        feed: (error, at)
        for feed, error, at in conn.execute(
            select(OUTBOX.c.feed, OUTBOX.c.error, OUTBOX.c.sent_at).where(
                OUTBOX.c.id.in_(newest_failed.scalar_subquery())
            )
        )
    }
    targets: dict[str, list[TargetStatus]] = {}
    for target in target_statuses(conn):
        targets.setdefault(target.feed, []).append(target)
    statuses = []
    for name in sorted(counts):
        mine = targets.get(name, [])
        errors = [
            (t.last_error_at or "", t.label + ": " + (t.last_error or ""))
            for t in mine
            if t.last_error
        ]
        if name in last_row_error and last_row_error[name][0]:
            error, at = last_row_error[name]
            errors.append((at or "", error))
        last_at, last_error = max(errors) if errors else (None, None)
        sent_at = max((t.last_sent_at for t in mine if t.last_sent_at), default=None)
        c = counts[name]
        statuses.append(
            FeedStatus(
                name,
                pending=c.get(PENDING, 0),
                sent=c.get(SENT, 0) + c.get(FOLDED, 0),
                folded=c.get(FOLDED, 0),
                failed=c.get(FAILED, 0),
                skipped=c.get(SKIPPED, 0),
                last_error=last_error,
                last_error_at=last_at or None,
                last_sent_at=sent_at,
                targets=tuple(mine),
            )
        )
    return statuses
