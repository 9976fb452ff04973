"""The rate budget: headers read carefully, waits on our clock, no overrun between threads."""

from __future__ import annotations

import threading
from email.utils import formatdate

from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock
from harvester._fetch.ratelimit import RateBudget, parse_rate_headers


def headers(remaining: int, reset: float, date: float | None = None) -> dict[str, str]:
    values = {
        "x-ratelimit-limit": "240",
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset),
    }
    if date is not None:
        values["date"] = formatdate(date, usegmt=True)
    return values


def test_the_reset_is_moved_onto_our_clock_with_the_date_header() -> None:
    now = 1_000_000.0
    # the server's clock is 100 s ahead of ours: its reset, 30 s from its now, is 30 s from ours
    state = parse_rate_headers(headers(10, now + 130, date=now + 100), now)
    assert state is not None and state.reset_at == now + 30
    behind = parse_rate_headers(headers(10, now - 70, date=now - 100), now)
    assert behind is not None and behind.reset_at == now + 30


def test_unbelievable_headers_are_ignored() -> None:
    now = 1_000_000.0
    for bad in ("inf", "nan", "-inf", "1e400", str(now + 10**9), "soon"):
        assert parse_rate_headers({**headers(1, 0), "x-ratelimit-reset": bad}, now) is None
    assert parse_rate_headers({**headers(1, now), "x-ratelimit-remaining": "-5"}, now) is None
    assert parse_rate_headers({}, now) is None


def test_the_budget_waits_for_the_reset_when_spent() -> None:
    clock = ManualClock()
    budget = RateBudget(clock, margin=1, reset_pad=0.5)
    cancel = CancelToken(clock)
    budget.acquire(cancel)
    budget.update(headers(2, clock.now() + 40))
    budget.acquire(cancel)  # remaining 2 -> 1 (the margin): allowed
    start = clock.now()
    budget.acquire(cancel)  # spent: waits past the reset
    assert clock.now() >= start + 40.5


def test_threads_cannot_overrun_the_window_between_answers() -> None:
    clock = ManualClock()
    budget = RateBudget(clock, margin=0)
    budget.update(headers(10, clock.now() + 60))
    granted: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        budget.acquire(CancelToken(clock))
        with lock:
            granted.append(clock.now())

    threads = [threading.Thread(target=take) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    start = granted[0]
    assert sum(1 for t in granted if t < start + 60) == 10  # ten in the window, no more


def test_a_429_waits_until_the_reset_with_jitter() -> None:
    clock = ManualClock()
    budget = RateBudget(clock)
    wait = budget.on_429(headers(0, clock.now() + 20))
    assert 20 <= wait <= 23
    assert budget.received_429 == 1
