"""One rate budget per process, shared by every job and thread, driven by the server's
`x-ratelimit-*` headers so harvester uses the allowance without receiving 429s."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from .._core.cancel import CancelToken
from .._core.clock import Clock, parse_http_date


@dataclass(frozen=True)
class RateState:
    limit: int | None
    remaining: int | None
    reset_at: float | None


MAX_WAIT = 900.0  # a reset further away than this is not believed (the window is ~60 s)


def parse_rate_headers(headers: Mapping[str, str], now: float) -> RateState | None:
    """(limit, remaining, reset) from a response, or None when absent or not believable.

    The reset is an epoch on the server's clock; it is moved onto ours with the answer's `Date`
    header, so a local clock that is off does not stretch or cancel the waits."""
    try:
        limit = int(headers["x-ratelimit-limit"])
        remaining = int(headers["x-ratelimit-remaining"])
        reset = float(headers["x-ratelimit-reset"])
    except (KeyError, ValueError, OverflowError):
        return None
    if limit < 0 or remaining < 0 or not math.isfinite(reset):
        return None
    server_now = parse_http_date(headers.get("date"))
    if server_now is not None:
        reset = now + (reset - server_now)
    if reset - now > MAX_WAIT:
        return None
    return RateState(limit, remaining, float(math.ceil(reset)))


class RateBudget:
    """Hands out permission to send one /data request; waits for the window's reset when spent.

    The server's `remaining` is the truth; between answers each permission given is counted
    locally, so concurrent threads cannot overrun the window. `margin` requests are left unused
    as a cushion against other clients of the same account and clock skew.
    """

    def __init__(
        self,
        clock: Clock,
        margin: int = 1,
        reset_pad: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.margin = margin
        self.reset_pad = reset_pad
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.waits = 0
        self.received_429 = 0

    def state(self) -> RateState:
        with self._lock:
            return RateState(self.limit, self.remaining, self.reset_at)

    def acquire(self, cancel: CancelToken) -> None:
        """Block until a request may be sent (or the run is cancelled)."""
        while True:
            with self._lock:
                now = self.clock.now()
                if self.reset_at is not None and now >= self.reset_at + self.reset_pad:
                    # a new window: its size is known, its reset comes with the next answer
                    self.remaining = self.limit
                    self.reset_at = None
                # the cushion never takes a whole (tiny) allowance
                margin = min(self.margin, max((self.limit or 1) - 1, 0))
                if self.remaining is None or self.remaining > margin:
                    if self.remaining is not None:
                        self.remaining -= 1
                    return
                wait = (self.reset_at - now) + self.reset_pad if self.reset_at is not None else 1.0
                self.waits += 1
            cancel.sleep(max(wait, 0.05))

    def update(self, headers: Mapping[str, str]) -> None:
        """Take the server's view of the window from an answer's headers."""
        state = parse_rate_headers(headers, self.clock.now())
        if state is None:
            return
        with self._lock:
            same_window = self.reset_at is not None and state.reset_at == self.reset_at
            self.limit = state.limit
            if same_window and self.remaining is not None:
                self.remaining = min(self.remaining, state.remaining or 0)
            else:
                self.remaining = state.remaining
            self.reset_at = state.reset_at

    def on_429(self, headers: Mapping[str, str]) -> float:
        """A 429 anyway: the window is spent. Returns how long to wait (to the reset, jittered)."""
        state = parse_rate_headers(headers, self.clock.now())
        with self._lock:
            self.received_429 += 1
            now = self.clock.now()
            if state is not None:
                self.limit = state.limit
                self.reset_at = state.reset_at
            if self.reset_at is None or self.reset_at <= now:
                self.reset_at = now + 60.0  # no usable header: assume a fresh 60 s window
            self.remaining = 0
            return max(self.reset_at - now, 0.0) + self.reset_pad + self.rng.uniform(0, 2.0)
