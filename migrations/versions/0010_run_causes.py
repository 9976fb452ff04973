"""What started a run, how long it took in real seconds, and the jobs the service runs.

- `runs.parent_run_id`: the run of a job it follows (`for_each`, `after:`) whose committed
  values started this one (`runs.trigger` says `parent`), or that it waited for at start-up or
  after a reload; NULL otherwise. Indexed: the dashboard gathers a chain's runs by it.
- `runs.duration_seconds`: the run's duration on the machine's monotonic clock. `started_at`
  and `finished_at` are on harvester's clock, which a simulator's `--time-scale` speeds up;
  their difference is no measure of how long a run took. NULL for runs recorded before.
- `service.jobs_text`: the jobs file the active service accepted last (at start or a reload).
  When an edit is refused, the service keeps those jobs, and `harvester jobs` lists them from
  here with the refusal on top.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_runs_parent_run_id"


def upgrade() -> None:
    op.add_column("runs", sa.Column("parent_run_id", sa.Integer(), nullable=True))
    op.add_column("runs", sa.Column("duration_seconds", sa.Float(), nullable=True))
    op.create_index(INDEX, "runs", ["parent_run_id"])
    op.add_column("service", sa.Column("jobs_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service") as batch:
        batch.drop_column("jobs_text")
    op.drop_index(INDEX, table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("duration_seconds")
        batch.drop_column("parent_run_id")
