"""The `harvester` command: thin click commands over the Python API.

Errors end as one line on stderr and a non-zero exit; a traceback only with LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._api import Api
from .._config.jobs import JobsConfig, JobsError
from .._config.settings import parse_http_address
from .._core.clock import iso_seconds, parse_clock
from .._core.errors import ConfigError, HarvesterError, TokenKeyError
from .._core.posix import require_posix
from .._core.redact import redact_text
from .._core.run_status import RunStatus
from .._core.text import error_line, printable, printable_json
from .._service.runtime import open_runtime
from .._store.db import create_db_engine, sqlite_path, upgrade
from .._store.query import MAX_ANSWER_BYTES, MAX_VALUE_BYTES, QueryLimits, bounded
from .._store.query import query as run_sql
from .._version import __version__
from .output import FORMATS, render, render_stream
from .progress import ProgressBar, log_progress
from .simulate import demo, simulate
from .state import State, emit, find_job, load_job_config, pass_state

if TYPE_CHECKING:  # loaded by the commands that need them
    from sqlalchemy import Engine

    from .._observe.reports import ServiceInfo


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harvester")
def cli() -> None:
    """Harvest iRacing's /data API on a schedule into a SQLite archive.

    Settings come from the environment and a .env file (docs/configuration.md).
    """


# -- jobs and runs ---------------------------------------------------------------------------


@cli.command()
@click.argument("names", nargs=-1, required=True)
@pass_state
def run(state: State, names: tuple[str, ...]) -> None:
    """Run jobs once, now; print one line per job; exit 0 only if all succeeded."""
    config = load_job_config(state)
    for name in names:
        find_job(config, name)
    failed = 0
    with state.runtime() as runtime:
        runtime.archive.mark_interrupted()
        queue_feeds(runtime, config)
        for name in names:
            outcome = runtime.runner.run(config.jobs[name], trigger="cli")
            click.echo(printable(outcome.summary()))
            failed += not outcome.ok
    if failed:
        sys.exit(1)


@cli.group(invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def jobs(ctx: click.Context, fmt: str) -> None:
    """Each job: schedule, next run, last status, last success, the jobs it follows and those
    that follow it. When the service refused an edit of jobs.yaml, the jobs it runs, with the
    refusal on top."""
    if ctx.invoked_subcommand is not None:
        return
    from .._observe.reports import jobs_overview, service_info

    state = ctx.ensure_object(State)
    with state.reading_or_empty() as engine:
        info = service_info(engine, state.settings.database_url)
        config, refused = _jobs_in_use(state, engine, info)
        rows = jobs_overview(engine, config, info)
    for row in rows:  # why a job does not run (the catalogue contradicts it, an unset variable)
        problems = config.problems_of(row["job"]) if row["job"] in config.jobs else []
        row["disabled"] = problems[0].message if problems else None
    columns = (
        "job",
        "endpoint",
        "schedule",
        "next_run",
        "last_status",
        "last_success",
        "cursor",
        "parents",
        "children",
        "disabled",
    )
    if refused is not None:  # one line on top: on the table itself, beside a machine format
        line = f"jobs file refused, the service runs the jobs it accepted before: {refused}"
        click.echo(line, err=fmt != "table")
    click.echo(render(columns, [[row[c] for c in columns] for row in rows], fmt), nl=False)


def _jobs_in_use(state: State, engine: Engine, info: ServiceInfo) -> tuple[JobsConfig, str | None]:
    """The jobs file, and None; or, when it is refused while a service runs the jobs it
    accepted before, those jobs and the refusal (file:line: message). A refused file with no
    service running is the error it is."""
    from .._config.jobs_file import load_jobs_file, load_jobs_text

    settings = state.settings
    try:
        config = load_jobs_file(settings.jobs_path, engine, strict=False, env=settings.env())
    except ConfigError as exc:
        if not info.running or info.jobs_text is None:
            raise
        refused = info.jobs_rejected or str(exc)
        running = load_jobs_text(
            info.jobs_text, settings.jobs_path, engine, strict=False, env=settings.env()
        )
        return running, refused
    return config, None


@jobs.command("validate")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@pass_state
def jobs_validate(state: State, file: Path | None) -> None:
    """Check a jobs file without running anything (every problem, with its line)."""
    try:
        config = load_job_config(state, file, strict=True)
    except JobsError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    from .._config.catalog import CATALOG_JOB

    own = [job for job in config.jobs.values() if job is not CATALOG_JOB]  # not the built-in
    enabled = sum(job.enabled for job in own)
    checked = (
        f"checked against the catalogue of {config.catalogue_at}"
        if config.catalogue_at
        else "catalogue checks skipped: no catalogue stored yet (`harvester catalog` fetches it)"
    )
    feeds = (
        f", {len(config.feeds)} feed(s), {sum(f.enabled for f in config.feeds.values())} enabled"
        if config.feeds
        else ""
    )
    click.echo(f"{config.path}: {len(own)} job(s), {enabled} enabled{feeds}: valid; {checked}")


@cli.command()
@click.argument("job_name")
@click.option(
    "--since", required=True, help="A date (2026-09-01), a time, or back from now (90d, -90d)."
)
@click.option("--until", help="A date or time; default: now (fixed when the backfill starts).")
@pass_state
def backfill(state: State, job_name: str, since: str, until: str | None) -> None:
    """Fill a cursor job's history window by window, without moving its live cursor.

    Interrupted (Ctrl-C, a crash), the same command resumes where it stopped.
    """
    from .._service.backfill import backfill_bounds, run_backfill

    config = load_job_config(state)
    job = find_job(config, job_name)
    clock = parse_clock(state.settings.clock)
    bar = ProgressBar(job_name) if sys.stderr.isatty() else None
    report = bar.update if bar else log_progress("backfill.progress", job=job_name)
    with state.runtime(clock=clock) as runtime:
        queue_feeds(runtime, config)  # a backfill's rows are history: known, never told
        try:
            since_at, until_at = backfill_bounds(runtime, job.name, since, until)
        except ValueError as exc:
            raise ConfigError(f"--since/--until: {exc}") from None
        try:
            outcome = run_backfill(runtime, job, since_at, until_at, report)
        except KeyboardInterrupt:
            if bar:
                bar.close()
            click.echo("backfill interrupted: run the same command again to resume", err=True)
            sys.exit(130)
    if bar:
        bar.close()
    click.echo(printable(outcome.summary()))
    if not outcome.ok:
        sys.exit(1)


@cli.command()
@click.argument("endpoint")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A query parameter (repeat it); templates like {-7d} work.",
)
@click.option("--raw", is_flag=True, help="The documents exactly as received, one per line.")
@click.option("--save", is_flag=True, help="Also archive the result as a run of job `manual`.")
@pass_state
def get(state: State, endpoint: str, params: tuple[str, ...], raw: bool, save: bool) -> None:
    """Fetch an endpoint now and print its resolved JSON (chunks merged into their rows).

    The library's `Api.get` (or `Api.fetch`, for --raw) does the work: templates, the check
    against the stored catalogue, `--save`, alike from a script and from here."""
    values: dict[str, str] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"-p {item!r}: write parameters as NAME=VALUE")
        values[name.strip()] = value
    with state.runtime() as runtime:
        api = Api(runtime)
        if raw:  # exactly as received, but never a control sequence on a terminal
            terminal = sys.stdout.isatty()
            for part in api.fetch(endpoint, values, save=save).documents:
                click.echo(printable(part.text, keep="\n\t") if terminal else part.text)
            return
        data = api.get(endpoint, values, save=save)
    pretty = sys.stdout.isatty()
    text = json.dumps(
        data,
        indent=2 if pretty else None,
        separators=None if pretty else (",", ":"),
        ensure_ascii=False,
    )
    click.echo(printable_json(text))


@cli.command()
@click.option("--job", help="Only this job.")
@click.option(
    "--status",
    type=click.Choice([str(status.value) for status in RunStatus]),
    help="Only runs with this status.",
)
@click.option("--since", help="A date (2026-11-01) or a duration back from now (2h, 7d).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@pass_state
def runs(
    state: State, job: str | None, status: str | None, since: str | None, limit: int, fmt: str
) -> None:
    """The history of runs, newest first."""
    from .._observe.reports import RUN_COLUMNS, list_runs, parse_since

    since_iso = parse_since(since, parse_clock(state.settings.clock)) if since else None
    with state.reading() as engine:
        rows = list_runs(engine, job, status, since_iso, limit)
    click.echo(render(RUN_COLUMNS, rows, fmt), nl=False)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many rows.")
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0, 86400, min_open=True),
    help="Stop a query that runs longer than this many seconds.",
)
@click.option(
    "--max-value-bytes",
    default=MAX_VALUE_BYTES,
    show_default=True,
    type=click.IntRange(1_000, 2_000_000_000),
    help="Refuse a single value (a body, a string built by the query) larger than this.",
)
@click.option(
    "--max-bytes",
    default=MAX_ANSWER_BYTES,
    show_default=True,
    type=click.IntRange(1),
    help="Stop once the answer written passes this many bytes.",
)
@click.option(
    "--raw-csv",
    is_flag=True,
    help="CSV cells exactly as stored: no `'` before a cell that starts like a formula "
    "(= + - @), no control character escaped.",
)
@pass_state
def query(
    state: State,
    sql: str,
    fmt: str,
    limit: int | None,
    timeout: float,
    max_value_bytes: int,
    max_bytes: int,
    raw_csv: bool,
) -> None:
    """Run read-only SQL on the archive.

    \b
    The analysis tables (plain columns, each entity once; docs: Analysis tables):
      subsessions, session_results, laps, event_log, members, member_charts,
      series, seasons, cars, tracks (and tables_skipped: what they could not take)
    The raw archive: runs, results, latest_results, result_rows, latest_result_rows

    Rows are written as they come. SQL starting with `--` (a comment) is taken as the SQL.
    """
    limits = QueryLimits(timeout, max_value_bytes, max_bytes, limit)
    with run_sql(state.settings.reading_url, sql, limits) as answer:
        for chunk in bounded(render_stream(answer.columns, answer.rows, fmt, raw_csv), max_bytes):
            click.echo(chunk, nl=False)


SESSION_FIELDS = (
    "access_expires_at",
    "refresh_expires_at",
    "password_grants_last_hour",
    "password_blocked_until",
)


def reading_what(replica: bool, behind: float | None) -> str:
    """`harvester status`'s first line: which database it read."""
    if not replica:
        return "primary (HARVESTER_DATABASE_URL)"
    if behind is None:
        return "a read-only copy (HARVESTER_READ_DATABASE_URL)"
    return f"read replica (HARVESTER_READ_DATABASE_URL), {behind:.1f} s behind its primary"


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_state
def status(state: State, fmt: str) -> None:
    """Is the service running (pid), the session, the rate budget, the maintenance pause."""
    from .._observe.reports import run_counts_since, service_info

    settings = state.settings
    missing = state.archive_missing()
    with state.reading_or_empty() as engine, state.runtime(engine=engine) as runtime:
        info = service_info(runtime.engine, settings.reading_url, runtime.clock)
        try:
            session: dict[str, Any] = runtime.session.status().as_dict()
        except TokenKeyError:  # a host that only reads may not have the key: not an error here
            session = dict.fromkeys(SESSION_FIELDS)
            session["logged_in"] = None
        foreign = runtime.store.has_foreign_session()
        day_ago = iso_seconds(runtime.clock.now() - 86400)
        counts = run_counts_since(runtime.engine, day_ago)
    copy = settings.reads_replica and info.replica_behind is None  # a SQLite file's copy
    data = {
        "database": (
            f"none yet at {sqlite_path(settings.reading_url)} (harvester run or start creates it)"
            if missing
            else reading_what(settings.reads_replica, info.replica_behind)
        ),
        "service": (
            "unknown (a copy of the database does not show its lock)"
            if copy
            else "running"
            if info.running
            else "not running"
        ),
        "pid": info.pid if info.running else None,
        "started_at": info.started_at if info.running else None,
        "heartbeat_at": info.heartbeat_at,
        "jobs": len(info.state.get("jobs", [])) if info.running else None,
        "running_now": info.state.get("running") if info.running else None,
        "role": "active" if info.running else None,
        "active_host": info.host if info.running else None,
        "standby": list(info.standbys) or None,
        "session": (
            "stored, but its key is not here (HARVESTER_KEY or the key file)"
            if session["logged_in"] is None
            else "logged in"
            if session["logged_in"]
            else "stored for another IRACING_CLIENT_ID or IRACING_USERNAME"
            if foreign
            else "not logged in (harvester auth login)"
        ),
        "access_expires_at": session["access_expires_at"],
        "refresh_expires_at": session["refresh_expires_at"],
        "password_grants_last_hour": session["password_grants_last_hour"],
        "password_blocked_until": session["password_blocked_until"],
        "rate_limit": info.state.get("rate_limit"),
        "maintenance_until": info.state.get("maintenance_until"),
        "runs_last_24h": counts,
    }
    emit(data, fmt)


