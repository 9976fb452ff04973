"""`auth_events.at` as ISO-8601 UTC text, the form of every other stored time.

It was epoch seconds (a float) while `runs.started_at`, `results.fetched_at` and the rest are
text like `2026-11-28T06:47:00Z`: a query joining grants to runs, or reading when a login was
sent, had to convert one side. Existing rows are converted to the second (the same form as
`runs.started_at`, and as harvester's `iso_seconds`); the password-login budget counts them by
the same text, so an attempt recorded before the upgrade still counts after it. The downgrade
turns the text back into epoch seconds (whole seconds: the fraction is gone).

The conversion is written here, not imported from harvester, so the migration does the same
thing whatever later versions of the code do.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_auth_events_kind_at"
FIRST, LAST = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def to_text(epoch: float) -> str:
    """Epoch seconds as `YYYY-MM-DDTHH:MM:SSZ` (the fraction dropped, as iso_seconds does);
    a value outside what a date can hold (never written by harvester) is clamped."""
    try:
        moment = datetime.fromtimestamp(epoch, tz=UTC)
    except (OverflowError, OSError, ValueError):
        moment = FIRST if epoch < 0 else LAST
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def to_epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _swap(new_type: sa.types.TypeEngine[object], convert: object) -> None:
    """Replace `at` by a column of `new_type` holding `convert(at)` of every row."""
    op.drop_index(INDEX, table_name="auth_events")
    with op.batch_alter_table("auth_events") as batch:
        batch.add_column(sa.Column("at_new", new_type, nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, at FROM auth_events")).all()
    if rows:
        bind.execute(
            sa.text("UPDATE auth_events SET at_new = :value WHERE id = :id"),
            [{"id": row.id, "value": convert(row.at)} for row in rows],  # type: ignore[operator]
        )
    with op.batch_alter_table("auth_events") as batch:
        batch.drop_column("at")
        batch.alter_column(
            "at_new", new_column_name="at", existing_type=new_type, nullable=False
        )
    op.create_index(INDEX, "auth_events", ["kind", "at"])


def upgrade() -> None:
    _swap(sa.String(32), lambda at: to_text(float(at)))


def downgrade() -> None:
    _swap(sa.Float(), lambda at: to_epoch(str(at)))
