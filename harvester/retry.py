"""Back-off arithmetic shared by every retry loop (pure)."""

from __future__ import annotations

import math
import random

# no server gets to park a client for longer than this (a hostile `Retry-After: 1e20` would
# otherwise become a pause for ever, and a date no clock can print)
MAX_RETRY_AFTER = 86_400.0


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential back-off with "equal jitter": half of the step is fixed, half random.

    attempt 0 waits base/2..base, attempt 1 base..2*base, and so on up to cap. The fixed half
    keeps a floor under the wait; the random half keeps many clients from retrying in step.
    """
    step = min(cap, base * 2.0 ** max(attempt, 0))
    return step / 2 + rng.uniform(0, step / 2)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), at most
    MAX_RETRY_AFTER; None when absent or unreadable (NaN and infinities are unreadable)."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)
