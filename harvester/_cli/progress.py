"""How a long command (backfill, tables rebuild) shows its progress: a bar on a terminal, JSON
events otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import click

from .._core.durations import format_duration
from .._core.logs import get_logger


class Progress(Protocol):
    """What a long command reports as it goes (backfill.Progress, tables.rebuild.Progress)."""

    @property
    def done(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def rate_per_minute(self) -> float: ...
    @property
    def eta_seconds(self) -> float | None: ...


class ProgressBar:
    """done/total `unit`, rate and ETA on one terminal line."""

    def __init__(self, label: str, unit: str = "windows") -> None:
        self.label = label
        self.unit = unit
        self.open = False  # the bar's line is not ended yet

    def update(self, progress: Progress) -> None:
        self.open = progress.done < progress.total

        width = 24
        filled = int(width * progress.done / max(progress.total, 1))
        eta = progress.eta_seconds
        click.echo(
            f"\r{self.label} [{'#' * filled}{'-' * (width - filled)}] "
            f"{progress.done}/{progress.total} {self.unit}  {progress.rate_per_minute:.1f}/min  "
            f"ETA {format_duration(eta) if eta is not None else '?'}   ",
            nl=not self.open,  # a finished bar ends its line before anything else is written
            err=True,
        )

    def close(self) -> None:
        if self.open:
            click.echo("", err=True)
            self.open = False


def log_progress(event: str, **context: str) -> Callable[[Progress], None]:
    """A reporter that logs each step as `event` (`backfill.progress`: the logger is
    `harvester.backfill`) with `context` (the job, say): JSON lines when not on a terminal."""
    logger = get_logger(f"harvester.{event.split('.')[0]}")

    def report(progress: Progress) -> None:
        eta = progress.eta_seconds
        logger.info(
            event,
            **context,
            done=progress.done,
            total=progress.total,
            rate_per_minute=round(progress.rate_per_minute, 2),
            eta_seconds=round(eta) if eta is not None else None,
        )

    return report
