"""harvester from Python and from the shell: connect(), the session, `harvester get`."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

import harvester
from harvester._config.settings import Settings
from harvester._config.templates import iso_minute
from harvester._core.clock import ManualClock, parse_iso
from harvester.simulator import RunningSimulator, SimConfig, Simulator, SimulatorTransport
from tests.helpers import (
    CliResult,
    db_rows,
    env_for,
    make_settings,
    start_harvester,
    wait_for,
)


@pytest.fixture
def api(settings: Settings, sim: Simulator, clock: ManualClock) -> Iterator[harvester.Api]:
    with harvester.connect(settings, transport=SimulatorTransport(sim), clock=clock) as client:
        yield client


def test_get_resolves_every_shape(api: harvester.Api, sim: Simulator, clock: ManualClock) -> None:
    assert api.get("/data/constants/categories")[0].keys() == {"label", "value"}  # direct
    me = api.get("member/info")  # link
    assert me["cust_id"] == sim.world.config.me_cust_id
    awards = api.get("member/awards")  # data_url
    assert isinstance(awards, list)
    road = api.get("driver_stats_by_category/road")  # CSV
    assert isinstance(road, list) and isinstance(road[0], dict)
    sim.config.chunk_size = 20
    begin = iso_minute(clock.now() - 86400)
    races = api.get("/data/results/search_series", finish_range_begin=begin)  # chunks merged
    expected = sim.world.subsessions_ending_between(parse_iso(begin), clock.now())
    assert [race["subsession_id"] for race in races] == expected
    assert {"subsession_id", "end_time"} <= races[0].keys()
    result = api.fetch("results/search_series", {"finish_range_begin": begin})
    assert len(result.documents) > 2 and result.chunked
    assert result.header["data"]["chunk_info"]["rows"] == len(result.data)


def test_get_resolves_templates_and_checks_the_catalogue_as_harvester_get_does(
    api: harvester.Api, clock: ManualClock
) -> None:
    result = api.fetch("results/search_series", finish_range_begin="{-1d}")
    assert result.params == {"finish_range_begin": iso_minute(clock.now() - 86400)}
    with pytest.raises(harvester.ConfigError, match="unknown template"):
        api.get("member/info", x="{nonsense}")
    api.fetch("doc", save=True)  # the catalogue stored, as the built-in job `catalog` does
    with pytest.raises(harvester.ConfigError, match="did you mean `subsession_id`"):
        api.get("results/get", subsesion_id=5)
    assert api.rate_limit.limit == 240 and api.rate_limit.remaining is not None
    assert isinstance(api.rate_limit.reset, datetime)


def test_typed_errors(api: harvester.Api, sim: Simulator) -> None:
    with pytest.raises(harvester.NotFound):
        api.get("results/get", subsession_id=1)
    with pytest.raises(harvester.BadRequest, match="Bad Request"):
        api.get("results/search_series")
    sim.config.maintenance = True
    with pytest.raises(harvester.Maintenance):
        api.get("member/info")


def test_save_archives_a_manual_run(api: harvester.Api) -> None:
    api.get("member/info", save=True)
    from sqlalchemy import text

    with api._runtime.engine.connect() as conn:
        row = conn.execute(text("SELECT job, trigger, status FROM runs")).one()
        assert tuple(row) == ("manual", "manual", "success")
        assert conn.execute(text("SELECT endpoint FROM results")).scalar() == "member/info"


def test_the_session_in_the_reference_client_s_terms(
    api: harvester.Api, sim: Simulator, clock: ManualClock
) -> None:
    session = api.session
    assert session.is_authenticated() is False
    assert session.token_expires_at is None
    assert session.authenticate() is True
    assert session.is_authenticated() is True
    expires = session.token_expires_at
    assert isinstance(expires, datetime) and expires.tzinfo is not None
    assert expires.timestamp() == clock.now() + 600
    assert session.refresh_expires_at is not None
    token = session.access_token
    assert session.refresh() is True
    assert session.access_token != token
    assert sim.state()["password_grants"] == 1 and sim.state()["refreshes"] == 1
    response = api._runtime.http.get(f"{api.settings.data_url}/data/member/info", auth=session.auth)
    assert response.status_code == 200
    assert "username" in session.status()


@pytest.mark.slow
def test_a_script_and_a_running_service_share_one_session(tmp_path: Path) -> None:
    """The service (a process) and a script (this process) on one database: one password login
    between them and no refresh token presented twice, across many refreshes. The server's clock
    stands still, so tokens expire only when the test says; each round, one side meets the 401
    first and refreshes, and the other takes the new token from the database without a second
    refresh, whichever side it is. Last, the script's own clock passes the token's expiry: it
    refreshes before asking."""
    sim = Simulator(SimConfig(), ManualClock())
    script_clock = ManualClock(time.time())
    with RunningSimulator(sim) as server:
        settings = make_settings(tmp_path, server.url)
        database = tmp_path / "harvester.db"
        (tmp_path / "jobs.yaml").write_text(
            "jobs:\n  info: {endpoint: member/info, every: 1s}\n"
            "  catalog: {endpoint: doc, every: 1d, enabled: false}\n"
        )
        with harvester.connect(settings) as api:
            api.session.authenticate()
        service = start_harvester("start", env=env_for(settings), cwd=tmp_path, output=True)

        def refreshes() -> int:
            return int(sim.state()["refreshes"])

        def service_runs() -> int:
            [(count,)] = db_rows(database, "SELECT count(*) FROM runs WHERE status = 'success'")
            return int(str(count))

        def until(value: Callable[[], int], reaches: int) -> None:
            wait_for(lambda: value() >= reaches)

        try:
            with harvester.connect(settings, clock=script_clock) as api:
                assert api.get("constants/categories")
                wait_for(lambda: service_runs() >= 1)
                for round_ in range(4):
                    before = refreshes()
                    sim.control({"expire_access_tokens": True})  # both sides hold a dead token
                    if round_ % 2 == 0:  # the service meets the 401 first: it refreshes
                        until(refreshes, before + 1)
                        assert api.get("constants/categories")  # the script takes its token
                    else:  # the script meets it first; the service takes the script's token
                        assert api.get("constants/categories")
                        ran = service_runs()
                        until(service_runs, ran + 2)  # one of them began after the get
                    assert refreshes() == before + 1
                refused = sim.state()["data"].get("unauthorized", 0)
                script_clock.advance(sim.config.access_token_lifetime)
                assert api.get("constants/categories")
                assert refreshes() == 5
                assert sim.state()["data"].get("unauthorized", 0) == refused  # no 401 needed
        finally:
            service.send_signal(signal.SIGTERM)
            _, err = service.communicate(timeout=60)
        assert service.returncode == 0, err
    state = sim.state()
    assert state["password_grants"] == 1
    assert state["refresh_reuses"] == 0
    assert state["refreshes"] == 5
    failed = "SELECT count(*) FROM runs WHERE status NOT IN ('success', 'skipped')"
    assert db_rows(database, failed) == [(0,)]


def test_harvester_get(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    env = env_for(make_settings(tmp_path, loopback.url))
    info = run_cli("get", "member/info", env=env)
    assert info.code == 0, info.err
    assert json.loads(info.out)["display_name"]
    assert "\n" not in info.out.strip()  # compact when not a terminal
    raw = run_cli("get", "/data/member/awards", "--raw", env=env)
    assert raw.code == 0
    assert "X-Amz-Signature" not in raw.out  # part 0 is the document behind data_url
    assert isinstance(json.loads(raw.out.splitlines()[0]), list)
    bad = run_cli("get", "results/get", "-p", "subsession_id=1", env=env)
    assert bad.code == 1 and "not found" in bad.err
    wrong = run_cli("get", "member/info", "-p", "nonsense", env=env)
    assert wrong.code == 2 and "NAME=VALUE" in wrong.err
    saved = run_cli("get", "stats/member_summary", "--save", env=env)
    assert saved.code == 0
    runs = run_cli("runs", "--job", "manual", "--format", "json", env=env)
    assert json.loads(runs.out)[0]["trigger"] == "manual"


def test_harvester_get_checks_parameters_against_the_catalogue(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    env = env_for(make_settings(tmp_path, loopback.url))
    (tmp_path / "jobs.yaml").write_text("jobs:\n  x: {endpoint: member/info, every: 1h}\n")
    assert run_cli("run", "catalog", env=env).code == 0
    typo = run_cli("get", "results/get", "-p", "subsesion_id=5", env=env)
    assert typo.code == 2
    assert "did you mean `subsession_id`" in typo.err


def test_a_bad_request_points_to_the_catalogue_s_note(api: harvester.Api) -> None:
    with pytest.raises(harvester.BadRequest) as before:
        api.get("results/search_series")  # no catalogue stored yet: where to look, still
    assert "`harvester catalog results/search_series` shows its parameters" in str(before.value)
    api.fetch("doc", save=True)
    with pytest.raises(harvester.BadRequest) as caught:
        api.get("results/search_series")
    message = str(caught.value)
    assert message.startswith("results/search_series: bad request: ")
    assert "; the catalogue's note for results/search_series: " in message
    assert message.endswith("(`harvester catalog results/search_series` shows its parameters)")
    assert "\n" not in message
