"""A run in flight: which job, which recorded run, its cancellation, and what it has done.

One `RunContext` travels from the runner through every request and store of a run (a plain
job, a cursor job's windows, a fan-out's items, a backfill, the library's `get(save=True)`);
one `RunCounts` is updated by the fetch path (requests, bytes, the rate budget left) and by the
archive (documents, results, rows), and is what the run's row records when it closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._config.jobs import JobSpec
from .._core.cancel import CancelToken
from .._core.counts import RunCounts


@dataclass(frozen=True)
class RunContext:
    """One run in flight: what the runner hands to the code that does the run's work."""

    job: JobSpec
    run_id: int
    cancel: CancelToken
    counts: RunCounts = field(default_factory=RunCounts)
