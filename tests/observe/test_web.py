"""The service's HTTP endpoint against a running service and the simulator: /healthz follows the
session, /metrics parses and matches the runs table, the dashboard and /api answer, and the
token guards every path but /healthz."""

from __future__ import annotations

import base64
import dataclasses
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from harvester._config.settings import Settings, load_settings, parse_http_address
from harvester._core.clock import ManualClock
from harvester._core.errors import ConfigError
from harvester._observe.web.health import SessionFacts
from harvester._observe.web.server import authorised, is_loopback
from harvester._service.runtime import Runtime, open_runtime
from harvester._service.service import Service, ServiceOptions
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import make_settings, server_of, wait_for, watch_of

JOBS = """\
jobs:
  info: {endpoint: member/info, every: 1h}
  broken: {endpoint: member/no_such_endpoint, every: 1h}
  catalog: {endpoint: doc, every: 1d, enabled: false}
"""


class Running:
    """A service with its endpoint on 127.0.0.1:<ephemeral>, over the simulator."""

    def __init__(self, tmp_path: Path, sim: Simulator, clock: ManualClock, **settings: object):
        (tmp_path / "jobs.yaml").write_text(textwrap.dedent(JOBS))
        values: dict[str, object] = {"http": ("127.0.0.1", 0), **settings}
        self.settings = make_settings(tmp_path, sim.base_url, **values)
        self.sim = sim
        self.clock = clock
        self.runtime = open_runtime(self.settings, transport=SimulatorTransport(sim), clock=clock)
        self.service = Service(
            self.runtime, tmp_path / "jobs.yaml", ServiceOptions(heartbeat_interval=0.05)
        )

    def start(self) -> Running:
        import threading

        self.service.start()
        self._thread = threading.Thread(target=self.service.serve, daemon=True)
        self._thread.start()
        wait_for(lambda: watch_of(self.service)._beat is not None)
        return self

    @property
    def url(self) -> str:
        return str(server_of(self.service).url)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kwargs)

    def other_process(self) -> Runtime:
        """What `harvester auth login/logout` in another process would use: same database."""
        return open_runtime(self.settings, transport=SimulatorTransport(self.sim), clock=self.clock)

    def close(self) -> None:
        if not self.service.stopping.is_set():
            self.service.request_stop()
            self._thread.join(10)
            self.service.stop()
        self.runtime.close()


@pytest.fixture
def running(tmp_path: Path, sim: Simulator, clock: ManualClock) -> Iterator[Running]:
    r = Running(tmp_path, sim, clock)
    r.runtime.session.login()
    r.start()
    wait_for(lambda: len(r.service.outcomes) == 2)
    yield r
    r.close()


def runs_table(rt: Runtime) -> dict[tuple[str, str], int]:
    with rt.engine.connect() as conn:
        rows = conn.execute(text("SELECT job, status, count(*) FROM runs GROUP BY job, status"))
        return {(job, status): n for job, status, n in rows}


# -- /healthz ----------------------------------------------------------------------------------


def test_healthz_turns_503_when_the_session_is_revoked_and_back_when_restored(
    running: Running,
) -> None:
    ok = running.get("/healthz")
    assert ok.status_code == 200
    body = ok.json()
    assert body["status"] == "degraded"  # `broken` fails: reported, not unhealthy
    assert body["session"]["state"] == "ok"
    assert body["failing_jobs"] == [{"job": "broken", "failed_runs_in_a_row": 1}]
    assert body["maintenance"]["paused"] is False
    assert 0 <= body["heartbeat_age_seconds"] < 30

    with running.other_process() as other:
        other.session.logout()  # `harvester auth logout`
        down = running.get("/healthz")
        assert down.status_code == 503
        assert down.json()["status"] == "unhealthy"
        assert any("no usable session: logged out" in r for r in down.json()["reasons"])
        other.session.login()  # `harvester auth login`
    assert running.get("/healthz").status_code == 200


def test_healthz_reports_blocked_password_logins(running: Running, clock: ManualClock) -> None:
    store = running.runtime.store
    with store.locked() as conn:
        store.block_password_grants(conn, clock.now() + 3600, "unauthorized_client")
    down = running.get("/healthz")
    assert down.status_code == 503
    assert any("password logins blocked until" in r for r in down.json()["reasons"])


def test_the_session_verdicts() -> None:
    def facts(**changes: Any) -> SessionFacts:
        usual = SessionFacts(
            stored=True,
            foreign=False,
            access_expires_at=1000.0,
            refresh_expires_at=100_000.0,
            blocked_until=None,
            block_reason=None,
            has_credentials=True,
        )
        return dataclasses.replace(usual, **changes)

    assert facts().problem(500) is None
    assert facts().problem(5000) is None  # the access token expired: a refresh renews it
    assert "refresh token expired" in (facts().problem(200_000) or "")
    assert "logged out" in (facts(stored=False).problem(0) or "")
    assert "another client" in (facts(stored=False, foreign=True).problem(0) or "")
    assert "cannot be read" in (facts(unreadable="key missing").problem(0) or "")
    assert not facts().refresh_expiring(0)  # 100 000 s away
    assert not facts().refresh_expiring(50_000)  # within a day, but a password login renews it
    assert facts(has_credentials=False).refresh_expiring(50_000)
    assert facts(blocked_until=60_000.0).refresh_expiring(50_000)


