"""The jobs of jobs.yaml as values: a job (`JobSpec`), its schedule, the whole file (`JobsConfig`),
and the one-line problems its parser reports (`_config.jobs_yaml` reads the YAML into these)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .._core.durations import format_duration
from .._core.errors import ConfigError
from .._core.text import ParamValue, printable
from .._feeds.spec import FeedSpec
from .incremental import ForEach, Incremental


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return printable(f"{self.file}:{self.line}: {where}{self.message}")


class JobsError(ConfigError):
    """jobs.yaml is wrong. `str()` is the first problem on one line; `problems` lists all."""

    def __init__(self, problems: list[Problem], partial: JobsConfig | None = None) -> None:
        self.problems = problems
        self.partial = partial  # the jobs that could be read, for checks in the same pass
        more = f" (and {len(problems) - 1} more; `harvester jobs validate` lists them)"
        super().__init__(str(problems[0]) + (more if len(problems) > 1 else ""))


def job_of(problem: Problem) -> str:
    """The job a problem is about ("" for the file's other parts)."""
    parts = problem.field.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "jobs" else ""


@dataclass(frozen=True)
class Schedule:
    every: float | None = None
    cron: str | None = None
    jitter: float = 0.0

    def describe(self) -> str:
        text = f"every {format_duration(self.every)}" if self.every else f"cron {self.cron}"
        return text + (f" (jitter {format_duration(self.jitter)})" if self.jitter else "")


@dataclass(frozen=True)
class JobSpec:
    name: str
    endpoint: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    schedule: Schedule = field(default_factory=lambda: Schedule(every=3600.0))
    enabled: bool = True
    timeout: float | None = None
    retries: int = 0
    description: str | None = None
    line: int = field(default=0, compare=False)
    incremental: Incremental | None = None  # a cursor job
    for_each: ForEach | None = None  # a fan-out job
    after: tuple[str, ...] = ()  # jobs whose runs it follows (`after:`), besides its fan-out's
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # key -> line


@dataclass(frozen=True)
class JobsConfig:
    path: str
    jobs: Mapping[str, JobSpec]
    warnings: tuple[Problem, ...] = ()  # advice that does not stop the file being used
    # problems of jobs disabled because of them: the catalogue contradicts them, or a
    # `{env:NAME}` of theirs is not set
    rejected: tuple[Problem, ...] = ()
    catalogue_at: str | None = None  # when the catalogue it was checked against was fetched
    feeds: Mapping[str, FeedSpec] = field(default_factory=dict)  # `feeds:`: rows to tell
    source: str = field(default="", compare=False, repr=False)  # the text it was read from

    def problems_of(self, name: str) -> list[Problem]:
        return [p for p in self.rejected if job_of(p) == name]

    def enabled(self) -> list[JobSpec]:
        return [job for job in self.jobs.values() if job.enabled]
