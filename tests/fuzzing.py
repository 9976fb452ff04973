"""What the property-based tests (tests/test_fuzz_*.py) share: how many examples to draw.

`make test` replays: derandomized, the same examples each time and no example database, so CI
reproduces any failure; bugs found are pinned with `@example`. `make chaos` searches:
HYPOTHESIS_PROFILE=search (tests/conftest.py) draws new examples every time, ten times as many,
and keeps what fails in .hypothesis/ to replay it first next time.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

SEARCHING = not settings().derandomize  # the profile conftest loaded: "replay" or "search"


def examples(count: int) -> int:
    """How many examples to draw: `count` in the replay, ten times as many in a search."""
    return count * 10 if SEARCHING else count


FAST = settings(max_examples=examples(300))
WITH_FIXTURES = settings(
    FAST,
    max_examples=examples(150),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
