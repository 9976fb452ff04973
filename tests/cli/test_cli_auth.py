"""`harvester auth|keys`: one session for every process, clear one-line errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester._config.settings import Settings
from harvester._core.clock import ManualClock
from harvester._oauth.keys import default_key_path
from harvester._service.runtime import open_runtime
from harvester.simulator import RunningSimulator, Simulator, SimulatorTransport
from tests.helpers import REPO, CliResult, env_for, make_settings, run_harvester


def _settings(tmp_path: Path, server: RunningSimulator) -> Settings:
    return make_settings(tmp_path, server.url)


def test_login_status_logout(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator, sim: Simulator
) -> None:
    env = env_for(_settings(tmp_path, loopback))
    login: CliResult = run_cli("auth", "login", env=env)
    assert login.code == 0, login.err
    assert "logged in with the password grant" in login.out
    again = run_cli("auth", "login", env=env)
    assert "reused the stored session" in again.out
    assert sim.state()["password_grants"] == 1

    status = run_cli("auth", "status", "--format", "json", env=env)
    data = json.loads(status.out)
    assert data["logged_in"] is True
    assert data["username"] == env["IRACING_USERNAME"]
    assert data["password_grants_last_hour"] == 1
    assert data["access_expires_at"].endswith("Z")
    for secret in (env["IRACING_PASSWORD"], env["IRACING_CLIENT_SECRET"]):
        assert secret not in status.out + status.err

    logout = run_cli("auth", "logout", env=env)
    assert logout.code == 0 and "logged out" in logout.out
    assert sim.state()["oauth"]["revocations"] == 1
    assert (
        json.loads(run_cli("auth", "status", "--format", "json", env=env).out)["logged_in"] is False
    )


def test_invalid_client_exits_non_zero_with_one_line(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    env = env_for(_settings(tmp_path, loopback))
    env["IRACING_CLIENT_SECRET"] = "wrong-secret-value"
    result = run_cli("auth", "login", env=env)
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.startswith("harvester: error")]
    assert len(lines) == 1
    assert "invalid_client" in lines[0]
    assert "Traceback" not in result.err
    assert "wrong-secret-value" not in result.err


def test_a_bad_setting_is_one_line_naming_it(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("auth", "status", env={"REQUEST_TIMEOUT": "never"})
    assert result.code == 2
    assert result.err.strip() == ("harvester: error: REQUEST_TIMEOUT must be a number, got 'never'")


def test_key_file_permissions_are_checked(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    settings = _settings(tmp_path, loopback)
    env = env_for(settings)
    assert run_cli("auth", "login", env=env).code == 0
    key = default_key_path(settings)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    os.chmod(key, 0o640)
    result = run_cli("auth", "status", env=env)
    assert result.code == 2
    assert "readable by group or others" in result.err


def test_keys_rotate_command(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    env = env_for(_settings(tmp_path, loopback))
    run_cli("auth", "login", env=env)
    result = run_cli("keys", "rotate", env=env)
    assert result.code == 0 and "re-encrypted 1" in result.out
    assert json.loads(run_cli("auth", "status", "--format", "json", env=env).out)["logged_in"]


def test_keys_rotate_with_a_stored_session_and_no_key_fails(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    env = env_for(_settings(tmp_path, loopback))
    assert run_cli("auth", "login", env=env).code == 0
    (tmp_path / "harvester.key").unlink()  # the key file beside the database is lost
    result = run_cli("keys", "rotate", env=env)
    assert result.code == 2 and "a session is stored but no encryption key" in result.err
    assert "nothing to rotate" not in result.out


def test_keys_generate_prints_a_fernet_key(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("keys", "generate")
    assert result.code == 0 and len(result.out.strip()) == 44


_PROCESS = """
import hashlib, pathlib, sys, time
from harvester._service.runtime import open_runtime
from harvester._config.settings import load_settings
go = pathlib.Path(sys.argv[1])
with open_runtime(load_settings()) as rt:
    while not go.exists():
        time.sleep(0.01)
    token = rt.session.access_token()
print(hashlib.sha256(token.encode()).hexdigest())
"""


@pytest.mark.slow
def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(
    tmp_path: Path, sim: Simulator, clock: ManualClock, loopback: RunningSimulator
) -> None:
    import time

    settings = _settings(tmp_path, loopback)
    # log in "595 s ago", so both processes find a token inside the refresh buffer
    clock.set(time.time() - 595)
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
    clock.set(time.time())
    sim.config.latency = 0.3  # a slow token endpoint: the second process must wait for the first
    go = tmp_path / "go"
    env = env_for(settings)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS, str(go)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()
    outputs = [p.communicate(timeout=60) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    tokens = {out.strip() for out, _ in outputs}
    assert len(tokens) == 1  # the second process used the token the first one stored
    assert sim.state()["refreshes"] == 1
    assert sim.state()["refresh_reuses"] == 0
    assert sim.state()["password_grants"] == 1


def test_harvester_runs_as_a_module(tmp_path: Path) -> None:
    result = run_harvester("--help", env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path)
    assert result.returncode == 0
    assert "auth" in result.stdout


def test_logout_sticks_until_auth_login(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator, sim: Simulator
) -> None:
    settings = _settings(tmp_path, loopback)
    settings.jobs_path.write_text("jobs:\n  info:\n    endpoint: member/info\n    every: 1h\n")
    env = env_for(settings)
    assert run_cli("auth", "login", env=env).code == 0
    logout = run_cli("auth", "logout", env=env)
    assert "nothing logs in again until `harvester auth login`" in logout.out

    refused = run_cli("run", "info", env=env)
    assert refused.code != 0
    assert "logged out with `harvester auth logout`" in refused.out + refused.err
    assert sim.state()["password_grants"] == 1  # the run did not log in behind our back

    assert run_cli("auth", "login", env=env).code == 0
    assert run_cli("run", "info", env=env).code == 0
    assert sim.state()["password_grants"] == 2


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        (("IRACING_PASSWORD",), "IRACING_PASSWORD is not set"),
        (("IRACING_CLIENT_ID", "IRACING_USERNAME"), "IRACING_CLIENT_ID and IRACING_USERNAME are"),
    ],
)
def test_partial_credentials_name_the_missing_ones(
    run_cli: Callable[..., CliResult],
    tmp_path: Path,
    loopback: RunningSimulator,
    unset: tuple[str, ...],
    named: str,
) -> None:
    env = env_for(_settings(tmp_path, loopback))
    env.update(dict.fromkeys(unset, ""))
    result = run_cli("auth", "login", env=env)
    assert result.code != 0
    (line,) = [line for line in result.err.splitlines() if line.startswith("harvester: error")]
    assert named in line
    assert "IRACING_CLIENT_SECRET" not in line  # set: not asked for again


def test_no_credentials_at_all_name_all_four() -> None:
    settings = Settings(client_id="", client_secret="", username="", password="")
    assert settings.missing_credentials == [
        "IRACING_CLIENT_ID",
        "IRACING_CLIENT_SECRET",
        "IRACING_USERNAME",
        "IRACING_PASSWORD",
    ]
    assert "set IRACING_CLIENT_ID, IRACING_CLIENT_SECRET, IRACING_USERNAME and" in (
        settings.credentials_wanted()
    )
