"""`harvester systemd-unit` prints a unit that works as written; `harvester healthcheck`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import CliResult


def test_the_unit_has_what_systemd_needs(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli(
        "systemd-unit",
        "--user",
        "harv",
        "--working-directory",
        "/srv/harv",
        "--env-file",
        "/etc/harv.env",
        "--bin",
        "/opt/h/bin/harvester",
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "WorkingDirectory=/srv/harv" in lines
    assert "EnvironmentFile=/etc/harv.env" in lines  # no comment on the line: part of the path
    assert all("#" not in line for line in lines if not line.startswith("#"))
    assert "ExecStart=/opt/h/bin/harvester start" in lines
    assert "ExecStartPost=/opt/h/bin/harvester healthcheck --wait 90" in lines
    for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/srv/harv"):
        assert option in lines
    assert "User=harv" in lines


def test_a_value_that_would_break_the_unit_is_refused(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("systemd-unit", "--env-file", "/etc/h.env # settings")
    assert result.code != 0
    assert "--env-file" in result.err


@pytest.mark.slow
def test_healthcheck_says_no_when_nothing_answers(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("healthcheck", "--url", "http://127.0.0.1:9/healthz")
    assert result.code == 1
    assert "no answer" in result.err
    off = run_cli("healthcheck", env={"HARVESTER_HTTP": "off"})
    assert off.code != 0 and "HARVESTER_HTTP is off" in off.err


@pytest.mark.parametrize(
    ("bin_path", "setting"),
    [
        ("/home/ann/harvester/.venv/bin/harvester", "ProtectHome=yes"),
        ("/root/.venv/bin/harvester", "ProtectHome=yes"),
        ("/tmp/try/.venv/bin/harvester", "PrivateTmp=yes"),
        ("/var/tmp/h/bin/harvester", "PrivateTmp=yes"),
    ],
)
def test_an_executable_the_unit_hides_is_warned_about_and_still_written(
    run_cli: Callable[..., CliResult], bin_path: str, setting: str
) -> None:
    result = run_cli("systemd-unit", "--bin", bin_path)
    assert result.code == 0
    assert f"ExecStart={bin_path} start" in result.out.splitlines()
    assert result.err.count("\n") == 1
    assert result.err.startswith(f"warning: ExecStart {bin_path} is under ")
    assert setting in result.err


@pytest.mark.parametrize("bin_path", ["/opt/harvester/.venv/bin/harvester", "/homestead/bin/h"])
def test_an_executable_the_unit_sees_gets_no_warning(
    run_cli: Callable[..., CliResult], bin_path: str
) -> None:
    result = run_cli("systemd-unit", "--bin", bin_path)
    assert result.code == 0 and result.err == ""
