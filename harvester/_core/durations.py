"""The one grammar of times, everywhere (jobs.yaml, templates, `runs --since`, `backfill
--since`): durations as people write them (`30s`, `15m`, `1h`, `1d`, `2w`, `1h30m`) and moments:
a date (`2026-09-01`), a time (`2026-09-01T06:00Z`) or a time relative to now (`7d` or `-7d`
ago, `now-12h`, `+1h` ahead) (pure)."""

from __future__ import annotations

import re

from .clock import parse_iso, utc

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_YEARS = 100
MAX_SECONDS = MAX_YEARS * 365.25 * 86400  # longer is a typo, and beyond what dates can reach
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")
_ZERO = re.compile(r"^(?:0+(?:\.0+)?[smhdw]?)+$")
_RELATIVE = re.compile(r"^(now)?\s*([+-]?)\s*(\S+)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: object, *, zero: bool = False) -> float:
    """Seconds for a duration (0 too when `zero`, e.g. a jitter of 0s); ValueError with a hint
    for anything else."""
    if zero and (text == 0 or (isinstance(text, str) and _ZERO.match(text.strip().lower()))):
        return 0.0
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


def parse_moment(text: str, now: float) -> float:
    """Epoch seconds of a moment: an ISO date or time (UTC unless it says otherwise), or a time
    relative to now: `7d` and `-7d` are seven days ago, `+1h` an hour ahead, `now`, `now-12h`.
    ValueError names what is accepted."""
    value = text.strip()
    if value.lower() == "now":
        return now
    match = _RELATIVE.match(value.lower())
    if match and (match.group(1) or match.group(2) or _WHOLE.match(match.group(3))):
        _, sign, amount = match.groups()
        try:
            seconds = parse_duration(amount)
        except ValueError:
            pass
        else:
            return now + seconds if sign == "+" else now - seconds
    try:
        moment = parse_iso(value)
        utc(moment)  # a moment Python can write back (not past year 9999)
    except (ValueError, OverflowError, OSError):
        raise ValueError(
            f"{text!r} is neither a date (2026-09-01), a time (2026-09-01T06:00Z) nor a time "
            "relative to now (7d or -7d ago, now-12h)"
        ) from None
    return moment