@cli.command()
@click.option(
    "--workers",
    default=4,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Jobs that may run at the same time.",
)
@click.option(
    "--grace",
    default=10.0,
    show_default=True,
    type=float,
    help="Seconds runs in flight may finish after SIGTERM before being cancelled.",
)
@click.option(
    "--http",
    metavar="HOST:PORT|off",
    help="Where to serve /healthz, /metrics and the dashboard (default: HARVESTER_HTTP).",
)
@pass_state
def start(state: State, workers: int, grace: float, http: str | None) -> None:
    """Run the scheduler service until SIGTERM or SIGINT (Ctrl-C).

    Exits 0 when asked to stop, non-zero on an error, and 75 when it lost its lock where it
    cannot wait as standby (SQLite). On PostgreSQL a service that loses its lease or its
    database goes back to standby and takes over again when it can."""
    from .._service.lifetime import Signals, run_service
    from .._service.service import ServiceOptions

    signals = Signals()
    signals.install()  # before the database is opened: a stop during start-up is orderly too
    settings = state.settings
    if http is not None:
        settings = settings.with_overrides(http=parse_http_address("--http", http))
    try:
        with open_runtime(settings) as runtime:
            options = ServiceOptions(workers=workers, drain_seconds=grace)
            code = run_service(runtime, state.settings.jobs_path, options, signals)
    finally:
        signals.restore()
    if code:  # lost its lock where no standby can wait: the unit's Restart= brings it back
        click.echo(
            "harvester: the service lost its lock on the database and stopped; start it again "
            "(the systemd unit does)",
            err=True,
        )
        sys.exit(code)


