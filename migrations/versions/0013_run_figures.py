"""Running figures of the runs, so the dashboard, /metrics and /healthz read a few rows, not
every run (a million runs took seconds to count at each scrape).

- `run_hours`: per hour a run started in (`started_at[:13]`), job and final status: how many,
  the sum, count and longest of their durations (real seconds; for runs recorded before those
  were, the span of their times; none for skipped runs), the fewest requests left in the rate
  window. The dashboard's 7 days of plots read these.
- `run_totals`: per job and final status: how many, the newest start and finish. /metrics'
  runs and last successes, `harvester jobs`' last success, and which jobs may be failing.

Both are kept by triggers on `runs` (a run counts once, when it gets its final status: inserted
so, or updated from `running`), so every writer keeps them true: the archive, `db copy`, a
script with sqlite3. They are filled from the runs already there.

Indexes for what the reads filter on: `runs(job, id)` (a job's newest runs, `harvester runs
--job`), `runs(started_at, status)` (runs since a time, `harvester status`). On SQLite the
two tables are WITHOUT ROWID (their key is the table: one b-tree to write, not two).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {"ix_runs_job_id": ["job", "id"], "ix_runs_started_status": ["started_at", "status"]}

# later of two texts where NULL is "none" (SQLite's max() of a NULL is NULL)
_LATER = "CASE WHEN {new} IS NULL OR ({old} IS NOT NULL AND {old} >= {new}) THEN {old} ELSE {new} END"
_FEWER = "CASE WHEN {new} IS NULL OR ({old} IS NOT NULL AND {old} <= {new}) THEN {old} ELSE {new} END"


def _upserts(row: str, seconds: str) -> tuple[str, str]:
    """The two upserts that count one finished run (`row`: NEW or a select's alias)."""
    hours = (
        "INSERT INTO run_hours (hour, job, status, runs, seconds_n, seconds_sum, seconds_max, "
        f"ratelimit_min) VALUES (substr({row}.started_at, 1, 13), {row}.job, {row}.status, 1, "
        f"CASE WHEN {seconds} IS NULL THEN 0 ELSE 1 END, {seconds}, {seconds}, "
        f"{row}.ratelimit_remaining) "
        "ON CONFLICT (hour, job, status) DO UPDATE SET runs = run_hours.runs + 1, "
        "seconds_n = run_hours.seconds_n + excluded.seconds_n, "
        "seconds_sum = coalesce(run_hours.seconds_sum, 0) + coalesce(excluded.seconds_sum, 0), "
        "seconds_max = "
        + _LATER.format(old="run_hours.seconds_max", new="excluded.seconds_max")
        + ", ratelimit_min = "
        + _FEWER.format(old="run_hours.ratelimit_min", new="excluded.ratelimit_min")
    )
    totals = (
        "INSERT INTO run_totals (job, status, runs, last_started_at, last_finished_at) "
        f"VALUES ({row}.job, {row}.status, 1, {row}.started_at, {row}.finished_at) "
        "ON CONFLICT (job, status) DO UPDATE SET runs = run_totals.runs + 1, "
        "last_started_at = "
        + _LATER.format(old="run_totals.last_started_at", new="excluded.last_started_at")
        + ", last_finished_at = "
        + _LATER.format(old="run_totals.last_finished_at", new="excluded.last_finished_at")
    )
    return hours, totals


SQLITE_SECONDS = (
    "(CASE WHEN NEW.finished_at IS NULL OR NEW.status = 'skipped' THEN NULL "
    "ELSE coalesce(NEW.duration_seconds, "
    "round((julianday(NEW.finished_at) - julianday(NEW.started_at)) * 86400.0, 3)) END)"
)

PG_FUNCTION = """
CREATE FUNCTION harvester_run_figures() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    seconds double precision := NULL;
BEGIN
    IF NEW.status = 'running' OR (TG_OP = 'UPDATE' AND OLD.status <> 'running') THEN
        RETURN NULL;
    END IF;
    IF NEW.finished_at IS NOT NULL AND NEW.status <> 'skipped' THEN
        seconds := NEW.duration_seconds;
        IF seconds IS NULL THEN
            BEGIN
                seconds := extract(epoch FROM
                    (NEW.finished_at::timestamptz - NEW.started_at::timestamptz));
            EXCEPTION WHEN others THEN
                seconds := NULL;
            END;
        END IF;
    END IF;
    {hours};
    {totals};
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "run_hours",
        sa.Column("hour", sa.String(13), primary_key=True),
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(32), primary_key=True),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("seconds_n", sa.Integer, nullable=False),
        sa.Column("seconds_sum", sa.Float),
        sa.Column("seconds_max", sa.Float),
        sa.Column("ratelimit_min", sa.Integer),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "run_totals",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(32), primary_key=True),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("last_started_at", sa.String(32)),
        sa.Column("last_finished_at", sa.String(32)),
        sqlite_with_rowid=False,
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "runs", columns)

    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        hours, totals = _upserts("NEW", "seconds")
        op.execute(PG_FUNCTION.replace("{hours}", hours).replace("{totals}", totals))
        op.execute(
            "CREATE TRIGGER runs_figures AFTER INSERT OR UPDATE OF status ON runs "
            "FOR EACH ROW EXECUTE FUNCTION harvester_run_figures()"
        )
        seconds = (
            "CASE WHEN finished_at IS NULL OR status = 'skipped' THEN NULL ELSE "
            "coalesce(duration_seconds, extract(epoch FROM "
            "(finished_at::timestamptz - started_at::timestamptz))) END"
        )
    else:
        hours, totals = _upserts("NEW", SQLITE_SECONDS)
        body = f"BEGIN {hours}; {totals}; END"
        op.execute(
            "CREATE TRIGGER runs_figures_insert AFTER INSERT ON runs "
            f"WHEN NEW.status <> 'running' {body}"
        )
        op.execute(
            "CREATE TRIGGER runs_figures_update AFTER UPDATE OF status ON runs "
            f"WHEN OLD.status = 'running' AND NEW.status <> 'running' {body}"
        )
        seconds = SQLITE_SECONDS.replace("NEW.", "")
    op.execute(
        "INSERT INTO run_hours (hour, job, status, runs, seconds_n, seconds_sum, seconds_max, "
        "ratelimit_min) SELECT hour, job, status, count(*), count(seconds), sum(seconds), "
        "max(seconds), min(ratelimit_remaining) FROM (SELECT substr(started_at, 1, 13) AS hour, "
        f"job, status, ratelimit_remaining, {seconds} AS seconds FROM runs "
        "WHERE status <> 'running') AS finished GROUP BY hour, job, status"
    )
    op.execute(
        "INSERT INTO run_totals (job, status, runs, last_started_at, last_finished_at) "
        "SELECT job, status, count(*), max(started_at), max(finished_at) FROM runs "
        "WHERE status <> 'running' GROUP BY job, status"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS runs_figures ON runs")
        op.execute("DROP FUNCTION IF EXISTS harvester_run_figures()")
    else:
        op.execute("DROP TRIGGER IF EXISTS runs_figures_insert")
        op.execute("DROP TRIGGER IF EXISTS runs_figures_update")
    for name in INDEXES:
        op.drop_index(name, "runs")

    op.drop_table("run_totals")
    op.drop_table("run_hours")
