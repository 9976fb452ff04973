"""A refused edit of jobs.yaml is visible, not only logged: the service keeps its jobs, and
`harvester jobs` lists them under one line naming the refusal, /healthz is degraded with that
line, the dashboard shows a banner, `harvester_config_rejected` is 1, and one alert goes out and
is resolved once a good file is loaded. A reload's log tells a disabled job from a removed one."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harvester._core.logs import configure_logging
from harvester.simulator import Simulator
from tests.helpers import CliResult, env_for
from tests.observe.receiver import Receiver, alerts
from tests.observe.test_web import Running

GOOD = """\
jobs:
  info: {endpoint: member/info, every: 1h}
  cats: {endpoint: constants/categories, every: 1h}
  catalog: {endpoint: doc, every: 1d, enabled: false}
"""
BROKEN = GOOD.replace("every: 1h}\n  cats", "every: soon}\n  cats")


@pytest.fixture
def running(alerting: Callable[[str], Running]) -> Running:
    return alerting(GOOD)


def metric(running: Running, name: str) -> float:
    families = text_string_to_metric_families(running.get("/metrics").text)
    [value] = [s.value for f in families for s in f.samples if s.name == name]
    return float(value)


def test_a_refused_edit_shows_everywhere_until_a_good_file_is_loaded(
    running: Running, receiver: Receiver, run_cli: Callable[..., CliResult]
) -> None:
    service = running.service
    assert metric(running, "harvester_config_rejected") == 0
    assert running.get("/healthz").json()["jobs_file"]["state"] == "ok"
    running.service.jobs_path.write_text(BROKEN)
    assert service.reload() is False
    line = f"{running.service.jobs_path}:2: jobs.info.every: 'soon' is not a duration"
    assert service.config_rejected is not None and service.config_rejected.startswith(line)
    assert set(service.scheduler.next_runs()) == {"info", "cats"}  # the jobs keep running

    health = running.get("/healthz")
    assert health.status_code == 200  # degraded, not unhealthy: the old jobs still run
    body = health.json()
    assert body["status"] == "degraded"
    assert body["jobs_file"]["state"] == "rejected"
    assert body["jobs_file"]["rejected"].startswith(line)

    assert metric(running, "harvester_config_rejected") == 1
    page = running.get("/", headers={"Authorization": "Bearer x"}).text
    assert "id=config-rejected" in page and "jobs.info.every" in page

    listed = run_cli("jobs", env=env_for(running.settings))
    assert listed.code == 0, listed.err
    top, *table = listed.out.splitlines()
    assert top.startswith("jobs file refused, the service runs the jobs it accepted before: ")
    assert line in top
    assert [row.split()[0] for row in table[2:]] == ["info", "cats", "catalog"]
    as_json = run_cli("jobs", "--format", "json", env=env_for(running.settings))
    assert line in as_json.err and [j["job"] for j in json.loads(as_json.out)][:2] == [
        "info",
        "cats",
    ]

    assert len(alerts(running, receiver)) == 1
    assert len(alerts(running, receiver)) == 1  # still refused: said once
    raised = receiver.texts()[0]
    assert "an edit of the jobs file was refused" in raised and "jobs.info.every" in raised
    assert "keeps running the 2 job(s)" in raised

    running.service.jobs_path.write_text(GOOD.replace("every: 1h}\n  cats", "every: 2h}\n  cats"))
    assert service.reload() is True
    assert service.config_rejected is None
    assert running.get("/healthz").json()["jobs_file"]["state"] == "ok"
    assert metric(running, "harvester_config_rejected") == 0
    assert "config-rejected" not in running.get("/").text
    texts = alerts(running, receiver)
    assert len(texts) == 2 and "the jobs file was accepted again" in texts[1]
    assert run_cli("jobs", env=env_for(running.settings)).out.startswith("job ")
    configure_logging("INFO", "json", io.StringIO())  # not into the command's closed stderr


def test_a_refused_file_with_no_service_running_is_the_error_it_is(
    tmp_path: Path, sim: Simulator, run_cli: Callable[..., CliResult]
) -> None:
    from tests.helpers import make_settings

    settings = make_settings(tmp_path, sim.base_url)
    settings.jobs_path.write_text(BROKEN)
    result = run_cli("jobs", env=env_for(settings))
    assert result.code == 2 and result.out == ""
    assert result.err.startswith(f"harvester: error: {settings.jobs_path}:2: jobs.info.every")


def test_a_reload_log_tells_a_disabled_job_from_a_removed_one(running: Running) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    running.service.jobs_path.write_text(
        "jobs:\n  info: {endpoint: member/info, every: 1h, enabled: false}\n"
        "  catalog: {endpoint: doc, every: 1d, enabled: false}\n"
    )
    assert running.service.reload() is True
    [reloaded] = [
        json.loads(line)
        for line in stream.getvalue().splitlines()
        if json.loads(line)["event"] == "jobs.reloaded"
    ]
    assert reloaded["disabled"] == ["info"] and reloaded["removed"] == ["cats"]
    assert reloaded["added"] == [] and reloaded["jobs"] == 0


def test_an_edit_that_makes_a_cycle_is_refused_with_its_line(running: Running) -> None:
    jobs = running.service.jobs_path
    jobs.write_text(
        GOOD.replace("every: 1h}\n  cats", "every: 1h, after: cats}\n  cats").replace(
            "constants/categories, every: 1h}", "constants/categories, every: 1h, after: info}"
        )
    )
    assert running.service.reload() is False
    assert running.service.config_rejected == (
        f"{jobs}:2: jobs.info.after: the jobs form a cycle (info -> cats -> info): each one's "
        "runs would start the next, without end"
    )
    body = running.get("/healthz").json()
    assert body["status"] == "degraded" and "cycle" in body["jobs_file"]["rejected"]