# -- db --------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """The database."""


@db.command("upgrade")
@pass_state
def db_upgrade(state: State) -> None:
    """Create the database or apply pending migrations."""
    engine = create_db_engine(state.settings.database_url)
    try:
        changed = upgrade(engine)
    finally:
        engine.dispose()
    click.echo("database upgraded" if changed else "database is up to date")


from .auth import auth, keys  # noqa: E402 (attached after the core)
from .observe import healthcheck, systemd_unit  # noqa: E402

cli.add_command(auth)
cli.add_command(keys)

cli.add_command(demo)
cli.add_command(simulate)
cli.add_command(systemd_unit)
cli.add_command(healthcheck)


# -- entry point -----------------------------------------------------------------------------


NO_ARGS_IS_HELP: type[click.UsageError] = getattr(
    click.exceptions, "NoArgsIsHelpError", type("NeverRaised", (click.UsageError,), {})
)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; turn every failure into one line and an exit code."""
    try:
        require_posix()
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="harvester",
            standalone_mode=False,
            obj=State(),
        )
    except click.exceptions.Abort:
        click.echo("harvester: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except NO_ARGS_IS_HELP as exc:  # `harvester auth` alone: its help, as click shows it
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # one line, as every other error: what, and where to look
        where = exc.ctx.command_path if exc.ctx else "harvester"
        message = printable(exc.format_message().rstrip("."))
        click.echo(f"harvester: error: {message} (see `{where} --help`)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HarvesterError as exc:
        _fail(exc, 2 if isinstance(exc, ConfigError) else 1)
    except KeyboardInterrupt:
        click.echo("harvester: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        _fail(exc, 1, unexpected=True)


def _debug_wanted() -> bool:
    """LOG_LEVEL=DEBUG, from the environment or .env (read again: the error may be that the
    settings could not be loaded at all)."""
    level = os.environ.get("LOG_LEVEL")
    if level is None and Path(".env").is_file():
        from dotenv import dotenv_values

        level = dotenv_values(".env").get("LOG_LEVEL")
    return (level or "").strip().upper() == "DEBUG"


def _fail(exc: BaseException, code: int, unexpected: bool = False) -> None:
    """One line on stderr and exit; the traceback (and a database error's SQL statement) only
    with LOG_LEVEL=DEBUG."""
    if _debug_wanted():
        click.echo(redact_text("".join(traceback.format_exception(exc))), err=True)
    message = error_line(exc, limit=2000)
    if _from_database(exc):
        message = (
            f"the database failed: {message} "
            "(HARVESTER_DATABASE_URL; LOG_LEVEL=DEBUG shows the SQL statement)"
        )
    elif unexpected:
        message = f"unexpected {type(exc).__name__}: {message} (LOG_LEVEL=DEBUG shows details)"
    click.echo(f"harvester: error: {printable(redact_text(message))}", err=True)
    sys.exit(code)


def _from_database(exc: BaseException) -> bool:
    """An error the database or its driver raised (SQLAlchemy, sqlite3, psycopg)."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, SQLAlchemyError | sqlite3.Error) or type(exc).__module__.startswith(
        "psycopg"
    )


from .catalog import catalog  # noqa: E402
from .jobs_init import jobs_init  # noqa: E402
from .tables import datasette_metadata, tables  # noqa: E402

cli.add_command(catalog)
cli.add_command(tables)
cli.add_command(datasette_metadata)
jobs.add_command(jobs_init)

from .db import db_copy  # noqa: E402

db.add_command(db_copy)

from .mcp import mcp  # noqa: E402

cli.add_command(mcp)

from .feeds import feeds, queue_feeds  # noqa: E402

cli.add_command(feeds)
