"""Every part knows its result (the part-0 row), and the views use it.

`result_rows.result_id` was the chunk's own row id, so it could not be joined to a result, and
`latest_results` took its job/endpoint/params from `result_parts`, so filtering it by job walked
the job's whole history. Now each part carries `result_id` (indexed), the views join on it, and
`latest_results` filters through the `latest` table's key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESULT_COLUMNS = """r.run_id, r.fetched_at, r.part, r.sha256, r.body, r.content_type, r.size,
       r.rows, r.url, r.link_expires, r.envelope"""

RESULTS_VIEW = """
CREATE VIEW results AS
SELECT p.id, p.result_id, p.run_id, p.job, p.endpoint, p.params, p.fetched_at, p.part,
       p.sha256, d.body, d.content_type, d.size, p.rows, p.url, p.link_expires, p.envelope
FROM result_parts AS p JOIN documents AS d ON d.sha256 = p.sha256
"""

LATEST_VIEW = f"""
CREATE VIEW latest_results AS
SELECT r.id, r.result_id, l.job, l.endpoint, l.params, {RESULT_COLUMNS}
FROM latest AS l JOIN results AS r ON r.id = l.result_id
"""

ROWS_VIEW = """
CREATE VIEW result_rows AS
SELECT r.result_id, r.id AS part_id, r.run_id, r.job, r.endpoint, r.params, r.fetched_at,
       r.part, j.key AS row_index, j.value AS row
FROM results AS r, json_each(r.body) AS j
WHERE r.part > 0 AND r.content_type = 'application/json' AND json_valid(r.body)
"""

OLD_RESULTS_VIEW = """
CREATE VIEW results AS
SELECT p.id, p.run_id, p.job, p.endpoint, p.params, p.fetched_at, p.part, p.sha256,
       d.body, d.content_type, d.size, p.rows, p.url, p.link_expires, p.envelope
FROM result_parts AS p JOIN documents AS d ON d.sha256 = p.sha256
"""
OLD_LATEST_VIEW = """
CREATE VIEW latest_results AS
SELECT r.*
FROM latest AS l JOIN results AS r ON r.id = l.result_id
"""
OLD_ROWS_VIEW = """
CREATE VIEW result_rows AS
SELECT r.id AS result_id, r.run_id, r.job, r.endpoint, r.params, r.fetched_at, r.part,
       j.key AS row_index, j.value AS row
FROM results AS r, json_each(r.body) AS j
WHERE r.part > 0 AND r.content_type = 'application/json' AND json_valid(r.body)
"""


def _drop_views() -> None:
    op.execute("DROP VIEW IF EXISTS result_rows")
    op.execute("DROP VIEW IF EXISTS latest_results")
    op.execute("DROP VIEW IF EXISTS results")


def upgrade() -> None:
    _drop_views()
    with op.batch_alter_table("result_parts") as batch:
        batch.add_column(sa.Column("result_id", sa.Integer))
    # a part belongs to the part 0 written in the same transaction: same run, request and time
    op.execute("UPDATE result_parts SET result_id = id WHERE part = 0")
    op.execute(
        """
        UPDATE result_parts SET result_id = (
            SELECT max(z.id) FROM result_parts AS z
            WHERE z.part = 0 AND z.run_id = result_parts.run_id
              AND z.params = result_parts.params AND z.fetched_at = result_parts.fetched_at
              AND z.job = result_parts.job AND z.id < result_parts.id)
        WHERE part > 0
        """
    )
    op.create_index("ix_result_parts_result", "result_parts", ["result_id", "part"])
    op.execute(RESULTS_VIEW)
    op.execute(LATEST_VIEW)
    if op.get_bind().dialect.name == "sqlite":  # json_each: PostgreSQL's view is 0008's
        op.execute(ROWS_VIEW)


def downgrade() -> None:
    _drop_views()
    op.drop_index("ix_result_parts_result", "result_parts")
    with op.batch_alter_table("result_parts") as batch:
        batch.drop_column("result_id")
    op.execute(OLD_RESULTS_VIEW)
    op.execute(OLD_LATEST_VIEW)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(OLD_ROWS_VIEW)
