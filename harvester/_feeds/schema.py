"""The feeds' tables (migration 0011 creates them):

- `feed_outbox`: one row per feed and key ever seen. `pending` rows carry the row's values
  (JSON) until every target has taken them (`sent_to`, the targets' ids), then `sent`; a row
  a template or a target refused is `failed` with its reason; `skipped` rows are history (there
  before the feed began, or stored by a backfill) and are never told. The unique (feed, key)
  is what makes a row told once.
- `feed_state`: when each feed began (and on what definition: its fingerprint).
- `feed_targets`: how each feed's targets are doing: failures in a row, the last error, the
  last message taken. A target is named by a hash of its URL and a label, never by the URL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

ID = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY on SQLite

PENDING, SENT, FAILED, SKIPPED, FOLDED = "pending", "sent", "failed", "skipped", "folded"
STATUSES = (PENDING, SENT, FAILED, SKIPPED, FOLDED)

METADATA = MetaData()

OUTBOX = Table(
    "feed_outbox",
    METADATA,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("feed", String(200), nullable=False),
    Column("key", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("row", Text),
    Column("run_id", ID),
    Column("created_at", String(32), nullable=False),
    Column("sent_to", Text),
    Column("sent_at", String(32)),
    Column("error", Text),
    UniqueConstraint("feed", "key", name="uq_feed_outbox_feed_key"),
    Index("ix_feed_outbox_pending", "feed", "status", "id"),
)

STATE = Table(
    "feed_state",
    METADATA,
    Column("feed", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("started_at", String(32), nullable=False),
)

TARGETS = Table(
    "feed_targets",
    METADATA,
    Column("feed", String(200), primary_key=True),
    Column("target", String(64), primary_key=True),
    Column("label", String(200), nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("failing_since", String(32)),
    Column("last_error", Text),
    Column("last_error_at", String(32)),
    Column("last_sent_at", String(32)),
)
