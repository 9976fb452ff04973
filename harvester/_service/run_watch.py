"""The watch over runs whose rows are not written yet.

A plain job's run is written once, with its result (see `_archive.run.Unwritten`): most end
within a fraction of a second. One that lasts longer must show as `running` (the dashboard, and
a process killed meanwhile leaves a row that the next start marks `interrupted`): this watch
writes the row of every such run WRITE_AFTER real seconds after it started. One thread, started
with the first run it watches and ended when it has none left, so an idle runner holds none.
"""

from __future__ import annotations

import heapq
import itertools
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
        self._due: list[tuple[float, int, RunContext]] = []  # (when, order, run): a heap
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, run: RunContext) -> None:
        """Watch `run` (unwritten) from now on: its row is written if it is not over in time."""
        with self._changed:
            heapq.heappush(self._due, (run.started + self.write_after, next(self._order), run))
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._watch, name="harvester-run-watch", daemon=True
                )
                self._thread.start()

    def write_due(self) -> int:
        """Write the rows of the watched runs that are due and not over; how many were."""
        now = self.monotonic()
        due: list[RunContext] = []
        with self._changed:
            while self._due and self._due[0][0] <= now:
                due.append(heapq.heappop(self._due)[2])
        if not due:
            return 0
        try:
            return self.archive.write_running(due)
        except Exception as exc:  # the database refused: the runs' own commits will say so
            log.warning("run.not_written", error=error_line(exc), runs=len(due))
            return 0

    def close(self) -> None:
        """Stop watching (the runtime closes): the thread ends; runs left are not written."""
        with self._changed:
            self._closed = True
            self._due.clear()
            self._changed.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _watch(self) -> None:
        while True:
            with self._changed:
                if not self._due or self._closed:
                    self._thread = None
                    return
                wait = self._due[0][0] - self.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
            self.write_due()
