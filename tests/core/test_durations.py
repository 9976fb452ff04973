"""harvester.durations on its own: the one grammar of durations and moments at its edges (zero,
bounds, numbers, spacing, relative and absolute times) (pure; `now` is passed in)."""

from __future__ import annotations

import math

import pytest

from harvester._core.clock import parse_iso
from harvester._core.durations import MAX_SECONDS, format_duration, parse_duration, parse_moment

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1.5h", 5400.0),
        ("0.5s", 0.5),
        ("1h 30m", 5400.0),  # spaces inside are ignored
        ("1H30M", 5400.0),
        ("30m1h", 5400.0),  # any order, summed
        ("1d1d", 2 * DAY),
        ("007s", 7.0),
        (0.25, 0.25),
    ],
)
def test_durations_people_write(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [0, 0.0, "0", "0s", "0m0s", " 0.0h ", "00"])
def test_zero_only_where_it_is_allowed(text: object) -> None:
    assert parse_duration(text, zero=True) == 0.0
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "text",
    [None, False, [], {}, "1", "h", "1y", "1 d a", "1h-", "+1h", "1e3s", "½h", "1h\n2m"],
)
def test_what_is_not_a_duration_says_how_to_write_one(text: object) -> None:
    with pytest.raises(ValueError, match="use 30s, 15m, 1h or 1d"):
        parse_duration(text)


@pytest.mark.parametrize("value", [-1, -0.5, math.nan, -math.inf])
def test_numbers_must_be_positive(value: float) -> None:
    with pytest.raises(ValueError, match="not a positive duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [math.inf, 10**400, MAX_SECONDS + 1, "5218w", "36525d1s"])
def test_longer_than_a_hundred_years_is_a_typo(value: object) -> None:
    with pytest.raises(ValueError, match="at most 100 years"):
        parse_duration(value)


def test_a_hundred_years_exactly_is_allowed() -> None:
    assert parse_duration(MAX_SECONDS) == MAX_SECONDS
    assert parse_duration("36525d") == MAX_SECONDS


def test_a_bool_is_not_a_number_of_seconds_even_when_zero_is_allowed() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(True, zero=True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (0.4, "0s"),
        (1.6, "2s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1m30s"),
        (3600, "1h"),
        (DAY, "1d"),
        (DAY + 1, "1d1s"),
        (7 * DAY, "1w"),
        (15 * DAY + 3661, "2w1d1h1m1s"),
    ],
)
def test_format_duration_is_the_shortest_exact_spelling(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    if seconds >= 1:
        assert parse_duration(text) == round(seconds)


# -- moments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("now", NOW),
        (" NOW ", NOW),
        ("7d", NOW - 7 * DAY),
        ("-7d", NOW - 7 * DAY),
        ("+1h", NOW + 3600),
        ("now-12h", NOW - 12 * 3600),
        ("now - 12h", NOW - 12 * 3600),
        ("now+1d", NOW + DAY),
        ("now 1d", NOW - DAY),  # no sign after `now` is "ago", as without it
        ("- 1h30m", NOW - 5400),
    ],
)
def test_relative_moments(text: str, moment: float) -> None:
    assert parse_moment(text, NOW) == moment


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-09-01", "2026-09-01T00:00:00+00:00"),
        ("2026-09-01T06:00Z", "2026-09-01T06:00:00+00:00"),
        ("2026-09-01T06:00z", "2026-09-01T06:00:00+00:00"),
        ("2026-09-01T06:00", "2026-09-01T06:00:00+00:00"),  # no zone: UTC
        ("2026-09-01T08:00+02:00", "2026-09-01T06:00:00+00:00"),
        ("  2026-09-01T06:00:00.5Z ", "2026-09-01T06:00:00.5+00:00"),
    ],
)
def test_absolute_moments(text: str, iso: str) -> None:
    assert parse_moment(text, NOW) == parse_iso(iso)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "last week",
        "yesterday",
        "now-",
        "now+soon",
        "7",
        "2026-13-01",
        "2026-02-30",
        "01/09/2026",
        "9999-12-31T23:59:59-01:00",  # past the year 9999 in UTC: no date can be written
    ],
)
def test_what_is_no_moment_names_the_forms_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="is neither a date") as caught:
        parse_moment(text, NOW)
    message = str(caught.value)
    assert "2026-09-01" in message and "7d or -7d ago" in message
    assert "\n" not in message


def test_a_relative_moment_longer_than_a_hundred_years_is_refused() -> None:
    with pytest.raises(ValueError, match="is neither a date"):
        parse_moment("-36526d", NOW)
