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
MIN_PERIOD = 0.05  # the watch never looks more often than this


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
        # the runs in flight (by id()), each with when its row is due: a second after it
        # started, then a second after each write the database refused
        self._runs: dict[int, tuple[RunContext, float]] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, run: RunContext) -> None:
        """Watch `run` (unwritten) until `remove`: its row is written if it lasts."""
        with self._changed:
            self._runs[id(run)] = (run, run.started + self.write_after)
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
        """Write the rows of the watched runs that are due (unwritten, not over); how many
        were. One the database refuses is tried again a period later, not at once."""
        now = self.monotonic()
        with self._changed:
            due = [run for run, at in self._runs.values() if at <= now and _waiting(run)]
            for run in due:
                self._runs[id(run)] = (run, now + self._period())
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

    def _period(self) -> float:
        return max(self.write_after, MIN_PERIOD)

    def _watch(self) -> None:
        """Wake when the first watched run comes due (about once a second however many runs
        go by: a run that ended meanwhile is simply gone), write, and end when none is left."""
        while True:
            with self._changed:
                if self._closed or not self._runs:
                    self._thread = None
                    return
                now = self.monotonic()
                due = [at for run, at in self._runs.values() if _waiting(run)]
                wait = min(due) - now if due else self._period()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
            self.write_due()


def _waiting(run: RunContext) -> bool:
    """Not written yet, and not over."""
    return run.run_id == 0 and not (run.unwritten is not None and run.unwritten.ended)
