"""Process identity for runs, fan-out claims, and a logout that sticks.

- `runs.process_started_at`: when the process that opened the run started, so a reused pid is
  not taken for the process that left a run `running`.
- `fanout_items.claimed_by`: the run asking for an item now; other runs of the same fan-out
  skip it while that run is alive, so parallel runs ask for each value once.
- `auth_state.logged_out_at`: set by `harvester auth logout`; nothing logs in with the password
  again until `harvester auth login`.

Revision ID: 0006
Revises: 0007 (0007 landed first; the order of the two is immaterial)
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("process_started_at", sa.Float(), nullable=True))
    op.add_column("fanout_items", sa.Column("claimed_by", sa.Integer(), nullable=True))
    op.add_column("auth_state", sa.Column("logged_out_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_state") as batch:
        batch.drop_column("logged_out_at")
    with op.batch_alter_table("fanout_items") as batch:
        batch.drop_column("claimed_by")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("process_started_at")
