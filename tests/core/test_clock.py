"""_core.clock on its own: the manual clock tests run on, HARVESTER_CLOCK specs, and the
time texts (ISO-8601 both ways, HTTP dates) at their edges. Nothing here waits for real time."""

from __future__ import annotations

import threading

import pytest

from harvester._core.clock import (
    ManualClock,
    ScaledClock,
    SystemClock,
    iso,
    iso_seconds,
    parse_clock,
    parse_http_date,
    parse_iso,
)

NEW_YEAR = 1_767_225_600.0  # 2026-01-01T00:00:00Z

# -- ManualClock -------------------------------------------------------------------------------


def test_a_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock()
    assert clock.now() == NEW_YEAR  # its default start
    clock.advance(90.5)
    assert clock.now() == NEW_YEAR + 90.5
    clock.set(0.0)
    assert clock.now() == 0.0


def test_a_manual_sleep_passes_its_time_at_once() -> None:
    clock = ManualClock(100.0)
    assert clock.sleep(30) is False
    assert clock.now() == 130.0
    assert clock.sleep(-5) is False  # a negative wait is no wait, never time going back
    assert clock.now() == 130.0


def test_a_manual_sleep_that_is_stopped_passes_no_time() -> None:
    clock = ManualClock(100.0)
    stop = threading.Event()
    stop.set()
    assert clock.sleep(30, stop) is True
    assert clock.now() == 100.0


def test_waiters_on_a_manual_clock_poll_briefly() -> None:
    assert ManualClock().real_seconds(3600) == 0.01
    assert ManualClock().real_seconds(0.001) == 0.001


def test_a_system_sleep_of_nothing_does_not_wait_but_reports_stop() -> None:
    stop = threading.Event()
    assert SystemClock().sleep(0, stop) is False
    stop.set()
    assert SystemClock().sleep(-1, stop) is True
    assert SystemClock().sleep(3600, stop) is True  # already stopped: returns at once


# -- HARVESTER_CLOCK ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["", "system", "  system  "])
def test_the_system_clock_specs(spec: str) -> None:
    assert isinstance(parse_clock(spec), SystemClock)


def test_a_scaled_clock_spec_round_trips() -> None:
    clock = parse_clock("scaled:240@1767225600")
    assert isinstance(clock, ScaledClock)
    assert (clock.factor, clock.origin) == (240.0, NEW_YEAR)
    assert clock.spec() == "scaled:240@1767225600.000"
    again = parse_clock(clock.spec())
    assert isinstance(again, ScaledClock) and (again.factor, again.origin) == (240.0, NEW_YEAR)
    assert clock.real_seconds(240) == 1.0


@pytest.mark.parametrize(
    "spec",
    ["scaled:0", "scaled:-2", "scaled:2e6", "scaled:10@1e12", "scaled:nan", "fast", "scaled:x"],
)
def test_bad_clock_specs_are_value_errors(spec: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - float() or the range check, each one line
        parse_clock(spec)


def test_a_scaled_clock_needs_a_positive_factor() -> None:
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)


# -- ISO-8601 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (NEW_YEAR, "2026-01-01T00:00:00.000Z"),
        (NEW_YEAR + 0.5, "2026-01-01T00:00:00.500Z"),
        (NEW_YEAR + 59.999, "2026-01-01T00:00:59.999Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_iso_is_utc_to_the_millisecond(epoch: float, text: str) -> None:
    assert iso(epoch) == text


def test_iso_seconds_cuts_never_rounds_up() -> None:
    assert iso_seconds(NEW_YEAR + 59.999) == "2026-01-01T00:00:59Z"
    assert iso_seconds(NEW_YEAR - 0.001) == "2025-12-31T23:59:59Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00z",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T01:00:00+01:00",
        "2025-12-31T19:00:00-05:00",
        "2026-01-01T00:00:00",  # no zone: UTC
        "2026-01-01",
        " 2026-01-01T00:00Z ",
    ],
)
def test_parse_iso_reads_every_zone(text: str) -> None:
    assert parse_iso(text) == NEW_YEAR


def test_parse_iso_and_iso_seconds_round_trip() -> None:
    assert parse_iso(iso_seconds(NEW_YEAR + 12345)) == NEW_YEAR + 12345
    assert parse_iso(iso(NEW_YEAR + 1.25)) == NEW_YEAR + 1.25


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "2026-01-01T25:00Z"])
def test_parse_iso_refuses_what_is_no_time(text: str) -> None:
    with pytest.raises(ValueError, match=r"isoformat|month|hour"):
        parse_iso(text)


# -- HTTP dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Thu, 01 Jan 2026 00:00:00 GMT",  # the IMF-fixdate servers send
        "Thursday, 01-Jan-26 00:00:00 GMT",  # RFC 850, obsolete but allowed
        "Thu Jan  1 00:00:00 2026",  # asctime, obsolete but allowed
        "Thu, 01 Jan 2026 01:00:00 +0100",
    ],
)
def test_http_dates_in_every_form(text: str) -> None:
    assert parse_http_date(text) == NEW_YEAR


@pytest.mark.parametrize(
    "text", [None, "", "soon", "120", "Thu, 32 Jan 2026 00:00:00 GMT", "Thu, 01 Jan", "\x00"]
)
def test_an_unreadable_http_date_is_none(text: str | None) -> None:
    assert parse_http_date(text) is None


def test_iso_seconds_is_what_datetime_writes_for_any_time() -> None:
    """The fast path (gmtime) and datetime agree, the half-microsecond before a second too."""
    import random
    from datetime import UTC, datetime

    from harvester._core.clock import iso_seconds

    rng = random.Random(7)
    moments = [rng.uniform(0, 4_102_444_800) for _ in range(2000)]
    moments += [1_767_225_599.9999996, 1_767_225_599.9999994, 0.0, 86_399.9999999, 1e9]
    for epoch in moments:
        expected = datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert iso_seconds(epoch) == expected, epoch
