"""Cooperative cancellation: a stop signal (shutdown) and a deadline (the job's timeout).

Every wait of a run goes through its token, so SIGTERM or a timeout ends the run promptly and it
is recorded as `interrupted` instead of hanging in a back-off sleep.
"""

from __future__ import annotations

import threading

from .clock import Clock
from .errors import Cancelled


class CancelToken:
    def __init__(
        self,
        clock: Clock,
        stop: threading.Event | None = None,
        deadline: float | None = None,
    ) -> None:
        self.clock = clock
        self.stop = stop or threading.Event()
        self.deadline = deadline
        self.parent: CancelToken | None = None

    def linked(self) -> CancelToken:
        """A token for work done on this one's behalf that can also be stopped on its own (the
        other chunks of a download once one of them failed): it has the same deadline, and its
        check fails when this one's does."""
        child = CancelToken(self.clock, threading.Event(), self.deadline)
        child.parent = self
        return child

    def check(self) -> None:
        if self.parent is not None:
            self.parent.check()
        if self.stop.is_set():
            raise Cancelled("stopped: the service is shutting down")
        if self.deadline is not None and self.clock.now() >= self.deadline:
            raise Cancelled("the job's timeout was reached")

    def seconds_left(self) -> float | None:
        """Clock seconds until the deadline (None: no deadline), for a wait that cannot come
        through `sleep`, such as a socket read."""
        if self.deadline is None:
            return None
        return max(self.deadline - self.clock.now(), 0.0)

    def sleep(self, seconds: float) -> None:
        """Wait, but no longer than the deadline, and not at all once stopped."""
        self.check()
        if self.deadline is not None:
            seconds = min(seconds, max(self.deadline - self.clock.now(), 0.0))
        self.clock.sleep(seconds, self.stop)
        self.check()
