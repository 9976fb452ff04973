"""A full disk is an outage, not a log line: a run the database refuses to record makes the
active service's /healthz answer 503 with the reason, counts in
`harvester_runs_not_recorded_total{job}` and raises one alert, all until a run is recorded
again (then one all-clear). The disk fills at the store boundary (`tests.helpers.FullDisk`: each
write's commit fails as SQLite's does on a full disk); the clock is the test's."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from harvester._core.clock import ManualClock
from harvester._observe.web.health import HealthFacts, assess
from tests.helpers import FullDisk
from tests.observe.receiver import Receiver, alerts
from tests.observe.test_web import Running

JOBS = """\
jobs:
  info: {endpoint: member/info, every: 1h}
  cats: {endpoint: constants/categories, every: 1h}
  catalog: {endpoint: doc, every: 1d, enabled: false}
"""


@pytest.fixture
def running(alerting: Callable[[str], Running]) -> Running:
    return alerting(JOBS)


def not_recorded(running: Running) -> dict[str, float]:
    """harvester_runs_not_recorded_total by job, as /metrics shows it."""
    families = text_string_to_metric_families(running.get("/metrics").text)
    return {
        s.labels["job"]: s.value
        for f in families
        for s in f.samples
        if s.name == "harvester_runs_not_recorded_total"
    }


def runs(running: Running) -> int:
    with running.runtime.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM runs")).scalar_one())


def test_runs_that_cannot_be_recorded_are_an_outage_until_one_is(
    running: Running, receiver: Receiver, clock: ManualClock
) -> None:
    pipeline = running.service.pipeline
    disk = FullDisk(running.runtime.engine)
    before = runs(running)
    assert running.get("/healthz").json()["recording"] == "ok"
    assert not_recorded(running) == {}

    disk.full = True
    outcome = pipeline.run_job("info")
    assert outcome is not None and not outcome.recorded and outcome.status == "failed"
    assert outcome.error is not None and "database or disk is full" in outcome.error
    assert disk.refused >= 1

    health = running.get("/healthz")
    assert health.status_code == 503
    body = health.json()
    [reason] = [r for r in body["reasons"] if "cannot be recorded" in r]
    assert "job info" in reason and "database or disk is full" in reason
    assert body["recording"].startswith("since ") and not body["ready"]
    assert running.get("/readyz").status_code == 503
    assert not_recorded(running) == {"info": 1}

    texts = alerts(running, receiver)
    assert len(texts) == 1
    assert "runs cannot be recorded in the database" in texts[0]
    assert "database or disk is full" in texts[0] and "job info" in texts[0]

    clock.advance(600)
    cats = pipeline.run_job("cats")
    assert cats is not None and not cats.recorded
    assert not_recorded(running) == {"info": 1, "cats": 1}
    assert "job cats" in running.get("/healthz").json()["recording"]
    assert len(alerts(running, receiver)) == 1  # still the same outage: said once
    assert runs(running) == before  # nothing of them was written

    disk.full = False
    again = pipeline.run_job("info")
    assert again is not None and again.ok and again.recorded
    health = running.get("/healthz")
    assert health.status_code == 200 and health.json()["recording"] == "ok"
    assert not_recorded(running) == {"info": 1, "cats": 1}  # a counter: it stays
    texts = alerts(running, receiver)
    assert len(texts) == 2 and "runs are recorded in the database again" in texts[1]
    assert runs(running) == before + 1


def test_a_standby_never_reports_it() -> None:
    facts = HealthFacts(
        now=0.0,
        heartbeat_age=0.0,
        stall_after=60.0,
        session=None,
        maintenance_until=None,
        maintenance_since=None,
        failing=(),
        role="standby",
        not_recorded="since 1970-01-01T00:00:00Z; last: job info, database or disk is full",
    )
    health = assess(facts)
    assert health.http_status == 200 and health.body["recording"] == "ok"
    active = assess(HealthFacts(**{**facts.__dict__, "role": "active"}))
    assert active.http_status == 503 and "cannot be recorded" in active.body["reasons"][-1]
