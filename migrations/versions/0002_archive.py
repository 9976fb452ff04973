"""The archive: runs, content-addressed documents, result parts, and the user views.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESULTS_VIEW = """
CREATE VIEW results AS
SELECT p.id, p.run_id, p.job, p.endpoint, p.params, p.fetched_at, p.part, p.sha256,
       d.body, d.content_type, d.size, p.rows, p.url, p.link_expires, p.envelope
FROM result_parts AS p JOIN documents AS d ON d.sha256 = p.sha256
"""

LATEST_VIEW = """
CREATE VIEW latest_results AS
SELECT r.*
FROM latest AS l JOIN results AS r ON r.id = l.result_id
"""

ROWS_VIEW = """
CREATE VIEW result_rows AS
SELECT r.id AS result_id, r.run_id, r.job, r.endpoint, r.params, r.fetched_at, r.part,
       j.key AS row_index, j.value AS row
FROM results AS r, json_each(r.body) AS j
WHERE r.part > 0 AND r.content_type = 'application/json' AND json_valid(r.body)
"""


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32)),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bytes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("documents_new", sa.Integer, nullable=False, server_default="0"),
        sa.Column("documents_dup", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("ratelimit_remaining", sa.Integer),
        sa.Column("pid", sa.Integer),
    )
    op.create_index("ix_runs_job_started", "runs", ["job", "started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "documents",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("first_seen_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "result_parts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("fetched_at", sa.String(32), nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("documents.sha256"), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("link_expires", sa.String(40)),
        sa.Column("rows", sa.Integer),
        sa.Column("envelope", sa.Text),
    )
    op.create_index("ix_result_parts_run", "result_parts", ["run_id"])
    op.create_index("ix_result_parts_job_fetched", "result_parts", ["job", "fetched_at"])
    op.create_index("ix_result_parts_sha256", "result_parts", ["sha256"])
    op.create_table(
        "latest",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("endpoint", sa.String(200), primary_key=True),
        sa.Column("params", sa.Text, primary_key=True),
        sa.Column("result_id", sa.Integer, sa.ForeignKey("result_parts.id"), nullable=False),
    )
    op.execute(RESULTS_VIEW)
    op.execute(LATEST_VIEW)
    if op.get_bind().dialect.name == "sqlite":  # json_each: PostgreSQL's view is 0008's
        op.execute(ROWS_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS result_rows")
    op.execute("DROP VIEW latest_results")
    op.execute("DROP VIEW results")
    op.drop_table("latest")
    op.drop_index("ix_result_parts_sha256", "result_parts")
    op.drop_index("ix_result_parts_job_fetched", "result_parts")
    op.drop_index("ix_result_parts_run", "result_parts")
    op.drop_table("result_parts")
    op.drop_table("documents")
    op.drop_index("ix_runs_status", "runs")
    op.drop_index("ix_runs_job_started", "runs")
    op.drop_table("runs")
