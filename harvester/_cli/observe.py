"""`harvester systemd-unit` (the unit the project ships) and `harvester healthcheck` (what the
unit, a container or a script runs to ask /healthz)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import click
import httpx

from .._config.settings import load_settings

UNIT = """\
[Unit]
Description=harvester: iRacing /data archive
After=network-online.target
Wants=network-online.target
# never give up restarting: a database that is down for an hour must not leave it stopped
StartLimitIntervalSec=0

[Service]
Type=exec
User={user}
Group={user}
# the database, its key file, .env and jobs.yaml live here; `harvester auth login` must run
# here too, with the same environment file (the docs' page docs/deploy.md)
WorkingDirectory={workdir}
# IRACING_* and HARVESTER_* settings; chmod 600, owned by root
EnvironmentFile={env_file}
ExecStartPre={bin} db upgrade
ExecStart={bin} start
{health}ExecReload=/bin/kill -HUP $MAINPID
# back after any end but `systemctl stop`: an error (1, 2), a lost lock it cannot wait out
# (75, SQLite), a crash; on PostgreSQL a lost lease or database sends it back to standby
# without exiting
Restart=always
RestartSec=10
TimeoutStartSec=120
TimeoutStopSec=60
KillSignal=SIGTERM
# hardening: nothing but the working directory is writable
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={workdir}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
UMask=0077

[Install]
WantedBy=multi-user.target
"""

HEALTH = """\
# the health check: the start counts as done once /healthz answers 200
ExecStartPost={bin} healthcheck --wait 90
"""


def default_bin() -> str:
    """The harvester executable of this installation (its venv's bin/harvester)."""
    beside = Path(sys.executable).parent / "harvester"
    if beside.is_file():
        return str(beside)
    return shutil.which("harvester") or "/opt/harvester/.venv/bin/harvester"


def render_unit(user: str, workdir: str, env_file: str, bin_path: str, health: bool) -> str:
    for name, value in (
        ("--user", user),
        ("--working-directory", workdir),
        ("--env-file", env_file),
    ):
        if not value or any(c in value for c in "\n\r#;\"'") or " " in value:
            raise click.BadParameter(f"{value!r} cannot go in a unit file", param_hint=name)
    return UNIT.format(
        user=user,
        workdir=workdir,
        env_file=env_file,
        bin=bin_path,
        health=HEALTH.format(bin=bin_path) if health else "",
    )


# what the unit's own hardening hides from the service: PrivateTmp=yes gives it empty /tmp and
# /var/tmp, ProtectHome=yes empty /home, /root and /run/user
HIDDEN = {
    "/tmp": "PrivateTmp=yes",  # noqa: S108 (a path the unit hides, never written here)
    "/var/tmp": "PrivateTmp=yes",  # noqa: S108
    "/home": "ProtectHome=yes",
    "/root": "ProtectHome=yes",
    "/run/user": "ProtectHome=yes",
}


def hidden_by_the_unit(bin_path: str) -> str | None:
    """Why the unit's service could not run `bin_path` (an executable in a temporary or home
    folder, which its own PrivateTmp/ProtectHome hides), as one warning line; or None."""
    path = Path(bin_path)
    for folder, setting in HIDDEN.items():
        if path.is_relative_to(folder):
            return (
                f"warning: ExecStart {bin_path} is under {folder}, which the unit's {setting} "
                "hides from the service: install harvester elsewhere (e.g. /opt/harvester/.venv) "
                "and pass --bin"
            )
    return None


@click.command("systemd-unit")
@click.option("--user", default="harvester", show_default=True, help="The service's user.")
@click.option(
    "--working-directory",
    "workdir",
    default="/var/lib/harvester",
    show_default=True,
    help="Where the database and key live (the only writable path).",
)
@click.option(
    "--env-file",
    default="/etc/harvester/harvester.env",
    show_default=True,
    help="The environment file with the IRACING_* and HARVESTER_* settings.",
)
@click.option(
    "--bin", "bin_path", default=None, help="The harvester executable (default: this one)."
)
@click.option(
    "--no-health-check", is_flag=True, help="Leave out the /healthz check (HARVESTER_HTTP=off)."
)
def systemd_unit(
    user: str, workdir: str, env_file: str, bin_path: str | None, no_health_check: bool
) -> None:
    """Print the systemd unit for `harvester start`.

    Save it as /etc/systemd/system/harvester.service."""
    executable = bin_path or default_bin()
    warning = hidden_by_the_unit(executable)
    if warning:
        click.echo(warning, err=True)
    click.echo(render_unit(user, workdir, env_file, executable, not no_health_check), nl=False)


def health_url() -> str:
    address = load_settings().http
    if address is None:
        raise click.UsageError("HARVESTER_HTTP is off: pass --url")
    host, port = address
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a listening address, not a bind)
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/healthz"


@click.command("healthcheck")
@click.option("--url", help="The /healthz URL (default: from HARVESTER_HTTP).")
@click.option(
    "--wait",
    default=0.0,
    type=click.FloatRange(0, 3600),
    help="Keep asking for up to this many seconds until it answers 200.",
)
def healthcheck(url: str | None, wait: float) -> None:
    """Ask the running service's /healthz: exit 0 when healthy, 1 otherwise."""
    target = url or health_url()
    deadline = time.monotonic() + wait
    line = "no answer"
    while True:
        try:
            response = httpx.get(target, timeout=5.0)
            body = (
                response.json()
                if response.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            reasons = "; ".join(body.get("reasons", []))
            line = f"{response.status_code} {body.get('status', '')}" + (
                f": {reasons}" if reasons else ""
            )
            if response.status_code == 200:
                click.echo(line)
                return
        except (httpx.HTTPError, ValueError) as exc:
            line = f"no answer from {target} ({type(exc).__name__})"
        if time.monotonic() >= deadline:
            break
        time.sleep(min(2.0, max(deadline - time.monotonic(), 0.1)))
    click.echo(line, err=True)
    sys.exit(1)
