"""`harvester simulate` and `harvester demo`: the bundled simulator on loopback, and the service
run against it."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import click

from .._core.clock import ScaledClock, SystemClock
from .._core.logs import configure_logging


@click.command()
@click.option(
    "--duration",
    default=30.0,
    show_default=True,
    type=click.FloatRange(3, 3600),
    help="Real seconds the service runs (simulated time runs 60 times faster).",
)
@click.option(
    "--folder",
    default="demo-output",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the demo's database goes.",
)
@click.option("--verbose", is_flag=True, help="Show the service's log lines too.")
def demo(duration: float, folder: Path, verbose: bool) -> None:
    """Run the service against the bundled simulator and summarise what it archived."""
    from .demo import run_demo

    configure_logging("INFO" if verbose else "WARNING", "human" if not verbose else None)
    run_demo(duration, folder, click.echo)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    type=float,
    help="Simulated seconds per real second.",
)
@click.option("--access-lifetime", default=600, show_default=True, type=int)
@click.option("--refresh-lifetime", default=604_800, show_default=True, type=int)
@click.option(
    "--rate-limit",
    default=240,
    show_default=True,
    type=int,
    help="Requests per window; 0 for no limit.",
)
@click.option("--rate-window", default=60, show_default=True, type=int)
@click.option("--link-lifetime", default=900, show_default=True, type=int)
@click.option("--chunk-size", default=500, show_default=True, type=int)
@click.option("--latency", default=0.0, show_default=True, type=float)
@click.option("--fault-rate", default=0.0, show_default=True, type=float)
@click.option("--seed", default=7, show_default=True, type=int)
def simulate(
    host: str,
    port: int,
    time_scale: float,
    access_lifetime: int,
    refresh_lifetime: int,
    rate_limit: int,
    rate_window: int,
    link_lifetime: int,
    chunk_size: int,
    latency: float,
    fault_rate: float,
    seed: int,
) -> None:
    """Serve the bundled iRacing simulator on loopback and print the settings that use it."""
    from ..simulator import RunningSimulator, SimConfig, Simulator

    config = SimConfig(
        access_token_lifetime=access_lifetime,
        refresh_token_lifetime=refresh_lifetime,
        rate_limit=rate_limit or None,
        rate_window=rate_window,
        link_lifetime=link_lifetime,
        chunk_size=chunk_size,
        latency=latency,
        fault_rate=fault_rate,
        seed=seed,
    )
    clock = ScaledClock(time_scale) if time_scale != 1 else SystemClock()
    server = RunningSimulator(Simulator(config, clock), host, port)
    click.echo("# harvester simulator: point harvester at it with these settings")
    for name, value in server.settings().items():
        click.echo(f"export {name}={value}")
    click.echo(f"# state: {server.url}/_sim/state    stop: Ctrl-C", err=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # ends serve_forever in this (main) thread

    # installed explicitly: a process started in the background inherits SIGINT ignored
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
