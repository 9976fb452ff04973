"""The simulator's protocol as iRacing has it: short-lived link signatures, the OAuth service's
other endpoints and methods, scopes, and the error bodies of /data; and `harvester simulate`, the
simulator as a process of its own that harvester logs in to."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from harvester._core.clock import ManualClock, parse_iso
from harvester.simulator import SimConfig, Simulator, SimulatorTransport
from harvester.simulator.config import demo_password_form
from tests.helpers import run_harvester, start_harvester

START = 1_767_225_600.0 + 86_400


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def http(clock: ManualClock) -> Iterator[httpx.Client]:
    sim = Simulator(SimConfig(), clock)
    with httpx.Client(transport=SimulatorTransport(sim), base_url="http://iracing.sim") as client:
        yield client


def _form(**changes: str | None) -> dict[str, str]:
    form = demo_password_form()
    for name, value in changes.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value
    return {k: v for k, v in form.items()}


def _login(http: httpx.Client, scope: str = "iracing.auth") -> dict[str, str]:
    response = http.post("/oauth2/token", data=_form(scope=scope))
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def _expires_param(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])


def test_links_are_signed_for_120_seconds_though_expires_says_15_minutes(
    http: httpx.Client, clock: ManualClock
) -> None:
    auth = _login(http)
    answer = http.get("/data/member/info", headers=auth).json()
    assert round(parse_iso(answer["expires"]) - clock.now()) == 900
    assert _expires_param(answer["link"]) == 120
    clock.advance(119)
    assert http.get(answer["link"]).status_code == 200
    clock.advance(2)
    late = http.get(answer["link"])
    assert late.status_code == 403
    assert "Request has expired" in late.text


def test_data_url_links_are_signed_for_60_seconds(http: httpx.Client, clock: ManualClock) -> None:
    auth = _login(http)
    answer = http.get("/data/member/awards", headers=auth).json()
    assert _expires_param(answer["data_url"]) == 60
    clock.advance(61)
    assert http.get(answer["data_url"]).status_code == 403


def _chunk_url(http: httpx.Client, auth: dict[str, str], path: str, params: dict[str, str]) -> str:
    answer = http.get(f"/data/{path}", params=params, headers=auth).json()
    holder = http.get(answer["link"]).json() if "link" in answer else answer["data"]
    info = holder["chunk_info"]
    assert info["chunk_file_names"], path
    return str(info["base_download_url"] + info["chunk_file_names"][0])


def test_chunk_links_live_as_the_captures_say(http: httpx.Client, clock: ManualClock) -> None:
    """Standings, lap data, lap charts and event logs: an hour (long_lived); searches: 20 min."""
    clock.advance(5 * 86_400)
    auth = _login(http)
    sim_day = {"finish_range_begin": "2026-01-05T00:00Z"}
    search = http.get("/data/results/search_series", params=sim_day, headers=auth).json()
    searched = search["data"]["chunk_info"]
    sid = http.get(searched["base_download_url"] + searched["chunk_file_names"][0]).json()[0]
    race = {"subsession_id": str(sid["subsession_id"]), "simsession_number": "0"}
    standings = {"season_id": str(4000 + 104 * 1000), "car_class_id": "74"}
    hour = {
        "stats/season_driver_standings": standings,
        "results/lap_data": {**race, "cust_id": str(sid["winner_group_id"])},
        "results/lap_chart_data": race,
        "results/event_log": race,
    }
    urls = {path: _chunk_url(http, auth, path, params) for path, params in hour.items()}
    search_url = _chunk_url(http, auth, "results/search_series", sim_day)
    assert _expires_param(search_url) == 1200
    assert "/short_lived/" in search_url
    for path, url in urls.items():
        assert _expires_param(url) == 3600, path
        assert "/long_lived/" in url, path
    clock.advance(1201)
    assert http.get(search_url).status_code == 403
    clock.advance(3599 - 1201)
    assert all(http.get(url).status_code == 200 for url in urls.values())
    clock.advance(2)
    assert all(http.get(url).status_code == 403 for url in urls.values())


def test_a_missing_grant_type_is_invalid_request(http: httpx.Client) -> None:
    response = http.post("/oauth2/token", data=_form(grant_type=None))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "x-request-id" in response.headers


def test_an_unknown_scope_is_invalid_scope(http: httpx.Client) -> None:
    response = http.post("/oauth2/token", data=_form(scope="iracing.auth iracing.everything"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_the_profile_needs_its_scope(http: httpx.Client) -> None:
    data_only = _login(http)
    refused = http.get("/oauth2/iracing/profile", headers=data_only)
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    both = _login(http, "iracing.auth iracing.profile")
    profile = http.get("/oauth2/iracing/profile", headers=both).json()
    info_link = http.get("/data/member/info", headers=both).json()["link"]
    me = http.get(info_link).json()
    assert profile == {"iracing_name": me["display_name"], "iracing_cust_id": me["cust_id"]}


def test_data_needs_the_auth_scope(http: httpx.Client) -> None:
    profile_only = _login(http, "iracing.profile")
    response = http.get("/data/member/info", headers=profile_only)
    assert response.status_code == 403
    assert response.json() == {"error": "Forbidden"}


def test_endpoints_answer_their_method_only(http: httpx.Client) -> None:
    auth = _login(http)
    for method, path in (
        ("GET", "/oauth2/token"),
        ("POST", "/oauth2/sessions"),
        ("POST", "/oauth2/iracing/profile"),
        ("GET", "/oauth2/revoke/sessions"),
        ("GET", "/oauth2/revoke/client"),
        ("GET", "/oauth2/revoke/current"),
    ):
        response = http.request(method, path, headers=auth)
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] in ("GET", "POST")
    assert http.get("/oauth2/nothing").status_code == 404


def test_sessions_are_listed_and_revoked_one_by_one(http: httpx.Client) -> None:
    first, second = _login(http), _login(http)
    listed = http.get("/oauth2/sessions", headers=first).json()["sessions"]
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    other = next(s["session_id"] for s in listed if not s["current"])
    done = http.post("/oauth2/revoke/sessions", headers=first, data={"session_ids": other})
    assert done.status_code == 200
    assert done.content == b""
    assert http.get("/data/member/info", headers=second).status_code == 401
    assert http.get("/data/member/info", headers=first).status_code == 200
    assert http.post("/oauth2/revoke/sessions", headers=first, data={}).status_code == 400


def test_revoking_the_client_ends_every_session_of_it(http: httpx.Client) -> None:
    first, second = _login(http), _login(http)
    assert http.post("/oauth2/revoke/client", headers=first).status_code == 200
    for auth in (first, second):
        assert http.get("/data/member/info", headers=auth).status_code == 401
    assert http.get("/oauth2/sessions", headers=first).status_code == 401


def test_an_unknown_endpoint_is_404_with_the_error_body(http: httpx.Client) -> None:
    auth = _login(http)
    response = http.get("/data/results/nothing_here", headers=auth)
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}


@pytest.mark.slow
def test_simulate_serves_and_prints_the_settings_that_use_it(tmp_path: Path) -> None:
    simulator = start_harvester(
        "simulate",
        "--port",
        "0",
        "--time-scale",
        "60",
        env={k: v for k, v in os.environ.items() if not k.startswith(("IRACING_", "HARVESTER_"))},
        cwd=tmp_path,
        output=True,
    )
    try:
        assert simulator.stdout is not None
        settings: dict[str, str] = {}
        while "IRACING_DATA_URL" not in settings or "HARVESTER_CLOCK" not in settings:
            line = simulator.stdout.readline()
            assert line, "the simulator stopped before printing its settings"
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                settings[name] = value
        env = {**os.environ, **settings, "HARVESTER_DATABASE_URL": f"sqlite:///{tmp_path}/h.db"}
        login = run_harvester("auth", "login", env=env, cwd=tmp_path, timeout=60)
        assert login.returncode == 0, login.stderr
        assert "logged in with the password grant" in login.stdout
    finally:
        simulator.send_signal(signal.SIGTERM)
        try:
            simulator.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            simulator.kill()
            simulator.communicate()
    assert simulator.returncode == 0
