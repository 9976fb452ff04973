"""The watch over runs whose rows are not written yet.

A plain job's run is written once, with its result (see `_archive.run.Unwritten`): most end
within a fraction of a second. One that lasts longer must show as `running` (the dashboard, and
a process killed meanwhile leaves a row that the next start marks `interrupted`): this watch
writes the row of every such run WRITE_AFTER real seconds after it started. One thread, started
with the first run it watches and ended when it has none left, so an idle runner holds none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .._archive.archive import Archive
from .._archive.run import RunContext
from .._core.logs import get_logger
from .._core.text import error_line

log = get_logger("harvester.runner")

WRITE_AFTER = 1.0  # real seconds a run may go unwritten


class RunWatch:
    def __init__(
        self,
        archive: Archive,
        write_after: float = WRITE_AFTER,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.archive = archive
        self.write_after = write_after
        self.monotonic = monotonic
        self._runs: dict[int, RunContext] = {}  # the runs in flight, unwritten, by id()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, run: RunContext) -> None:
        """Watch `run` (unwritten) until `remove`: its row is written if it lasts."""
        with self._changed:
            self._runs[id(run)] = run
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._watch, name="harvester-run-watch", daemon=True
                )
                self._thread.start()

    def remove(self, run: RunContext) -> None:
        """The run is over: no longer watched."""
        with self._changed:
            self._runs.pop(id(run), None)

    def write_due(self) -> int:
        """Write the rows of the watched runs that are due and not written; how many were."""
        now = self.monotonic()
        with self._changed:
            due = [
                run
                for run in self._runs.values()
                if run.run_id == 0 and run.started + self.write_after <= now
            ]
        if not due:
            return 0
        try:
            return self.archive.write_running(due)
        except Exception as exc:  # the database refused: the runs' own commits will say so
            log.warning("run.not_written", error=error_line(exc), runs=len(due))
            return 0

    def stop(self) -> None:
        """No runs in flight (a service stopped): the thread ends now; the next run's `add`
        starts another."""
        self._end(closed=False)

    def close(self) -> None:
        """Stop watching for good (the runtime closes): runs left are not written."""
        self._end(closed=True)

    def _end(self, closed: bool) -> None:
        with self._changed:
            self._closed = self._closed or closed
            self._runs.clear()
            self._changed.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _watch(self) -> None:
        """Wake when the oldest run in flight comes due (about once a second however many
        runs go by: a run that ended meanwhile is simply gone), write, and end when none is
        left."""
        while True:
            with self._changed:
                waiting = [r.started for r in self._runs.values() if r.run_id == 0]
                if self._closed or not self._runs:
                    self._thread = None
                    return
                wait = min(waiting, default=self.monotonic()) + self.write_after - self.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
            self.write_due()
