"""Incremental harvesting: cursors, rows seen, fan-out items, backfills; row counts on runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("rows_new", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("rows_dup", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "cursors",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
    )
    op.create_table(
        "seen_keys",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "fanout_items",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_fanout_items_status", "fanout_items", ["job", "status"])
    op.create_table(
        "fanout_marks",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("parent_part_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "backfills",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("since", sa.String(32), nullable=False),
        sa.Column("until", sa.String(32), nullable=False),
        sa.Column("next_begin", sa.String(32), nullable=False),
        sa.Column("windows_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("windows_total", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_backfills_job", "backfills", ["job", "status"])


def downgrade() -> None:
    op.drop_index("ix_backfills_job", "backfills")
    op.drop_table("backfills")
    op.drop_table("fanout_marks")
    op.drop_index("ix_fanout_items_status", "fanout_items")
    op.drop_table("fanout_items")
    op.drop_table("seen_keys")
    op.drop_table("cursors")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("rows_dup")
        batch.drop_column("rows_new")
