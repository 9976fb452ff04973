"""The process-wide maintenance pause.

iRacing answers 503 "Site Maintenance" for the whole API (without Retry-After), typically for an
hour or so. One such answer pauses every request of the process; after a back-off (1 minute,
doubling up to 30) a single request is let through as a probe, and its success lifts the pause.
"""

from __future__ import annotations

import threading

from .._core.clock import Clock, iso_seconds
from .._core.errors import Maintenance

FIRST_STEP = 60.0
MAX_STEP = 30 * 60.0


class MaintenancePause:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.until: float | None = None
        self.step = FIRST_STEP
        self._probe_out = False
        self.entered = 0

    def holding(self) -> bool:
        """True while requests are held back (no probe is due yet, or one is out)."""
        with self._lock:
            return self.until is not None and (self.clock.now() < self.until or self._probe_out)

    def admit(self) -> bool:
        """Let a request through (True if it is the probe), or raise Maintenance. The first one
        after the back-off is the probe; the rest keep waiting until it has answered. Whoever
        gets True must call `probe_done()` when the request is over, however it ended."""
        with self._lock:
            if self.until is None:
                return False
            if self.clock.now() >= self.until and not self._probe_out:
                self._probe_out = True
                return True
            resume = self.until
        raise Maintenance(
            f"iRacing is in maintenance; requests are paused until at least {iso_seconds(resume)}",
            resume,
        )

    def enter(self) -> float:
        """A maintenance answer: pause (again, with a longer back-off). Returns the probe time."""
        with self._lock:
            if self.until is not None and self._probe_out:
                self.step = min(self.step * 2, MAX_STEP)
            elif self.until is None:
                self.step = FIRST_STEP
                self.entered += 1
            self.until = self.clock.now() + self.step
            self._probe_out = False
            return self.until

    def answered(self) -> None:
        """Any other answer from the API: it is up, the pause is over."""
        with self._lock:
            self.until = None
            self.step = FIRST_STEP
            self._probe_out = False

    def probe_done(self) -> None:
        """The probe is over. If it settled nothing (no answer, a 5xx, an error on our side), the
        pause stays and the next request probes again."""
        with self._lock:
            self._probe_out = False

    def resume_at(self) -> float | None:
        with self._lock:
            return self.until
