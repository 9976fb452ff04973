"""The active service's lease (PostgreSQL): one row, renewed by the service that holds it.

Leadership followed a TCP session (a session-level advisory lock): a frozen process, or a
pooler or proxy that kept its session open, kept the lock for ever. The lease is a row with an
expiry on the database server's clock; the active service renews it every few seconds and a
standby takes it once it lapses (or once the holder's lease connection is gone), ending the old
holder's sessions. `term` counts the holders: every write of the active service checks it is
still its own. Times are epoch seconds of the server's clock (`clock_timestamp()`), so no
host's clock takes part. SQLite gets the table too (one schema) but never uses it: one service
per file, by a file lock.

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    lease = op.create_table(
        "service_lease",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("term", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("holder", sa.String(64)),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("backend_pid", sa.Integer),
        sa.Column("backend_start", sa.Float),
        sa.Column("acquired_at", sa.Float),
        sa.Column("renewed_at", sa.Float),
        sa.Column("expires_at", sa.Float),
    )
    op.bulk_insert(lease, [{"id": 1, "term": 0}])


def downgrade() -> None:
    op.drop_table("service_lease")
