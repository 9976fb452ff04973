"""`harvester mcp`: the archive served to AI assistants over the Model Context Protocol (a thin
command over `_mcp`, which it imports only when it runs: the SDK is large)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from .._config.settings import parse_http_address
from .._core.logs import get_logger
from .._core.redact import register_secret
from .state import State

pass_state = click.make_pass_decorator(State, ensure=True)
log = get_logger("harvester.mcp")

DEFAULT_HTTP = "127.0.0.1:8687"  # the dashboard's 8686, plus one


@click.command("mcp")
@click.option(
    "--http",
    "http",
    is_flag=False,
    flag_value=DEFAULT_HTTP,
    default=None,
    metavar="[HOST:PORT]",
    help=f"Serve streamable HTTP instead of stdio, on {DEFAULT_HTTP} unless given.",
)
@click.option(
    "--token",
    metavar="{env:NAME}",
    help="Require this bearer token over HTTP: the variable that holds it (needed off loopback).",
)
@click.option(
    "--folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Run as if started in this folder (its .env, jobs.yaml and harvester.db).",
)
@click.option(
    "--timeout",
    default=15.0,
    show_default=True,
    type=click.FloatRange(0, 3600, min_open=True),
    help="Stop a statement that runs longer than this many seconds.",
)
@click.option(
    "--max-value-bytes",
    default=16_000_000,
    show_default=True,
    type=click.IntRange(1_000, 2_000_000_000),
    help="Refuse a single value (a body, a string built by the query) larger than this.",
)
@click.option(
    "--max-rows",
    default=500,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Rows one answer may hold.",
)
@click.option(
    "--max-bytes",
    default=256_000,
    show_default=True,
    type=click.IntRange(1_000, 100_000_000),
    help="Bytes of rows (as JSON) one answer may hold.",
)
@pass_state
def mcp(
    state: State,
    http: str | None,
    token: str | None,
    folder: Path | None,
    timeout: float,
    max_value_bytes: int,
    max_rows: int,
    max_bytes: int,
) -> None:
    """Serve the archive to AI assistants (Model Context Protocol), read-only.

    Over stdio by default: what desktop clients such as Claude Desktop start. Tools list and
    describe the tables, run read-only SQL through the barriers of `harvester query`, and answer
    the common questions (a driver's races, a season's standings, iRating history, the
    harvest's health). The OAuth session's tables are never readable.
    """
    if folder is not None:
        os.chdir(folder)  # before the settings are read: .env and relative paths are its
    from .._mcp.archive import Archive, Bounds
    from .._mcp.server import build_server
    from .._mcp.transport import (
        check_address,
        quiet_libraries,
        serve_http,
        serve_stdio,
        token_from,
    )

    settings = state.settings
    quiet_libraries(settings.log_level == "DEBUG")
    address = parse_http_address("--http", http) if http else None
    secret = token_from(token, settings.env()) if token else None
    if secret and address is None:
        raise click.UsageError("--token is for --http (stdio needs no token)")
    if address is not None:
        check_address(address, secret)  # before the database is opened
    urls = (settings.database_url, settings.reading_url)
    for value in (*settings.secrets(), *map(_password, urls)):
        register_secret(value)  # never in an error or a log line, whoever words it
    archive = Archive(
        settings.reading_url,  # HARVESTER_READ_DATABASE_URL (a replica) when it is set
        Bounds(
            timeout=timeout, max_rows=max_rows, max_bytes=max_bytes, max_value_bytes=max_value_bytes
        ),
    )
    try:
        archive.check()
        server = build_server(archive, settings)
        if address is None:
            serve_stdio(server)
        else:
            serve_http(server, address, secret, lambda url: log.info("mcp.listening", url=url))
    finally:
        archive.close()


def _password(database_url: str) -> str | None:
    try:
        return make_url(database_url).password
    except Exception:  # a URL SQLAlchemy cannot read is reported when the database is opened
        return None
