"""The one loader of jobs.yaml: read with limits, validate, add the built-in catalogue job,
check against the stored /data catalogue. The service (start and every reload), every command
and `jobs validate` load the file through `load_jobs_file` and nothing else.

Reading never blocks nor grows without bound: only a regular file is read (a FIFO is opened
non-blocking and refused, a symlink to /dev/zero is a device and refused), at most
MAX_JOBS_FILE_BYTES of it.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine

from .._core.errors import ConfigError
from .._core.files import kind_of, read_at_most
from .catalog import CATALOG_JOB, check_jobs, stored_catalogues
from .jobs import JobsConfig, JobsError, job_of
from .jobs_yaml import parse_jobs
from .triggers import cron_error

MAX_JOBS_FILE_BYTES = 1_000_000  # a thousand jobs take about 100 kB


def read_jobs_bytes(path: Path) -> bytes:
    """The bytes of a jobs file; ConfigError (one line naming the file) for anything that is not
    a regular file of at most MAX_JOBS_FILE_BYTES."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such jobs file (set HARVESTER_JOBS, or write one: `harvester jobs init`)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the jobs file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file ({kind_of(info.st_mode)}), not read")
        if info.st_size > MAX_JOBS_FILE_BYTES:
            raise _too_large(path)
        data = read_at_most(fd, MAX_JOBS_FILE_BYTES + 1)
        if len(data) > MAX_JOBS_FILE_BYTES:  # it grew while being read
            raise _too_large(path)
        return data
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the jobs file: {exc.strerror}") from None
    finally:
        os.close(fd)


def _too_large(path: Path) -> ConfigError:
    return ConfigError(f"{path}: larger than {MAX_JOBS_FILE_BYTES:,} bytes, not read")


def read_jobs_text(path: Path) -> str:
    try:
        return read_jobs_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read the jobs file: not UTF-8 ({exc.reason})") from None


def load_jobs_file(
    path: Path,
    engine: Engine | None = None,
    *,
    strict: bool = True,
    env: Mapping[str, str] | None = None,
) -> JobsConfig:
    """jobs.yaml validated (cron expressions and `{env:...}` templates against `env`, the
    settings' environment), with the built-in catalogue job, and checked against the newest
    stored /data catalogue when `engine` holds one.

    When `strict` (`jobs validate`) every problem is an error, all reported in one JobsError.
    Otherwise a job the catalogue contradicts or whose `{env:NAME}` is unset is disabled and
    listed in `rejected`, so one broken job does not stop the service or the other commands."""
    return load_jobs_text(read_jobs_text(path), path, engine, strict=strict, env=env)


def load_jobs_text(
    text: str,
    path: Path,
    engine: Engine | None = None,
    *,
    strict: bool = True,
    env: Mapping[str, str] | None = None,
) -> JobsConfig:
    """`load_jobs_file` of text already read (`path` names it in errors): the jobs a running
    service accepted, say, which it keeps in the database."""
    environment = os.environ if env is None else env
    layout: list[JobsError] = []
    try:
        config = parse_jobs(
            text, str(path), cron_check=cron_error, env=environment, builtin=(CATALOG_JOB.name,)
        )
    except JobsError as exc:
        if not strict or exc.partial is None:
            raise
        layout.append(exc)
        config = exc.partial
    if CATALOG_JOB.name not in config.jobs:
        config = replace(config, jobs={**config.jobs, CATALOG_JOB.name: CATALOG_JOB})
    stored = stored_catalogues(engine, 1) if engine is not None else []
    problems = list(config.rejected)
    if stored:
        fetched_at, catalogue = stored[0]
        broken = {job_of(p) for p in (layout[0].problems if layout else [])}
        checkable = replace(config, jobs={n: j for n, j in config.jobs.items() if n not in broken})
        found, warnings = check_jobs(checkable, catalogue, fetched_at)
        problems += found
        config = replace(config, warnings=tuple(warnings), catalogue_at=fetched_at)
    if strict and (layout or problems):
        everything = [*(layout[0].problems if layout else []), *problems]
        raise JobsError(sorted(everything, key=lambda p: p.line))
    rejected = {job_of(problem) for problem in problems}
    jobs = {
        name: replace(job, enabled=False) if name in rejected else job
        for name, job in config.jobs.items()
    }
    return replace(config, jobs=jobs, rejected=tuple(problems), source=text)


def fingerprint(path: Path) -> str:
    """What the service compares to see that jobs.yaml changed (bounded like every read)."""
    try:
        return hashlib.sha256(read_jobs_bytes(path)).hexdigest()
    except ConfigError as exc:
        return f"unreadable: {exc}"
