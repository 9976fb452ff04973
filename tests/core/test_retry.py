"""harvester.retry on its own: the back-off's floor, ceiling and jitter, the retry loop, and
Retry-After in both of its forms, at the edges (pure)."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from harvester._core.retry import MAX_RETRY_AFTER, Retries, backoff_delay, parse_retry_after

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Extreme(random.Random):
    """A random source that always draws the low or the high end."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def bounds(attempt: int, base: float, cap: float) -> tuple[float, float]:
    return (
        backoff_delay(attempt, base, cap, Extreme(high=False)),
        backoff_delay(attempt, base, cap, Extreme(high=True)),
    )


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [
        (0, 1.0, 2.0),
        (1, 2.0, 4.0),
        (2, 4.0, 8.0),
        (3, 8.0, 16.0),
        (4, 15.0, 30.0),
        (50, 15.0, 30.0),
    ],
)
def test_each_attempt_doubles_the_step_up_to_the_cap(attempt: int, low: float, high: float) -> None:
    assert bounds(attempt, base=2.0, cap=30.0) == (low, high)


@pytest.mark.parametrize("attempt", [64, 1023, 1024, 10**6])
def test_any_number_of_attempts_waits_at_most_the_cap(attempt: int) -> None:
    assert bounds(attempt, base=2.0, cap=30.0) == (15.0, 30.0)  # never an OverflowError


def test_a_negative_attempt_counts_as_the_first() -> None:
    assert bounds(-3, base=2.0, cap=30.0) == bounds(0, base=2.0, cap=30.0)


def test_the_cap_holds_even_below_the_base() -> None:
    assert bounds(0, base=10.0, cap=4.0) == (2.0, 4.0)


def test_a_zero_base_never_waits() -> None:
    assert bounds(5, base=0.0, cap=30.0) == (0.0, 0.0)


def test_jitter_stays_between_half_and_the_whole_step_and_is_reproducible() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(2, 1.0, 60.0, rng) for _ in range(500)]
    assert all(2.0 <= delay <= 4.0 for delay in delays)
    assert len(set(delays)) > 400  # random: many clients do not retry in step
    again = random.Random(1)
    assert [backoff_delay(2, 1.0, 60.0, again) for _ in range(500)] == delays


# -- Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "12s", "1,5", "0x10", "Tomorrow 10am"])
def test_absent_or_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("120", 120.0), (" 30 \t", 30.0), ("1.5", 1.5), ("+7", 7.0), ("-0", 0.0)],
)
def test_delta_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_the_longest_pause_is_a_day_to_the_second() -> None:
    assert parse_retry_after(str(MAX_RETRY_AFTER), NOW) == MAX_RETRY_AFTER
    assert parse_retry_after(str(MAX_RETRY_AFTER + 1), NOW) == MAX_RETRY_AFTER


def test_an_http_date_is_seconds_from_now() -> None:
    assert parse_retry_after(formatdate(NOW + 90, usegmt=True), NOW) == 90.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", NOW) == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 01:00:00 +0100", NOW) == 0.0  # a zone is honoured


def test_an_http_date_in_the_past_means_now() -> None:
    assert parse_retry_after(formatdate(NOW - 3600, usegmt=True), NOW) == 0.0


def test_an_http_date_far_ahead_is_cut_to_a_day() -> None:
    assert parse_retry_after(formatdate(NOW + 30 * 86400, usegmt=True), NOW) == MAX_RETRY_AFTER


@pytest.mark.parametrize(
    "value", ["Thu, 32 Jan 2026 00:00:00 GMT", "Fri, 01 Foo 2026 00:00:00 GMT", "Thu, 01 Jan"]
)
def test_a_broken_http_date_is_none(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


# -- Retries: the loop -------------------------------------------------------------------------


class Waits:
    """The `wait` a Retries is given: records each wait; says stop from the `stop_at`-th on."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.seconds: list[float] = []
        self.stop_at = stop_at

    def __call__(self, seconds: float) -> bool:
        self.seconds.append(seconds)
        return self.stop_at is not None and len(self.seconds) >= self.stop_at


def test_retries_yields_each_attempt_and_waits_only_between_them() -> None:
    waits = Waits()
    attempts = list(Retries(4, 2.0, 30.0, Extreme(high=True), waits))
    assert attempts == [0, 1, 2, 3]
    assert waits.seconds == [2.0, 4.0, 8.0]  # the back-off of attempts 0, 1, 2: none first


@pytest.mark.parametrize("count", [0, 1])
def test_one_attempt_or_none_never_waits(count: int) -> None:
    waits = Waits()
    assert list(Retries(count, 1.0, 10.0, random.Random(0), waits)) == list(range(count))
    assert waits.seconds == []


def test_a_wait_that_says_stop_ends_the_attempts() -> None:
    waits = Waits(stop_at=2)
    assert list(Retries(10, 1.0, 10.0, Extreme(high=False), waits)) == [0, 1]
    assert len(waits.seconds) == 2  # the second wait was cut short: no third attempt


def test_a_server_given_wait_replaces_the_next_back_off_only() -> None:
    waits = Waits()
    retries = Retries(4, 2.0, 30.0, Extreme(high=True), waits)
    for attempt in retries:
        if attempt == 0:
            retries.after(42.0)  # a Retry-After on the first failure
        if attempt == 1:
            retries.after(None)  # a failure without one: the back-off again
    assert waits.seconds == [42.0, 4.0, 8.0]


def test_the_loop_can_be_left_by_the_caller_on_success() -> None:
    waits = Waits()
    for attempt in Retries(5, 1.0, 10.0, random.Random(0), waits):
        if attempt == 2:
            break
    assert len(waits.seconds) == 2
