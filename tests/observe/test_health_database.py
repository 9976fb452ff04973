"""/healthz when the database does not answer: 503 with the reason on every role (never 500,
never a probe left hanging), the session reported unknown rather than "logged out"."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from harvester._core.clock import ManualClock
from harvester._observe.web import watch as watch_module
from harvester._observe.web.health import HealthFacts, SessionFacts, assess
from harvester._observe.web.watch import BoundedReads
from harvester._service.runtime import open_runtime
from harvester._service.service import Service, ServiceOptions
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import make_settings, server_of, wait_for, watch_of

SESSION = SessionFacts(True, False, 2e9, 2e9, None, None, True)


@pytest.mark.parametrize("role", ["active", "standby", "stepped_down", "starting"])
def test_a_database_that_does_not_answer_is_unhealthy_on_every_role(role: str) -> None:
    health = assess(
        HealthFacts(
            now=1e9,
            heartbeat_age=0.5,
            stall_after=60,
            session=None,
            maintenance_until=None,
            maintenance_since=None,
            failing=(),
            role=role,
            database="the database did not answer within 3 s",
        )
    )
    assert health.http_status == 503 and health.ready_status == 503
    assert (
        "the database does not answer: the database did not answer within 3 s"
        in (health.body["reasons"])
    )
    assert health.body["session"]["state"] == "unknown (the database could not be read)"
    assert health.body["database"] == "the database did not answer within 3 s"


def test_a_standby_is_healthy_while_its_database_answers() -> None:
    facts = HealthFacts(1e9, 0.5, 60, SESSION, None, None, (), role="standby")
    health = assess(facts)
    assert (health.http_status, health.body["database"]) == (200, "ok")


def test_reads_are_waited_for_a_bounded_time_and_a_stuck_one_is_not_stacked() -> None:
    reads = BoundedReads(0.05)
    release = threading.Event()
    calls: list[int] = []

    def stuck() -> int:
        calls.append(1)
        release.wait(30)
        return 1

    assert reads.run(stuck) == (None, "the database did not answer within 0.05 s")
    found, problem = reads.run(stuck)
    assert found is None and problem is not None
    assert problem.startswith("the database has not answered a read for")
    assert len(calls) == 1  # the second probe did not start another read
    release.set()
    wait_for(lambda: reads.run(lambda: 7) == (7, None))


def test_a_failing_read_is_one_line_without_secrets() -> None:
    def refused() -> int:
        raise OperationalError(
            "SELECT", {}, Exception("could not connect to server\nDETAIL: more lines")
        )

    found, problem = BoundedReads(5).run(refused)
    assert found is None and problem is not None
    assert problem.startswith("the database cannot be read (") and "\n" not in problem


def test_healthz_answers_503_with_the_reason_when_the_reads_fail(
    tmp_path: Path, sim: Simulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jobs.yaml").write_text("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
    settings = make_settings(tmp_path, sim.base_url, http=("127.0.0.1", 0))
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
        service = Service(rt, tmp_path / "jobs.yaml", ServiceOptions(heartbeat_interval=0.05))
        service.start()
        thread = threading.Thread(target=service.serve, daemon=True)
        thread.start()
        try:
            wait_for(lambda: watch_of(service)._beat is not None)
            url = f"{server_of(service).url}/healthz"
            assert httpx.get(url, timeout=10).status_code == 200

            def unreachable(*_: object) -> object:
                raise OperationalError("SELECT", {}, Exception("server closed the connection"))

            monkeypatch.setattr(watch_module, "failing_jobs", unreachable)
            down = httpx.get(url, timeout=10)
            assert down.status_code == 503
            (reason,) = down.json()["reasons"]
            assert reason.startswith("the database does not answer: the database cannot be read")
        finally:
            service.request_stop()
            thread.join(10)
            service.stop()
