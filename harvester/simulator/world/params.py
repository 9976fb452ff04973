"""Query parameters: typed parsing as the catalogue declares them, and search windows."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .._time import parse_iso
from .model import DAY, iso_seconds
from .types import Endpoint, bad_request

WINDOW = 90 * DAY  # the longest search window the real service accepts
_NUMBER = re.compile(r"[+-]?\d{1,18}")


def parse_params(endpoint: Endpoint, raw: Mapping[str, str]) -> dict[str, Any]:
    """Typed values of the declared parameters; unknown parameters are ignored."""
    parsed: dict[str, Any] = {}
    for name, spec in endpoint.params.items():
        value = raw.get(name)
        if value is None:
            if spec.required:
                raise bad_request(f"missing required parameter {name}")
            continue
        parsed[name] = _convert(name, spec.type, value)
    return parsed


def _convert(name: str, kind: str, value: str) -> Any:
    text = value.strip()
    if kind == "number":
        if not _NUMBER.fullmatch(text):
            raise bad_request(f"{name} must be a number")
        return int(text)
    if kind == "numbers":
        items = [item.strip() for item in text.split(",")]
        if not all(_NUMBER.fullmatch(item) for item in items):
            raise bad_request(f"{name} must be comma-separated numbers")
        return [int(item) for item in items]
    if kind == "boolean":
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
        raise bad_request(f"{name} must be true or false")
    return value


def parse_time(name: str, text: str) -> float:
    try:
        return parse_iso(text)
    except ValueError:
        raise bad_request(f'{name} must be an ISO-8601 UTC time like "2026-03-01T15:45Z"') from None


def windows(
    p: dict[str, Any], now: float
) -> tuple[tuple[float, float], tuple[float, float], dict[str, Any]]:
    """(start window, finish window) of a search, [begin, end) each, and the times to echo."""
    windows = []
    echo: dict[str, Any] = {}
    for prefix in ("start", "finish"):
        begin_name, end_name = f"{prefix}_range_begin", f"{prefix}_range_end"
        if begin_name not in p:
            if end_name in p:
                raise bad_request(f"{end_name} requires {begin_name}")
            windows.append((-math.inf, math.inf))
            continue
        begin = parse_time(begin_name, p[begin_name])
        echo[begin_name] = iso_seconds(begin)
        if end_name in p:
            end = parse_time(end_name, p[end_name])
            echo[end_name] = iso_seconds(end)
            if end < begin:
                raise bad_request(f"{end_name} is before {begin_name}")
        else:
            end = max(begin, min(begin + WINDOW, now))
        if end - begin > WINDOW:
            raise bad_request("maximum time frame of 90 days")
        windows.append((begin, end))
    return windows[0], windows[1], echo


def valid_quarter(value: int) -> int:
    if not 1 <= value <= 4:
        raise bad_request("season_quarter must be 1, 2, 3 or 4")
    return value
