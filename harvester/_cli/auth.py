"""`harvester auth` (log in once, see the session, log out) and `harvester keys` (the keys
that encrypt the stored tokens): the commands that hold the session's secrets."""

from __future__ import annotations

import click

from .._core.clock import iso_seconds
from .._oauth.keys import generate_key
from .._oauth.store import rotate_encryption
from .state import State, emit, pass_state

# -- auth ------------------------------------------------------------------------------------


@click.group()
def auth() -> None:
    """Log in once, see the session, log out."""


@auth.command("login")
@click.option("--force", is_flag=True, help="Log in with the password even if a session exists.")
@pass_state
def auth_login(state: State, force: bool) -> None:
    """Start the shared OAuth session (a password login only when no usable session is stored)."""
    with state.runtime() as runtime:
        before = runtime.store.count_events("password_grant")
        tokens = runtime.session.login(force=force)
        used = runtime.store.count_events("password_grant") - before
    how = "logged in with the password grant" if used else "reused the stored session"
    click.echo(
        f"{how}: {state.settings.username}, access token valid until "
        f"{iso_seconds(tokens.access_expires_at)}"
        + (
            f", refresh token until {iso_seconds(tokens.refresh_expires_at)}"
            if tokens.refresh_expires_at
            else ""
        )
    )


@auth.command("status")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_state
def auth_status(state: State, fmt: str) -> None:
    """Show the stored session: user, scope, expiries, password logins used (never a secret)."""
    with state.reading_or_empty() as engine, state.runtime(engine=engine) as runtime:
        status = runtime.session.status()
    emit(status.as_dict(), fmt)


@auth.command("logout")
@pass_state
def auth_logout(state: State) -> None:
    """Revoke the session at iRacing (when reachable) and delete the stored tokens; nothing
    logs in again until `harvester auth login`."""
    with state.runtime() as runtime:
        deleted = runtime.session.logout()
    click.echo(
        ("logged out: stored tokens deleted" if deleted else "no stored session")
        + "; nothing logs in again until `harvester auth login`"
    )


# -- keys ------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Manage the encryption keys of the stored tokens."""


@keys.command("rotate")
@pass_state
def keys_rotate(state: State) -> None:
    """Re-encrypt the stored tokens with the newest key, all or nothing."""
    with state.database() as engine:
        click.echo(rotate_encryption(state.settings, engine))


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key, for HARVESTER_KEY."""
    click.echo(generate_key().decode("ascii"))
