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
