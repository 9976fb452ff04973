"""Back-off arithmetic shared by every retry loop, and `Retries`, the loop itself (pure: the
caller passes its own way to wait)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

from .clock import parse_http_date

# no server gets to park a client for longer than this (a hostile `Retry-After: 1e20` would
# otherwise become a pause for ever, and a date no clock can print)
MAX_RETRY_AFTER = 86_400.0


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential back-off with "equal jitter": half of the step is fixed, half random.

    attempt 0 waits base/2..base, attempt 1 base..2*base, and so on up to cap. The fixed half
    keeps a floor under the wait; the random half keeps many clients from retrying in step.
    """
    step = min(cap, base * 2.0 ** min(max(attempt, 0), 64))  # 2.0**1024 would overflow
    return step / 2 + rng.uniform(0, step / 2)


class Retries:
    """The attempts of one retried operation: `for attempt in Retries(...)` yields 0, 1, ...
    up to `attempts - 1`, waiting the back-off before each retry (`wait(seconds)`; a wait that
    returns True means stop: no more attempts). The caller `continue`s after a transient failure
    and returns or raises otherwise; the loop ending means every attempt failed.

    `after(seconds)` makes the next wait the server's (a Retry-After) instead of the back-off.
    """

    def __init__(
        self,
        attempts: int,
        base: float,
        cap: float,
        rng: random.Random,
        wait: Callable[[float], object],
    ) -> None:
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.rng = rng
        self._wait = wait
        self._next: float | None = None

    def after(self, seconds: float | None) -> None:
        self._next = seconds

    def __iter__(self) -> Iterator[int]:
        for attempt in range(self.attempts):
            if attempt:
                delay = self._next or backoff_delay(attempt - 1, self.base, self.cap, self.rng)
                self._next = None
                if self._wait(delay):
                    return
            yield attempt


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), at most
    MAX_RETRY_AFTER; None when absent or unreadable (NaN and infinities are unreadable)."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        moment = parse_http_date(text)
        if moment is None:
            return None
        seconds = moment - now
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)
