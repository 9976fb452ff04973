"""A run in flight: which job, which recorded run, its cancellation, and what it has done.

One `RunContext` travels from the runner through every request and store of a run (a plain
job, a cursor job's windows, a fan-out's items, a backfill, the library's `get(save=True)`);
one `RunCounts` is updated by the fetch path (requests, bytes, the rate budget left) and by the
archive (documents, results, rows), and is what the run's row records when it closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .cancel import CancelToken
from .jobs import JobSpec


@dataclass
class RunCounts:
    """What a run did; counters grow as the run goes (one object per run, one thread)."""

    requests: int = 0
    bytes: int = 0
    documents_new: int = 0
    documents_dup: int = 0
    results: int = 0
    ratelimit_remaining: int | None = None
    rows_new: int = 0  # cursor jobs: rows whose key was not seen before
    rows_dup: int = 0
    items_ok: int = 0  # fan-out jobs: items fetched
    items_skipped: int = 0  # fan-out jobs: items answered 403/404 (remembered)


@dataclass(frozen=True)
class RunContext:
    """One run in flight: what the runner hands to the code that does the run's work."""

    job: JobSpec
    run_id: int
    cancel: CancelToken
    counts: RunCounts = field(default_factory=RunCounts)
