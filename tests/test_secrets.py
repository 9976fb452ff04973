"""No secret anywhere: logs at every level, the database and its WAL, run errors, status."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester._config.settings import Settings
from harvester._core.clock import ManualClock
from harvester._core.logs import configure_logging
from harvester._oauth.masking import mask
from harvester._service.runtime import Runtime
from harvester.simulator import RunningSimulator, Simulator
from tests.helpers import CliResult, job


def all_secrets(settings: Settings, sim: Simulator) -> list[str]:
    """Every credential and token that exists in this test, in every form that could leak."""
    issued = list(sim.oauth._access) + list(sim.oauth._refresh)
    values = [
        settings.password,
        settings.client_secret,
        mask(settings.password, settings.username),
        mask(settings.client_secret, settings.client_id),
        *issued,
    ]
    assert len(issued) >= 2  # at least one grant happened
    return values


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_no_secret_in_logs_of_a_login_refresh_and_data_calls(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock, level: str
) -> None:
    stream = io.StringIO()
    configure_logging(level, "json", stream)
    assert logging.getLogger("httpx").isEnabledFor(logging.DEBUG) == (level == "DEBUG")
    sim.config.chunk_size = 20
    net_runtime.session.login()
    assert net_runtime.runner.run(job("awards", "member/awards")).ok  # data_url
    clock.advance(595)  # the next call refreshes
    sessions = sim.world.subsessions_ending_between(clock.now() - 86400, clock.now())
    assert net_runtime.runner.run(
        job("log", "results/event_log", subsession_id=sessions[0], simsession_number=0)
    ).ok  # link + signed chunks
    assert sim.state()["refreshes"] == 1
    output = stream.getvalue()
    assert output  # something was logged
    if level == "DEBUG":
        assert "httpx" in output or "httpcore" in output
    for secret in all_secrets(net_runtime.settings, sim):
        assert secret not in output
    assert "Bearer " not in output
    assert "X-Amz-Signature" not in output
    assert "X-Amz-Credential" not in output


def test_no_secret_in_run_errors_or_status(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    net_runtime.session.login()
    sim.control({"fail_next": ["truncate"] * 8})
    outcome = net_runtime.runner.run(job("info", "member/info"))
    assert outcome.status == "failed"
    status = repr(net_runtime.session.status().as_dict())
    clock.advance(600)
    net_runtime.session.access_token()
    for secret in all_secrets(net_runtime.settings, sim):
        assert secret not in str(outcome.error)
        assert secret not in status


def test_no_secret_in_the_database_or_wal_after_harvesting(
    net_runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    net_runtime.session.login()
    sim.config.chunk_size = 50
    for spec in (
        job("awards", "member/awards"),
        job("info", "member/info"),
        job("search", "results/search_series", finish_range_begin="2025-12-28T00:00Z"),
    ):
        assert net_runtime.runner.run(spec).ok
    clock.advance(600)
    net_runtime.session.access_token()
    db_file = Path(net_runtime.settings.database_url.removeprefix("sqlite:///"))
    raw = b"".join(
        p.read_bytes() for p in (db_file, db_file.with_name(db_file.name + "-wal")) if p.exists()
    )
    for secret in all_secrets(net_runtime.settings, sim):
        assert secret.encode() not in raw
    assert b"X-Amz-Signature" not in raw
    assert b"X-Amz-Credential" not in raw


def test_dot_env_contents_and_tokens_never_reach_the_output_of_commands(
    run_cli: Callable[..., CliResult],
    tmp_path: Path,
    loopback: RunningSimulator,
    sim: Simulator,
) -> None:
    """With everything in `.env` and LOG_LEVEL=DEBUG, no secret of it (nor any token) appears
    in what login, run, get, status and auth status print or log."""
    from tests.helpers import make_settings

    settings = make_settings(tmp_path, loopback.url)
    (tmp_path / ".env").write_text(
        f"CLIENT_ID={settings.client_id}\nCLIENT_SECRET={settings.client_secret}\n"
        f"USERNAME={settings.username}\nPASSWORD={settings.password}\n"
        f"IRACING_OAUTH_URL={settings.oauth_url}\nIRACING_DATA_URL={settings.data_url}\n"
        "SOMETHING_PRIVATE=private-value-in-dot-env\n"
    )
    (tmp_path / "jobs.yaml").write_text("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
    env = {"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json"}
    outputs = []
    for command in (
        ("auth", "login"),
        ("run", "info"),
        ("get", "member/awards"),
        ("status",),
        ("auth", "status", "--format", "json"),
        ("jobs",),
    ):
        result = run_cli(*command, env=env)
        assert result.code == 0, (command, result.err)
        outputs.append(result.out + result.err)
    everything = "\n".join(outputs)
    assert '"level": "debug"' in everything  # DEBUG was really on
    for secret in [*all_secrets(settings, sim), "private-value-in-dot-env"]:
        assert secret not in everything
    assert "Bearer " not in everything and "X-Amz-Signature" not in everything
