"""The pure helpers under the simulated world: the hash every random choice is seeded with, UTC
calendar quarters (a season) and race weeks, and iRacing's strength of field."""

from __future__ import annotations

import calendar
import math
import time

DAY = 86_400
_MASK = (1 << 64) - 1


def mix(*values: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for value in values:
        h = ((h ^ (value & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK
        h ^= h >> 31
    h = (h * 0x94D049BB133111EB) & _MASK
    return h ^ (h >> 29)


def quarter_of(epoch: float) -> tuple[int, int]:
    t = time.gmtime(int(epoch))
    return t.tm_year, (t.tm_mon - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> tuple[float, float]:
    """[start, end) of a calendar quarter, which is a season here."""
    start = calendar.timegm((year, 3 * (quarter - 1) + 1, 1, 0, 0, 0))
    if quarter == 4:
        end = calendar.timegm((year + 1, 1, 1, 0, 0, 0))
    else:
        end = calendar.timegm((year, 3 * quarter + 1, 1, 0, 0, 0))
    return float(start), float(end)


def quarter_index(year: int, quarter: int) -> int:
    return max(0, (year - 2000) * 4 + quarter - 1)


def race_week(epoch: float) -> int:
    year, quarter = quarter_of(epoch)
    start, _ = quarter_bounds(year, quarter)
    return min(12, int((epoch - start) // (7 * DAY)))


_SOF_K = 1600 / math.log(2)


def strength_of_field(ratings: list[int]) -> int:
    """iRacing's strength of field: the rating whose expected score matches the field's."""
    if not ratings:
        return 0
    total = sum(math.exp(-r / _SOF_K) for r in ratings)
    return int(_SOF_K * math.log(len(ratings) / total))
