"""What every `harvester` command stands on: the per-invocation state (settings read once), the
record printer, and finding a job in the jobs file. Command modules import this, never `cli`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._config.settings import Settings, load_settings
from .._core.errors import ConfigError
from .._core.logs import configure_logging
from .._core.text import did_you_mean, nearest, printable
from .._service.runtime import open_runtime
from .._store.db import open_database, open_reading, sqlite_path

if TYPE_CHECKING:  # the runtime's imports (httpx, sqlalchemy) wait for a command that needs them
    from sqlalchemy import Engine

    from .._config.jobs import JobsConfig, JobSpec
    from .._core.clock import Clock
    from .._service.runtime import Runtime


class State:
    """Per-invocation state: settings are read once, on first use."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
            configure_logging(self._settings.log_level, self._settings.log_format)
        return self._settings

    def runtime(self, *, clock: Clock | None = None, engine: Engine | None = None) -> Runtime:
        return open_runtime(self.settings, clock=clock, engine=engine)

    @contextmanager
    def database(self) -> Iterator[Engine]:
        """The database only (no network, no keys), migrated: for the reporting commands."""
        engine = open_database(self.settings.database_url)
        try:
            yield engine
        finally:
            engine.dispose()

    def archive_missing(self) -> bool:
        """Whether the SQLite archive does not exist (yet). A read replica's absence is
        `open_reading`'s to say (it never creates one)."""
        if self.settings.reads_replica:
            return False
        path = sqlite_path(self.settings.database_url)
        return path is not None and not Path(path).exists()

    def require_archive(self) -> None:
        """For a command that only reads: a SQLite archive that does not exist yet is one line,
        not a new empty harvester.db left wherever the command ran (opening creates one)."""
        if self.archive_missing():
            path = sqlite_path(self.settings.database_url)
            raise ConfigError(
                f"no archive at {path} (HARVESTER_DATABASE_URL): nothing harvested here yet; "
                "`harvester run`, "
                "`harvester start` or `harvester db upgrade` creates it"
            )

    @contextmanager
    def existing(self) -> Iterator[Engine]:
        """The database of a command that only reads it but needs the primary (`catalog
        diff`, `feeds`): never created for it."""
        self.require_archive()
        with self.database() as engine:
            yield engine

    @contextmanager
    def reading_or_empty(self) -> Iterator[Engine]:
        """`reading`, or an empty archive in memory when the SQLite file does not exist yet:
        for the commands that tell a new user where things stand (`status`, `jobs`, `auth
        status`) without leaving a harvester.db behind."""
        if not self.archive_missing():
            with self.reading() as engine:
                yield engine
            return
        engine = open_database("sqlite://")  # one connection per thread: it stays whole
        try:
            yield engine
        finally:
            engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Engine]:
        """The database of the commands that only read (query, tables, status, runs): the read
        replica when HARVESTER_READ_DATABASE_URL is set (never migrated: it must already be
        current), else the database itself; never created for them."""
        self.require_archive()
        url = self.settings.read_database_url
        if url is None:
            with self.database() as engine:
                yield engine
            return
        engine = open_reading(url, "HARVESTER_READ_DATABASE_URL")
        try:
            yield engine
        finally:
            engine.dispose()


pass_state = click.make_pass_decorator(State, ensure=True)


def emit(data: dict[str, Any], fmt: str) -> None:
    """A record as JSON, or as aligned `key  value` lines (nested values as k=v pairs); the
    values may be a server's (a user name, a scope): each line is `printable`."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    width = max((len(str(k)) for k in data), default=0)
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={'-' if v is None else v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "-"
        click.echo(printable(f"{key:<{width}}  {'-' if value is None else value}"))


def load_job_config(state: State, path: Path | None = None, strict: bool = False) -> JobsConfig:
    """The jobs file through the one loader, checked against the stored catalogue when a
    database exists (see jobs_file.load_jobs_file)."""
    from .._config.jobs_file import load_jobs_file

    jobs_path = path or state.settings.jobs_path
    env = state.settings.env()
    database = sqlite_path(state.settings.database_url)
    if database is not None and not database.exists():
        return load_jobs_file(jobs_path, strict=strict, env=env)
    with state.database() as engine:
        return load_jobs_file(jobs_path, engine, strict=strict, env=env)


def find_job(config: JobsConfig, name: str) -> JobSpec:
    if name not in config.jobs:
        hint = did_you_mean(nearest(name, config.jobs))
        raise ConfigError(f"no job named {name!r} in {config.path}{hint}")
    problems = config.problems_of(name)
    if problems:
        raise ConfigError(str(problems[0]))
    return config.jobs[name]
