"""`harvester db copy`: the command over `_archive.copy`."""

from __future__ import annotations

import click

from .._core.errors import ConfigError
from .._store.db import create_db_engine, open_database
from .state import State

pass_state = click.make_pass_decorator(State, ensure=True)


@click.command("copy")
@click.option(
    "--to",
    "target_url",
    required=True,
    help="The database to copy into, e.g. "
    "postgresql://user@host/harvester (created tables are migrated first).",
)
@click.option(
    "--from",
    "source_url",
    default=None,
    help="The database to copy from; default: HARVESTER_DATABASE_URL.",
)
@pass_state
def db_copy(state: State, target_url: str, source_url: str | None) -> None:
    """Copy the archive (documents, results, runs, cursors, tokens) to another database;
    resumable, verified by counts and hashes at the end."""
    from .._archive.copy import copy_archive

    source_url = source_url or state.settings.database_url
    if source_url == target_url:
        raise ConfigError("db copy: --to is the source database itself")
    source = create_db_engine(source_url)
    target = open_database(target_url)
    try:
        report = copy_archive(source, target, click.echo)
    finally:
        source.dispose()
        target.dispose()
    for check in report.checks:
        verdict = "ok" if check.ok else "MISMATCH"
        click.echo(
            f"verify {check.table}: {check.source_rows} = {check.target_rows} rows, "
            f"digest {'equal' if check.digests_match else 'different'}: {verdict}"
        )
    if not report.ok:
        raise ConfigError(
            f"db copy: the target differs from the source ({report.bad_documents} document(s) "
            "whose body does not match its hash); run the copy again to resume"
        )
    click.echo(
        "copy verified: every table has the same rows and every document its hash "
        "(the target needs the same HARVESTER_KEY or key file for the stored session)"
    )
