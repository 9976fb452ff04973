"""`harvester tables`, `harvester tables rebuild` and `harvester datasette-metadata`: thin
commands over `_tables`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .._store.db import sqlite_path
from .output import FORMATS, render
from .progress import ProgressBar, log_progress
from .state import State

pass_state = click.make_pass_decorator(State, ensure=True)


@click.group(invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def tables(ctx: click.Context, fmt: str) -> None:
    """The analysis-ready tables: rows, what feeds each, when it last changed."""
    if ctx.invoked_subcommand is not None:
        return
    from .._tables.summary import skipped, summaries

    state = ctx.ensure_object(State)
    with state.reading() as engine:
        rows = summaries(engine)
        skips = skipped(engine)
    columns = ["table", "rows", "last_update", "fed_by"]
    click.echo(
        render(
            columns,
            [(s.name, s.rows, s.last_update, ", ".join(s.feeds)) for s in rows],
            fmt,
        ),
        nl=False,
    )
    if fmt == "table":
        click.echo(
            f"\n{len(skips)} document(s) skipped (see tables_skipped)"
            if skips
            else "\nno document skipped"
        )


@tables.command("rebuild")
@click.argument("names", nargs=-1, metavar="[TABLE]...")
@pass_state
def tables_rebuild(state: State, names: tuple[str, ...]) -> None:
    """Make the tables (all, or those named) again from the raw documents.

    Safe while the service runs: the new tables are built beside the live ones and swapped in
    by name in one transaction at the end. One rebuild at a time: a second one stops at once,
    naming the one running.
    """
    from .._tables.rebuild import rebuild, table_names

    chosen = table_names(names)  # an unknown name stops here, before anything is opened
    bar = ProgressBar("tables", "results") if sys.stderr.isatty() else None
    with state.database() as engine:
        report = rebuild(engine, chosen, bar.update if bar else log_progress("tables.progress"))
    if bar:
        bar.close()
    total = sum(report.rows.values())
    click.echo(
        f"rebuilt {len(report.tables)} table(s) from {report.results} result(s): "
        f"{total} row(s) in {report.seconds:.1f}s"
    )


@click.command("datasette-metadata")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output).",
)
@click.option(
    "--database",
    help="The database's name in Datasette (default: the archive file's name without .db).",
)
@pass_state
def datasette_metadata(state: State, output: Path | None, database: str | None) -> None:
    """Metadata for Datasette: titles, descriptions, units, secret tables hidden, canned
    queries.  Use: datasette harvester.db -m metadata.json"""
    from .._tables.datasette import metadata

    if database is None:
        path = sqlite_path(state.settings.database_url)
        database = path.stem if path is not None else "harvester"
    text = json.dumps(metadata(database), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
