"""A run in flight: which job, which recorded run, its cancellation, and what it has done.

One `RunContext` travels from the runner through every request and store of a run (a plain
job, a cursor job's windows, a fan-out's items, a backfill, the library's `get(save=True)`);
one `RunCounts` is updated by the fetch path (requests, bytes, the rate budget left) and by the
archive (documents, results, rows), and is what the run's row records when it closes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

from .._config.jobs import JobSpec
from .._core.cancel import CancelToken
from .._core.counts import RunCounts


class Trigger(StrEnum):
    """What started a run: the text stored in `runs.trigger` (`harvester runs` shows it)."""

    SCHEDULE = "schedule"  # its own `every` or `cron` came due
    STARTUP = "startup"  # due when the service started (never run, or missed while it was down)
    RELOAD = "reload"  # added or changed by a reload of jobs.yaml, and due
    PARENT = "parent"  # a run of a job it follows committed new values (`runs.parent_run_id`)
    RETRY = "retry"  # its previous run failed and it had retries left
    CLI = "cli"  # a command: `harvester run`, `harvester catalog`, the demo's first harvest
    MANUAL = "manual"  # the library: `get(save=True)`
    BACKFILL = "backfill"  # `harvester backfill`


# the runs the service starts by itself (a dead active service's are taken over)
SERVICE_TRIGGERS = (
    Trigger.SCHEDULE,
    Trigger.STARTUP,
    Trigger.RELOAD,
    Trigger.PARENT,
    Trigger.RETRY,
)


@dataclass
class Unwritten:
    """What a run's row will say once it is written: a plain job's run is written in the
    transaction that stores its result (one commit for the whole run, not one to open it and
    one to store), earlier as `running` when it outlasts a second or stores chunks ahead (see
    `Archive.write_run_row`), or with its outcome when it ends without a result."""

    trigger: str
    parent_run: int | None
    started_at: str  # harvester's clock, as stored
    ended: bool = False  # the run is over: nothing writes it as `running` any more
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class RunContext:
    """One run in flight: what the runner hands to the code that does the run's work.

    `run_id` is its row in `runs`; 0 while the row of a run opened `unwritten` is not written
    yet (the archive writes it and sets the id)."""

    job: JobSpec
    run_id: int
    cancel: CancelToken
    counts: RunCounts = field(default_factory=RunCounts)
    started: float = field(default_factory=time.monotonic)  # for its duration, in real seconds
    unwritten: Unwritten | None = None

    def seconds(self) -> float:
        """Real (monotonic) seconds since the run started, whatever harvester's clock does."""
        return max(time.monotonic() - self.started, 0.0)
