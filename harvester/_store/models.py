"""The tables. Times users see are ISO-8601 UTC text (they sort and work with SQLite's date
functions); internal bookkeeping of the OAuth session uses epoch seconds."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class OAuthToken(Base):
    """The one OAuth session of this database, encrypted as a whole (one row, id 1)."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # sha256 of client id + username: tells whose session this is without storing who
    identity: Mapped[str] = mapped_column(String(64), nullable=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    updated_at: Mapped[float] = mapped_column(Float, nullable=False)


class AuthState(Base):
    """Cross-process state of the password grant: a back-off set by `unauthorized_client`."""

    __tablename__ = "auth_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    password_blocked_until: Mapped[float | None] = mapped_column(Float)
    block_reason: Mapped[str | None] = mapped_column(Text)
    logged_out_at: Mapped[float | None] = mapped_column(Float)  # until `auth login` (0006)


class AuthEvent(Base):
    """Every grant attempted, so the password-grant budget is counted across processes."""

    __tablename__ = "auth_events"
    __table_args__ = (Index("ix_auth_events_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(32), nullable=False)  # ISO-8601 UTC text (0009)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    outcome: Mapped[str] = mapped_column(String(64), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(128))
    pid: Mapped[int | None] = mapped_column(Integer)


class Run(Base):
    """One execution of one job: what was asked, how it went, what it cost."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_job_started", "job", "started_at"),
        Index("ix_runs_status", "status"),
        Index("ix_runs_parent_run_id", "parent_run_id"),
        Index("ix_runs_job_id", "job", "id"),  # a job's newest runs (0013)
        Index("ix_runs_started_status", "started_at", "status"),  # runs since a time (0013)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(200), nullable=False)
    trigger: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    started_at: Mapped[str] = mapped_column(String(32), nullable=False)
    finished_at: Mapped[str | None] = mapped_column(String(32))
    requests: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bytes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    documents_new: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    documents_dup: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    ratelimit_remaining: Mapped[int | None] = mapped_column(Integer)
    pid: Mapped[int | None] = mapped_column(Integer)
    process_started_at: Mapped[float | None] = mapped_column(Float)  # with pid: who (0006)
    rows_new: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_dup: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    host: Mapped[str | None] = mapped_column(String(255))  # which host ran it (with pid)
    # the run of a job it follows that started it, or that it waited for (0010)
    parent_run_id: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None] = mapped_column(Float)  # monotonic, real (0010)


class RunHour(Base):
    """Runs that finished, per hour started (`started_at[:13]`), job and status: kept by
    triggers on `runs` (0013), so the dashboard's plots read these rows, not every run."""

    __tablename__ = "run_hours"
    __table_args__ = ({"sqlite_with_rowid": False},)

    hour: Mapped[str] = mapped_column(String(13), primary_key=True)
    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, nullable=False)
    seconds_n: Mapped[int] = mapped_column(Integer, nullable=False)  # runs with a duration
    seconds_sum: Mapped[float | None] = mapped_column(Float)
    seconds_max: Mapped[float | None] = mapped_column(Float)
    ratelimit_min: Mapped[int | None] = mapped_column(Integer)


class RunTotal(Base):
    """Runs that finished, per job and status, with the newest start and finish: kept by
    triggers on `runs` (0013), for /metrics and the jobs' last success."""

    __tablename__ = "run_totals"
    __table_args__ = ({"sqlite_with_rowid": False},)

    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, nullable=False)
    last_started_at: Mapped[str | None] = mapped_column(String(32))
    last_finished_at: Mapped[str | None] = mapped_column(String(32))


class Document(Base):
    """A body exactly as received (pre-signed query strings cut), stored once per content."""

    __tablename__ = "documents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    content_type: Mapped[str] = mapped_column(String(64), nullable=False)
    first_seen_at: Mapped[str] = mapped_column(String(32), nullable=False)


class ResultPart(Base):
    """One fetched document of one request: part 0 the resolved response, part k chunk k."""

    __tablename__ = "result_parts"
    __table_args__ = (
        Index("ix_result_parts_run", "run_id"),
        Index("ix_result_parts_job_fetched", "job", "fetched_at"),
        Index("ix_result_parts_sha256", "sha256"),
        Index("ix_result_parts_result", "result_id", "part"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_id: Mapped[int | None] = mapped_column(Integer)  # the part-0 row of this result
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), nullable=False)
    job: Mapped[str] = mapped_column(String(200), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(200), nullable=False)
    params: Mapped[str] = mapped_column(Text, nullable=False)
    fetched_at: Mapped[str] = mapped_column(String(32), nullable=False)
    part: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(ForeignKey("documents.sha256"), nullable=False)
    url: Mapped[str | None] = mapped_column(Text)
    link_expires: Mapped[str | None] = mapped_column(String(40))
    rows: Mapped[int | None] = mapped_column(Integer)
    envelope: Mapped[str | None] = mapped_column(Text)


class LatestResult(Base):
    """The newest part-0 result of each job and request, kept current on insert so the
    `latest_results` view answers instantly however long the history grows."""

    __tablename__ = "latest"

    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200), primary_key=True)
    params: Mapped[str] = mapped_column(Text, primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("result_parts.id"), nullable=False)


