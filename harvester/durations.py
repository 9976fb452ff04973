"""Durations as people write them in jobs.yaml: `30s`, `15m`, `1h`, `1d`, `2w`, `1h30m` (pure)."""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_YEARS = 100
MAX_SECONDS = MAX_YEARS * 365.25 * 86400  # longer is a typo, and beyond what dates can reach
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: object) -> float:
    """Seconds for a duration; ValueError with a hint for anything else."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration (use 30s, 15m, 1h or 1d)")
    if isinstance(text, int | float):
        return _bounded(text, text)
    value = str(text).strip().lower().replace(" ", "")
    if not _WHOLE.match(value):
        raise ValueError(f"{text!r} is not a duration (use 30s, 15m, 1h or 1d)")
    return _bounded(sum(float(n) * UNITS[unit] for n, unit in _PART.findall(value)), text)


def _bounded(seconds: float, text: object) -> float:
    """Seconds that are positive and at most MAX_SECONDS (not NaN, not infinite, not 10**400)."""
    if not seconds > 0:
        raise ValueError(f"{text!r} is not a positive duration")
    if not seconds <= MAX_SECONDS:
        raise ValueError(f"{text!r} is too long a duration (at most {MAX_YEARS} years)")
    return float(seconds)


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 90 -> 1m30s, 86400 -> 1d."""
    remaining = round(seconds)
    if remaining <= 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        size = UNITS[unit]
        if remaining >= size:
            count, remaining = divmod(remaining, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)
