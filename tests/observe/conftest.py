"""Fixtures of the observing tests: a webhook receiver, and a service that alerts to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harvester._core.clock import ManualClock
from harvester.simulator import Simulator
from tests.helpers import wait_for
from tests.observe.receiver import Receiver
from tests.observe.test_web import Running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def alerting(
    tmp_path: Path, sim: Simulator, clock: ManualClock, receiver: Receiver
) -> Iterator[Callable[[str], Running]]:
    """Start a service with its endpoint on `jobs` (a jobs.yaml text of two due jobs), its
    alerts going to `receiver`, once both first runs are in."""
    started: list[Running] = []

    def start(jobs: str) -> Running:
        r = Running(tmp_path, sim, clock, alert_webhook=receiver.url)
        started.append(r)
        r.service.jobs_path.write_text(jobs)
        r.runtime.session.login()
        r.start()
        wait_for(lambda: len(r.service.outcomes) == 2)
        return r

    yield start
    for r in started:
        r.close()
