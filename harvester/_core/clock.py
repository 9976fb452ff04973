"""Time, injectable: every module asks a Clock for the time of day and for waits, never `time`.

Tests run days in milliseconds with a ManualClock, and the demo and the simulator share a
ScaledClock so an hour of iRacing passes in a minute while every component agrees on "now".
Durations that are about the machine, not the world (a run's elapsed seconds, the service's
heartbeat spacing, a rebuild's time budget, a lock's retry), are measured with
`time.monotonic()` where they are taken: no clock of the world should stretch or freeze those.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in epoch seconds (UTC) and a way to wait that a stop event can cut short."""

    def now(self) -> float: ...

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Wait `seconds` of this clock's time; return True if `stop` was set meanwhile."""
        ...

    def real_seconds(self, seconds: float) -> float:
        """How many real seconds `seconds` of this clock's time take (for event waits)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def real_seconds(self, seconds: float) -> float:
        return seconds

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if seconds <= 0:
            return bool(stop and stop.is_set())
        if stop is None:
            time.sleep(seconds)
            return False
        return stop.wait(seconds)


class ScaledClock:
    """Time that runs `factor` times faster than real time from `origin` (epoch seconds).

    Two processes built with the same factor and origin agree on the time, which is how a
    separate `harvester simulate --time-scale` process and harvester share an accelerated world.
    """

    def __init__(self, factor: float, origin: float | None = None) -> None:
        if factor <= 0:
            raise ValueError("time scale must be positive")
        self.factor = factor
        self.origin = time.time() if origin is None else origin

    def now(self) -> float:
        return self.origin + (time.time() - self.origin) * self.factor

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        return SystemClock().sleep(seconds / self.factor, stop)

    def real_seconds(self, seconds: float) -> float:
        return seconds / self.factor

    def spec(self) -> str:
        """The HARVESTER_CLOCK value that reproduces this clock in another process."""
        return f"scaled:{self.factor:g}@{self.origin:.3f}"


class ManualClock:
    """A clock that only moves when told to; `sleep` advances it instantly (for tests)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, epoch: float) -> None:
        with self._lock:
            self._now = epoch

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if stop is not None and stop.is_set():
            return True
        self.advance(max(seconds, 0.0))
        return False

    def real_seconds(self, seconds: float) -> float:
        """Its time never passes by itself: whoever waits on it polls briefly."""
        return min(seconds, 0.01)


def parse_clock(spec: str) -> Clock:
    """Build a clock from a HARVESTER_CLOCK value: `system` or `scaled:FACTOR[@ORIGIN]`."""
    spec = spec.strip()
    if spec in ("", "system"):
        return SystemClock()
    if spec.startswith("scaled:"):
        factor_text, _, origin_text = spec[len("scaled:") :].partition("@")
        factor = float(factor_text)
        origin = float(origin_text) if origin_text else None
        if not 0 < factor <= 1e6 or not (origin is None or abs(origin) < 1e11):
            raise ValueError("FACTOR must be above 0 and at most 1e6, ORIGIN epoch seconds")
        return ScaledClock(factor, origin)
    raise ValueError("expected 'system' or 'scaled:FACTOR@ORIGIN'")


def utc(epoch: float) -> datetime:
    """An aware UTC datetime for epoch seconds."""
    return datetime.fromtimestamp(epoch, tz=UTC)


def iso(epoch: float) -> str:
    """ISO-8601 UTC with a Z, to the millisecond, as iRacing writes times."""
    return utc(epoch).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int((epoch % 1) * 1000):03d}Z"


def iso_seconds(epoch: float) -> str:
    """ISO-8601 UTC with a Z, to the second (for the archive and the CLI). Every run stamps a
    few, so by `time.gmtime` (a third of datetime's cost); a time within half a microsecond
    of the next second, or outside gmtime's years, goes the datetime way, which rounds to the
    microsecond first."""
    if 0 <= epoch < 253_402_300_800 and epoch % 1 < 0.9999995:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    return utc(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_http_date(text: str | None) -> float | None:
    """Epoch seconds from an HTTP date (a `Date` or `Retry-After` header: `Sun, 06 Nov 1994
    08:49:37 GMT` and the older forms); None when absent or unreadable. The one parser of them."""
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def parse_iso(text: str) -> float:
    """Epoch seconds from an ISO-8601 time; a missing zone means UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