class ServiceState(Base):
    """The one `harvester start` of this database: who it is and what it last reported."""

    __tablename__ = "service"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    started_at: Mapped[str] = mapped_column(String(32), nullable=False)
    heartbeat_at: Mapped[str] = mapped_column(String(32), nullable=False)
    stopped_at: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    jobs_text: Mapped[str | None] = mapped_column(Text)  # the jobs file it runs (0010)


class ServiceLease(Base):
    """The active service's lease on PostgreSQL (one row, id 1; see `_store.lease`): who holds
    it, for which term, until when (epoch seconds of the database server's clock)."""

    __tablename__ = "service_lease"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    holder: Mapped[str | None] = mapped_column(String(64))  # its engine's tag (`_store.pg.new_tag`)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    backend_pid: Mapped[int | None] = mapped_column(Integer)  # its lease connection's
    backend_start: Mapped[float | None] = mapped_column(Float)
    acquired_at: Mapped[float | None] = mapped_column(Float)
    renewed_at: Mapped[float | None] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float)


class Cursor(Base):
    """A cursor job's position: the largest cursor value stored so far."""

    __tablename__ = "cursors"

    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))


class SeenKey(Base):
    """Row keys a cursor job has stored, so a row seen again counts as a duplicate."""

    __tablename__ = "seen_keys"
    __table_args__ = ({"sqlite_with_rowid": False},)

    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)


class FanoutItem(Base):
    """One value of a fan-out job and how asking for it went (pending, success, forbidden,
    not_found, failed): a 403 or 404 is remembered and not asked again."""

    __tablename__ = "fanout_items"
    __table_args__ = (Index("ix_fanout_items_status", "job", "status"),)

    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[int | None] = mapped_column(Integer)  # the run asking now (0006)


class FanoutMark(Base):
    """How far a fan-out job has read its parent's result parts."""

    __tablename__ = "fanout_marks"

    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    parent_part_id: Mapped[int] = mapped_column(Integer, nullable=False)


class Backfill(Base):
    """A backfill's plan and position, so an interrupted one resumes where it stopped."""

    __tablename__ = "backfills"
    __table_args__ = (Index("ix_backfills_job", "job", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(200), nullable=False)
    since: Mapped[str] = mapped_column(String(32), nullable=False)
    until: Mapped[str] = mapped_column(String(32), nullable=False)
    next_begin: Mapped[str] = mapped_column(String(32), nullable=False)
    windows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    windows_total: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    started_at: Mapped[str] = mapped_column(String(32), nullable=False)
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)
