"""The feeds' outbox and bookkeeping: `feed_outbox` (one row per feed and key ever seen:
pending with the row's values, then sent, folded, failed or skipped), `feed_state` (when and
on what definition each feed began) and `feed_targets` (how each target is doing).

The tables are written here, not imported from harvester, so the migration does the same
thing whatever later versions of the code do. The downgrade drops them: what was queued and
not yet told is gone with them.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY on SQLite


def upgrade() -> None:
    op.create_table(
        "feed_outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("feed", sa.String(200), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("row", sa.Text()),
        sa.Column("run_id", ID),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("sent_to", sa.Text()),
        sa.Column("sent_at", sa.String(32)),
        sa.Column("error", sa.Text()),
        sa.UniqueConstraint("feed", "key", name="uq_feed_outbox_feed_key"),
    )
    op.create_index("ix_feed_outbox_pending", "feed_outbox", ["feed", "status", "id"])
    op.create_table(
        "feed_state",
        sa.Column("feed", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "feed_targets",
        sa.Column("feed", sa.String(200), primary_key=True),
        sa.Column("target", sa.String(64), primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failing_since", sa.String(32)),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_error_at", sa.String(32)),
        sa.Column("last_sent_at", sa.String(32)),
    )


def downgrade() -> None:
    op.drop_table("feed_targets")
    op.drop_table("feed_state")
    op.drop_index("ix_feed_outbox_pending", table_name="feed_outbox")
    op.drop_table("feed_outbox")
