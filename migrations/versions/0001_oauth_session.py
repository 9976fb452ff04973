"""The OAuth session: encrypted tokens, password-grant back-off, grant history.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "auth_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("password_blocked_until", sa.Float),
        sa.Column("block_reason", sa.Text),
    )
    op.create_table(
        "auth_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.Column("pid", sa.Integer),
    )
    op.create_index("ix_auth_events_kind_at", "auth_events", ["kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_auth_events_kind_at", "auth_events")
    op.drop_table("auth_events")
    op.drop_table("auth_state")
    op.drop_table("oauth_tokens")
