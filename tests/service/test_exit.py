"""How `harvester start` ends, and what brings it back: asked to stop, 0; a lock lost where no
standby can wait (SQLite), 75, never 0; on PostgreSQL a lost lease sends it back to standby in
the same process (tests/service/test_failover.py); and the unit `harvester systemd-unit` writes
restarts it after any end but `systemctl stop`, as `systemd-analyze verify` accepts it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester._core.clock import ManualClock
from harvester._service.lifetime import EXIT_STEPPED_DOWN, Signals, run_service
from harvester._service.runtime import open_runtime
from harvester._service.service import ServiceOptions
from harvester._store.lock import InstanceLock
from harvester.simulator import RunningSimulator, Simulator, SimulatorTransport
from tests.helpers import REPO, CliResult, env_for, make_settings, wait_for

JOBS = "jobs:\n  info: {endpoint: member/info, every: 1h}\n"


def test_a_service_that_loses_its_lock_where_no_standby_waits_exits_75(
    tmp_path: Path, sim: Simulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    settings = make_settings(tmp_path, sim.base_url)
    looks: list[int] = []

    def lost(self: InstanceLock) -> bool:  # the lock file taken from under it, say
        looks.append(1)
        return False

    monkeypatch.setattr(InstanceLock, "still_held", lost)
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
        code = run_service(rt, tmp_path / "jobs.yaml", ServiceOptions(drain_seconds=1), Signals())
    assert code == EXIT_STEPPED_DOWN == 75
    assert looks  # it looked, and stepped down


def test_a_service_asked_to_stop_exits_0(
    tmp_path: Path, sim: Simulator, clock: ManualClock
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    settings = make_settings(tmp_path, sim.base_url)
    signals = Signals()
    codes: list[int] = []
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()

        def serve() -> None:
            codes.append(run_service(rt, tmp_path / "jobs.yaml", ServiceOptions(), signals))

        thread = threading.Thread(target=serve)
        thread.start()
        wait_for(lambda: signals._service is not None and signals._service.role == "active")
        signals._stop(signal.SIGTERM, None)  # what SIGTERM calls
        thread.join(60)
    assert codes == [0]


def test_start_says_why_it_stopped_and_exits_75(
    tmp_path: Path,
    loopback: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., CliResult],
) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    monkeypatch.setattr(InstanceLock, "still_held", lambda self: False)
    env = env_for(make_settings(tmp_path, loopback.url))
    result = run_cli("start", "--grace", "1", env=env)
    assert result.code == 75
    assert "lost its lock on the database and stopped" in result.err


def test_the_unit_restarts_after_any_end_and_systemd_accepts_it(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    harvester = REPO / ".venv" / "bin" / "harvester"
    result = run_cli(
        "systemd-unit",
        "--working-directory",
        str(tmp_path),
        "--env-file",
        str(tmp_path / "harvester.env"),
        "--bin",
        str(harvester if harvester.exists() else shutil.which("harvester") or "/bin/true"),
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "Restart=always" in lines and "StartLimitIntervalSec=0" in lines
    assert not any(line.startswith("Restart=on-") for line in lines)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # the unit's text is checked above; say why the rest is not
        pytest.skip("systemd-analyze is not installed here (apt-get install systemd)")
    unit = tmp_path / "harvester.service"
    unit.write_text(result.out)
    checked = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    # verify exits 0 even for an unknown key or a bad value; it says so on stderr
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.strip() == "" and checked.stdout.strip() == ""
