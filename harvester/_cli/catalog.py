"""`harvester catalog`: the stored /data catalogue listed, one endpoint shown whole
(`harvester catalog ENDPOINT`), and what changed between its last two copies (`catalog diff`)."""

from __future__ import annotations

import json
from typing import Any

import click

from .._config.catalog import closest, describe, diff, entry, listing, stored_catalogues
from .._core.errors import ConfigError
from .._core.shapes import normalise_endpoint
from .._core.text import did_you_mean, printable, printable_json
from .output import FORMATS, render
from .state import State, pass_state


class CatalogGroup(click.Group):
    """A group whose first word is a subcommand (`diff`) or else an endpoint to show."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return args[0], catalog_endpoint, args[1:]  # the endpoint is the command's name
        return super().resolve_command(ctx, args)


def stored_catalogue(state: State) -> tuple[str, Any]:
    """(fetched_at, document) of the newest stored catalogue, fetched first when none is."""
    from .._config.catalog import CATALOG_JOB

    with state.runtime() as runtime:
        stored = stored_catalogues(runtime.engine, 1)
        if not stored:
            outcome = runtime.runner.run(CATALOG_JOB, trigger="cli")
            if not outcome.ok:
                raise ConfigError(f"could not fetch the catalogue: {outcome.error}")
            stored = stored_catalogues(runtime.engine, 1)
    if not stored:  # stored, yet not good: cannot be, but never an IndexError
        raise ConfigError("could not fetch the catalogue: no usable catalogue is stored")
    return stored[0]


@click.group(cls=CatalogGroup, invoke_without_command=True, subcommand_metavar="[ENDPOINT|diff]")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def catalog(ctx: click.Context, fmt: str) -> None:
    """The /data endpoints and their parameters (* required), from the stored catalogue;
    `harvester catalog ENDPOINT` shows one endpoint whole.

    Fetches the catalogue first when none is stored.
    """
    if ctx.invoked_subcommand is not None:
        return

    fetched_at, document = stored_catalogue(ctx.ensure_object(State))
    rows = listing(document)
    click.echo(render(("endpoint", "parameters", "expires"), rows, fmt), nl=False)
    if fmt == "table":
        click.echo(f"({len(rows)} endpoints, catalogue fetched {fetched_at})")


@click.command("ENDPOINT")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default=None,
    help="json: the catalogue's entry as stored.  [default: text]",
)
@click.pass_context
def catalog_endpoint(ctx: click.Context, fmt: str | None) -> None:
    """One endpoint of the stored catalogue whole: link, note, expirationSeconds, and every
    parameter with its type, whether it is required and its note."""
    path = normalise_endpoint(ctx.info_name or "")
    parent = ctx.parent.params.get("fmt") if ctx.parent else None
    fmt = fmt or ("json" if parent in ("json", "ndjson") else "text")
    fetched_at, document = stored_catalogue(ctx.ensure_object(State))
    found = entry(document, path)
    if found is None:
        hint = did_you_mean(closest(document, path), " (`harvester catalog` lists them)")
        raise ConfigError(f"{path!r} is not in the /data catalogue of {fetched_at}{hint}")
    if fmt == "json":
        click.echo(
            printable_json(json.dumps({"endpoint": path, **found}, indent=2, ensure_ascii=False))
        )
        return
    for line in describe(path, found):  # the catalogue's notes are the server's text
        click.echo(printable(line))
    click.echo(f"(catalogue fetched {fetched_at})")


@catalog.command("diff")
@pass_state
def catalog_diff(state: State) -> None:
    """What changed between the last two stored catalogues."""
    with state.existing() as engine:
        stored = stored_catalogues(engine, 2)
    if len(stored) < 2:
        click.echo(
            "fewer than two different catalogues are stored: nothing to compare yet "
            "(the catalog job stores one a day)"
        )
        return
    (new_at, new), (old_at, old) = stored
    lines = diff(old, new)
    click.echo(
        f"catalogue {old_at} -> {new_at}: {len(lines)} change(s)"
        if lines
        else f"catalogue {old_at} -> {new_at}: no change in endpoints or parameters"
    )
    for line in lines:
        click.echo(printable(line))
