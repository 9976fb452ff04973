"""The simulator's time, its own so that it imports nothing of harvester: a clock is anything
with `now()` (epoch seconds, UTC), so harvester's clocks fit and a test or the demo can share
one clock between both sides; times are written as iRacing writes them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def iso(epoch: float) -> str:
    """To the millisecond, with a Z (iRacing's token and link times)."""
    return utc(epoch).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int((epoch % 1) * 1000):03d}Z"


def iso_seconds(epoch: float) -> str:
    """To the second, with a Z (iRacing's result times)."""
    return utc(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """Epoch seconds from the ISO times clients send; no zone means UTC."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