def test_a_stalled_scheduler_loop_is_unhealthy(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = watch_of(running.service)
    monkeypatch.setattr(watch, "heartbeat", lambda: None)  # the loop stops beating ...
    beat = watch._beat
    assert beat is not None
    watch._monotonic = lambda: beat + 600  # ... and ten minutes pass
    down = running.get("/healthz")
    assert down.status_code == 503
    assert any("the scheduler loop stalled" in r for r in down.json()["reasons"])


def test_maintenance_is_reported_not_unhealthy(running: Running) -> None:
    running.runtime.pause.enter()
    watch_of(running.service).check()
    body = running.get("/healthz")
    assert body.status_code == 200
    assert body.json()["maintenance"]["paused"] is True
    assert body.json()["maintenance"]["since"] is not None


# -- /metrics ------------------------------------------------------------------------------------


def test_metrics_parse_and_the_run_counters_match_the_runs_table(running: Running) -> None:
    response = running.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    expected = {
        "harvester_runs",
        "harvester_run_duration_seconds",
        "harvester_requests",
        "harvester_http_responses",
        "harvester_ratelimit_remaining",
        "harvester_ratelimit_limit",
        "harvester_token_expiry_seconds",
        "harvester_password_grants",
        "harvester_maintenance_paused",
        "harvester_job_last_success_timestamp_seconds",
        "harvester_archive_documents",
        "harvester_archive_bytes",
    }
    assert expected <= set(families)
    runs = {
        (s.labels["job"], s.labels["status"]): s.value
        for s in families["harvester_runs"].samples
        if s.name == "harvester_runs_total"
    }
    assert runs == runs_table(running.runtime)
    assert runs == {("info", "success"): 1, ("broken", "not_found"): 1}
    requests = {
        s.labels["kind"]: s.value
        for s in families["harvester_requests"].samples
        if s.name == "harvester_requests_total"
    }
    assert requests["data"] >= 2
    assert set(requests) == {"data", "link", "chunk", "token"}
    statuses = {s.labels["status"] for s in families["harvester_http_responses"].samples}
    assert {"200", "404"} <= statuses
    expiry = {
        s.labels["token"]: s.value for s in families["harvester_token_expiry_seconds"].samples
    }
    assert 0 < expiry["access"] <= 600
    grants = families["harvester_password_grants"].samples[0]
    assert grants.name == "harvester_password_grants_total" and grants.value == 1
    counts = [
        s
        for s in families["harvester_run_duration_seconds"].samples
        if s.name == "harvester_run_duration_seconds_count"
    ]
    assert {s.labels["job"]: s.value for s in counts} == {"info": 1, "broken": 1}
    documents = families["harvester_archive_documents"].samples[0].value
    assert documents >= 1
    assert families["harvester_maintenance_paused"].samples[0].value == 0
    for secret in (running.settings.password, running.settings.client_secret):
        assert secret not in response.text
    tokens = running.runtime.session.current()
    assert tokens is not None and tokens.access_token not in response.text


def test_run_counters_survive_a_restart(tmp_path: Path, sim: Simulator, clock: ManualClock) -> None:
    first = Running(tmp_path, sim, clock)
    first.runtime.session.login()
    first.start()
    wait_for(lambda: len(first.service.outcomes) == 2)
    first.close()
    second = Running(tmp_path, sim, clock).start()
    try:
        families = {f.name: f for f in text_string_to_metric_families(second.get("/metrics").text)}
        runs = {
            (s.labels["job"], s.labels["status"]): s.value
            for s in families["harvester_runs"].samples
        }
        assert runs == runs_table(second.runtime)
        assert sum(runs.values()) >= 2
    finally:
        second.close()


# -- the dashboard and /api ----------------------------------------------------------------------


def test_the_dashboard_is_one_page_with_its_plots_and_no_outside_resource(running: Running) -> None:
    page = running.get("/")
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg class="plot"') >= 5
    assert "info" in html and "broken" in html
    assert "http-equiv=refresh" in html and "width=device-width" in html
    assert "<script" not in html and "http://" not in html.replace(running.url, "")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "not found" in html  # the broken job's error in the last failures


def test_api_status_and_runs(running: Running) -> None:
    status = running.get("/api/status").json()
    assert status["health"]["status"] == "degraded"
    assert {j["job"] for j in status["jobs"]} == {"info", "broken", "catalog"}
    catalog = next(j for j in status["jobs"] if j["job"] == "catalog")
    assert catalog["disabled_because"] == "enabled: false in the jobs file"
    assert status["last_failures"][0]["job"] == "broken"
    runs = running.get("/api/runs", params={"job": "info"}).json()["runs"]
    assert [r["status"] for r in runs] == ["success"]
    assert running.get("/api/runs", params={"limit": "0"}).status_code == 400
    assert running.get("/api/runs", params={"since": "yesterday"}).status_code == 400
    assert running.get("/nowhere").status_code == 404
    assert httpx.post(running.url + "/api/runs").status_code == 405


# -- the token -------------------------------------------------------------------------------------


def test_a_non_loopback_address_needs_a_token_or_the_service_refuses_to_start(
    tmp_path: Path, sim: Simulator, clock: ManualClock
) -> None:
    r = Running(tmp_path, sim, clock, http=("0.0.0.0", 0))  # noqa: S104 (refused: no token)
    try:
        with pytest.raises(ConfigError, match="HARVESTER_HTTP_TOKEN"):
            r.service.start()
        assert r.service.lock.holder() is None  # nothing taken
    finally:
        r.runtime.close()


def test_with_a_token_every_path_but_healthz_needs_it(
    tmp_path: Path, sim: Simulator, clock: ManualClock
) -> None:
    token = "s3cret-token-value"
    r = Running(tmp_path, sim, clock, http_token=token)
    r.runtime.session.login()
    r.start()
    try:
        assert r.get("/healthz").status_code in (200, 503)
        for path in ("/", "/metrics", "/api/status", "/api/runs"):
            refused = r.get(path)
            assert refused.status_code == 401
            assert "Bearer" in refused.headers["www-authenticate"]
            assert r.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert r.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        basic = base64.b64encode(f"me:{token}".encode()).decode()
        assert r.get("/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        for path in ("/", "/metrics", "/api/status", "/healthz"):
            assert token not in r.get(path, headers={"Authorization": f"Bearer {token}"}).text
    finally:
        r.close()


def test_settings_of_the_endpoint() -> None:
    defaults = load_settings({}, env_file=None)
    assert defaults.http == ("127.0.0.1", 8686)
    assert defaults.alert_after == 3
    assert load_settings({"HARVESTER_HTTP": "off"}, env_file=None).http is None
    assert parse_http_address("X", "[::1]:9000") == ("::1", 9000)
    assert parse_http_address("X", "0.0.0.0:80") == ("0.0.0.0", 80)  # noqa: S104
    for bad in ("8686", "localhost:", "host:99999", "host:http"):
        with pytest.raises(ConfigError, match=r"^HARVESTER_HTTP must be HOST:PORT"):
            load_settings({"HARVESTER_HTTP": bad}, env_file=None)
    with pytest.raises(ConfigError, match=r"^HARVESTER_ALERT_AFTER"):
        load_settings({"HARVESTER_ALERT_AFTER": "0"}, env_file=None)
    with pytest.raises(ConfigError) as error:
        load_settings({"HARVESTER_ALERT_WEBHOOK": "hooks.example/T0/secretpart"}, env_file=None)
    assert "secretpart" not in str(error.value)
    settings = Settings(http_token="t0k-v4lue", alert_webhook="https://hook.example/abc")
    assert {"t0k-v4lue", "https://hook.example/abc"} <= set(settings.secrets())
    assert "t0k-v4lue" not in repr(settings) and "hook.example" not in repr(settings)


def test_loopback_and_authorisation_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")  # noqa: S104
    assert authorised("Bearer abc", "abc") and authorised("bearer  abc ", "abc")
    assert not authorised(None, "abc") and not authorised("Bearer abcd", "abc")
    assert not authorised("Basic !!!", "abc") and not authorised("Token abc", "abc")


def test_the_service_answers_its_allowed_host_names_and_refuses_others(
    tmp_path: Path, sim: Simulator, clock: ManualClock
) -> None:
    r = Running(tmp_path, sim, clock, http_allowed_hosts=("dash.example.com",)).start()
    try:
        assert r.get("/api/status", headers={"Host": "dash.example.com"}).status_code == 200
        assert r.get("/api/status", headers={"Host": "localhost:1"}).status_code == 200
        refused = r.get("/api/status", headers={"Host": "rebound.example"})
        assert refused.status_code == 421
        assert "HARVESTER_HTTP_ALLOWED_HOSTS" in refused.json()["error"]
    finally:
        r.close()


def test_between_runs_an_expired_access_token_reads_0_and_is_renewed_next_run(
    running: Running, clock: ManualClock
) -> None:
    """The access token lives 10 min; an hourly job leaves it expired most of the time. The
    metric reads 0 (not minus 50 min), the refresh token held says the next run renews it, and
    the dashboard's card says so in words."""
    clock.advance(1200)  # the access token expired 10 min ago; no run has refreshed it
    families = {f.name: f for f in text_string_to_metric_families(running.get("/metrics").text)}
    expiry = {
        s.labels["token"]: s.value for s in families["harvester_token_expiry_seconds"].samples
    }
    assert expiry["access"] == 0 and expiry["refresh"] > 0
    assert families["harvester_refresh_token_held"].samples[0].value == 1
    page = running.get("/").text
    assert "expired 10 min ago, renewed at the next run" in page
    assert "expired left" not in page
    assert "refresh token</tspan> · expires in 7.0 d" in page
