"""The service's runs as a pipeline: the worker pool, what is due handed to the dispatch (under
one lock) and done as it decides, and what follows each run.

When a run ends, its children learn whether it committed new work for them: a fan-out reads its
parent's new results at once (the values it has not seen become its pending items), a job
`after` it looks whether it stored something new (`new_data`). Those children are due then
(trigger `parent`, with the run's id), by the same rules as any due run: a child already
running is recorded `skipped` and runs once right after; a child waiting for a parent runs when
none is busy. A failed run with retries left is retried after a back-off. A run never crashes
the pool: the runner records its failures.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from .._archive import bookkeeping
from .._archive.run import Trigger
from .._config.graph import JobGraph
from .._config.jobs import JobsConfig, JobSpec
from .._core.clock import iso_seconds
from .._core.logs import get_logger
from .._core.retry import backoff_delay
from .._core.run_status import RunStatus
from .._core.text import error_line
from .dispatch import Actions, Cause, Dispatch
from .runner import RunOutcome
from .runtime import Runtime

log = get_logger("harvester.service")


def new_data(job: JobSpec, outcome: RunOutcome) -> bool:
    """Whether a run stored something new: rows not seen before, for a cursor job that knows
    its rows' key (its window moving on changes its answer, not its data), else a document not
    stored before."""
    if job.incremental is not None and job.incremental.key:
        return outcome.counts.rows_new > 0
    return outcome.counts.documents_new > 0


class RunObserver(Protocol):
    def run_finished(self, outcome: RunOutcome) -> None: ...


class Pipeline:
    def __init__(
        self,
        runtime: Runtime,
        jobs: Callable[[], JobsConfig],
        retry: Callable[[str, float], None],
        *,
        stopping: threading.Event,
        cancel: threading.Event,
        workers: int,
        follow_parents: bool = True,
    ) -> None:
        self.runtime = runtime
        self._jobs = jobs  # the jobs in use now (a reload replaces them)
        self._retry = retry  # schedules a one-shot retry after a delay
        self.follow_parents = follow_parents
        self.observers: list[RunObserver] = []
        self.stopping = stopping  # set: no new runs
        self.cancel = cancel  # set: runs in flight stop at their next step
        self._workers = ThreadPoolExecutor(workers, thread_name_prefix="harvester-run")
        self._dispatch = Dispatch()  # claimed runs, runs waiting for a parent, follow-ups
        self._lock = threading.Condition()  # guards `_dispatch`
        self._attempts: dict[str, int] = {}
        self._rng = random.Random()
        # the latest outcomes, for the demo's summary and for tests (bounded: months of runs)
        self.outcomes: deque[RunOutcome] = deque(maxlen=10_000)

    @property
    def running(self) -> frozenset[str]:
        """The jobs with a run claimed: waiting for a worker or going."""
        with self._lock:
            return frozenset(self._dispatch.claimed)

    @property
    def waiting(self) -> frozenset[str]:
        """The jobs due that wait for a parent's run to end."""
        with self._lock:
            return frozenset(self._dispatch.waiting)

    # -- what comes due ------------------------------------------------------------------------

    def due(self, runs: Iterable[tuple[str, str]]) -> None:
        """Jobs due together (the scheduler's look: `(name, trigger)`, parents first)."""
        if self.stopping.is_set():
            return
        causes = [(name, Cause(trigger)) for name, trigger in runs]
        self._handle(lambda dispatch: dispatch.due(causes))

    def use(self, config: JobsConfig) -> None:
        """The jobs' graph to order runs by, from a jobs file just loaded (none when children
        do not follow their parents)."""
        enabled = {name: spec for name, spec in config.jobs.items() if spec.enabled}
        graph = JobGraph.of(enabled) if self.follow_parents else JobGraph()
        self._handle(lambda dispatch: dispatch.use(graph, enabled))

    def _handle(self, decide: Callable[[Dispatch], Actions]) -> None:
        """The one place that decides overlap and order (the dispatch, under the lock), then
        does what it decided: skipped runs recorded, the others handed to a worker."""
        with self._lock:
            actions = decide(self._dispatch)
            self._lock.notify_all()
        for name, cause in actions.skipped:
            self._overlapping(name, cause)
        for name, cause in actions.start:
            spec = self._jobs().jobs.get(name)
            try:
                if spec is None or not spec.enabled or self.stopping.is_set():
                    raise RuntimeError("not to run")
                self._workers.submit(self.run_job, name, cause)
            except RuntimeError:  # removed meanwhile, or stopping (the pool may be shut down)
                self._abandon(name)

    def _abandon(self, name: str) -> None:
        self._handle(lambda dispatch: dispatch.abandon(name))

    def _overlapping(self, name: str, cause: Cause) -> None:
        """A run came due while the previous one of the same job was still going (one a parent
        started runs once right after it)."""
        after = " (it runs once that one ends)" if cause.trigger == Trigger.PARENT else ""
        self.runtime.archive.record_skipped(
            name,
            cause.trigger,
            f"the previous run of this job was still running{after}",
            cause.parent_run,
        )
        log.warning("run.skipped_overlap", job=name, trigger=cause.trigger)

    # -- a run and what follows it ---------------------------------------------------------------

    def run_job(self, name: str, cause: Cause | None = None) -> RunOutcome | None:
        """A worker runs a job the dispatch claimed for it; then what follows it."""
        cause = cause or Cause()
        spec = self._jobs().jobs.get(name)
        outcome: RunOutcome | None = None
        try:
            if spec is not None and not self.stopping.is_set():
                outcome = self.runtime.runner.run(
                    spec, cause.trigger, stop=self.cancel, parent_run=cause.parent_run
                )
        except Exception as exc:  # the runner records its own failures; this is a last guard
            log.error("run.crashed", job=name, error=error_line(exc))
        finally:
            self._finished(name, outcome)
        if outcome is None or spec is None:
            return None
        self.outcomes.append(outcome)
        for observer in self.observers:
            observer.run_finished(outcome)
        self._maybe_retry(name, outcome, spec.retries)
        return outcome

    def _finished(self, name: str, outcome: RunOutcome | None) -> None:
        new_for = self._new_work(name, outcome) if outcome is not None else []
        run_id = outcome.run_id if outcome is not None else 0
        self._handle(lambda dispatch: dispatch.finished(name, run_id, new_for))

    def _new_work(self, name: str, outcome: RunOutcome) -> list[str]:
        """The children of `name` its run committed new work for: a fan-out whose parent's
        results hold values it has not seen, a job `after` it when the run stored something
        new (`new_data`)."""
        if not self.follow_parents or self.stopping.is_set():
            return []
        with self._lock:
            children = self._dispatch.graph.children.get(name, ())
        jobs = self._jobs().jobs
        parent = jobs.get(name)
        found = []
        for child in children:
            spec = jobs.get(child)
            if spec is None or not spec.enabled or parent is None:
                continue
            if spec.for_each is not None and spec.for_each.job == name:
                if outcome.counts.results and self._collect(spec):
                    found.append(child)
            elif new_data(parent, outcome):
                found.append(child)
        return found

    def _collect(self, spec: JobSpec) -> bool:
        """A fan-out's new values read from its parent's results now: True if there are any
        (they are its pending items, committed; its next run claims them)."""
        fan = spec.for_each
        assert fan is not None
        try:
            now = iso_seconds(self.runtime.clock.now())
            new = bookkeeping.collect_fanout_values(
                self.runtime.engine, spec.name, fan.job, fan.steps, now
            )
        except Exception as exc:  # its own schedule reads them later
            log.warning("run.follow_failed", job=spec.name, error=error_line(exc, limit=300))
            return False
        return new > 0

    def _maybe_retry(self, name: str, outcome: RunOutcome, retries: int) -> None:
        if outcome.status is not RunStatus.FAILED or self.stopping.is_set():
            self._attempts.pop(name, None)
            return
        attempt = self._attempts.get(name, 0)
        if attempt >= retries:
            self._attempts.pop(name, None)
            return
        self._attempts[name] = attempt + 1
        delay = backoff_delay(attempt, 60.0, 1800.0, self._rng)
        self._retry(name, delay)
        log.info(
            "run.retry_scheduled",
            job=name,
            attempt=attempt + 1,
            of=retries,
            in_seconds=round(delay),
        )

    # -- stopping ------------------------------------------------------------------------------

    def wait_idle(self, seconds: float) -> bool:
        """Wait up to `seconds` (real) for every claimed run to end; False if some did not."""
        deadline = time.monotonic() + seconds
        with self._lock:
            while self._dispatch.claimed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def shutdown(self, wait: bool) -> None:
        """End the worker threads (after `wait_idle`; with `wait`, join them)."""
        self._workers.shutdown(wait=wait)
