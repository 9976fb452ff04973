"""`harvester feeds`: each feed's pending, sent and failed rows, last error and last message;
`harvester feeds test NAME` renders the newest matching row and sends it to every target (or,
with --dry-run, prints it). A test message is not a row of the outbox: it changes nothing."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .._core.errors import ConfigError
from .._core.text import did_you_mean, nearest, printable
from .output import FORMATS, render
from .state import State, load_job_config, pass_state

if TYPE_CHECKING:
    from .._config.jobs import JobsConfig
    from .._feeds.spec import FeedSpec
    from .._service.runtime import Runtime


@click.group(invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def feeds(ctx: click.Context, fmt: str) -> None:
    """Each feed: rows pending, sent, failed; the last error and the last message sent."""
    if ctx.invoked_subcommand is not None:
        return
    from .._feeds.status import feed_statuses
    from .._store import db

    state = ctx.ensure_object(State)
    config = load_job_config(state)
    with state.existing() as engine, db.read(engine) as conn:
        statuses = feed_statuses(conn, config.feeds)
    columns = ("feed", "pending", "sent", "failed", "skipped", "last_sent_at", "last_error")
    rows = []
    for status in statuses:
        row = status.as_dict()
        spec = config.feeds.get(status.name)
        if spec is None:
            row["last_error"] = "not in jobs.yaml any more"
        elif not spec.enabled:
            problems = [p for p in config.rejected if p.field.startswith(f"feeds.{spec.name}.")]
            row["last_error"] = f"disabled: {problems[0].message}" if problems else "disabled"
        rows.append([row[c] for c in columns])
    click.echo(render(columns, rows, fmt), nl=False)


@feeds.command("test")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Print the message; send nothing.")
@pass_state
def feeds_test(state: State, name: str, dry_run: bool) -> None:
    """Render the newest row NAME would tell and send it to each of its targets."""
    from .._feeds.delivery import Sender
    from .._feeds.outbox import latest_row
    from .._feeds.render import Renderer, RenderError
    from .._store import db

    config = load_job_config(state)
    feed = find_feed(config, name)
    with state.existing() as engine, db.read(engine) as conn:
        row = latest_row(conn, feed)
    if row is None:
        raise ConfigError(f"feed {name!r}: no row matches it yet (nothing stored, or `where`)")
    try:
        message = Renderer(feed.template).row(row)
    except RenderError as exc:
        raise ConfigError(
            f"feed {name!r}: the template cannot render the newest row: {exc}"
        ) from None
    click.echo(printable(message, keep="\n"))  # the row's values are a server's text
    if dry_run:
        return
    failed = 0
    for target in feed.targets:
        outcome = Sender(target.url).send(message)
        verdict = "sent" if outcome.taken else f"not sent: {outcome.reason}"
        click.echo(printable(f"{target.label}: {verdict}"), err=not outcome.taken)
        failed += not outcome.taken
    if failed:
        sys.exit(1)


def find_feed(config: JobsConfig, name: str) -> FeedSpec:
    feed = config.feeds.get(name)
    if feed is None:
        hint = did_you_mean(nearest(name, config.feeds))
        raise ConfigError(f"no feed named {name!r} in {config.path}{hint}")
    if not feed.enabled:
        problems = [p for p in config.rejected if p.field.startswith(f"feeds.{name}.")]
        raise ConfigError(str(problems[0]) if problems else f"feed {name!r} is disabled")
    return feed


def queue_feeds(runtime: Runtime, config: JobsConfig) -> None:
    """A run outside the service queues the rows its feeds tell (the service sends them): so
    every harvest, and every backfill (as history), goes through the same outbox."""
    from .._feeds.control import Feeds

    feeds = Feeds(runtime.engine, runtime.clock)
    if feeds.apply(config.feeds.values()):
        runtime.archive.feeds = feeds.outbox
