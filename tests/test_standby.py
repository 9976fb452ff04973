"""Active/standby on PostgreSQL: two `harvester start` on one database for a simulated hour. One
is active, the other says it is standby; SIGKILL the active one and the standby takes over
within seconds, marks the runs it left `running` interrupted, fetches nothing twice and never
spends a refresh token twice; every run names its host and pid."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from harvester.clock import ScaledClock
from harvester.simulator import RunningSimulator, SimConfig, Simulator

from .conftest import db_rows, env_for, make_settings, wait_for

JOBS = """
jobs:
  recent:
    endpoint: results/search_series
    every: 5m
    incremental: {cursor: end_time, param: finish_range_begin, start: -1d, window: 1d,
                  key: subsession_id}
  details:
    endpoint: results/get
    every: 5m
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id, max_items: 30}
  info: {endpoint: member/info, every: 2m}
"""
HOUR = 3600.0
ACTIVE = "SELECT pid FROM service WHERE id = 1 AND stopped_at IS NULL"


def start(env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", "start", "--grace", "2"],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def status(env: dict[str, str], folder: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "harvester", "status", "--format", "json"],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


@pytest.mark.slow
def test_two_services_for_a_simulated_hour_and_a_takeover(
    tmp_path: Path, postgres_url: str
) -> None:
    clock = ScaledClock(120.0)  # a real second is two simulated minutes
    sim = Simulator(SimConfig(chunk_size=25, latency=0.005), clock)
    began = clock.now()
    with RunningSimulator(sim) as server:
        (tmp_path / "jobs.yaml").write_text(JOBS)
        env = env_for(make_settings(tmp_path, server.url, database_url=postgres_url))
        env["HARVESTER_CLOCK"] = clock.spec()
        first = start(env, tmp_path)
        second: subprocess.Popen[bytes] | None = None
        try:
            wait_for(lambda: db_rows(postgres_url, ACTIVE) == [(first.pid,)], timeout=60)
            second = start(env, tmp_path)
            standby = f"SELECT 1 FROM service WHERE id <> 1 AND pid = {second.pid}"
            wait_for(lambda: bool(db_rows(postgres_url, standby)), timeout=60)
            seen = status(env, tmp_path)
            assert seen["role"] == "active" and seen["pid"] == first.pid
            assert f"pid {second.pid}" in str(seen["standby"])
            # the standby runs nothing while the active one harvests
            mine = f"SELECT count(*) FROM runs WHERE pid = {second.pid}"
            running = f"SELECT 1 FROM runs WHERE status = 'running' AND pid = {first.pid}"
            wait_for(lambda: bool(db_rows(postgres_url, running)), timeout=60)
            assert db_rows(postgres_url, mine) == [(0,)]
            killed_at = time.monotonic()
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            wait_for(lambda: db_rows(postgres_url, ACTIVE) == [(second.pid,)], timeout=60)
            takeover = time.monotonic() - killed_at
            left = f"SELECT count(*) FROM runs WHERE status = 'running' AND pid = {first.pid}"
            assert db_rows(postgres_url, left) == [(0,)]  # marked as the standby took over
            seen = status(env, tmp_path)
            assert seen["role"] == "active" and seen["pid"] == second.pid
            wait_for(lambda: clock.now() >= began + HOUR, timeout=120)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
    print(f"takeover after SIGKILL of the active service: {takeover:.2f} s")
    assert takeover < 15
    assert db_rows(postgres_url, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]
    killed = f"SELECT count(*) FROM runs WHERE status = 'interrupted' AND pid = {first.pid}"
    interrupted = db_rows(postgres_url, killed)
    assert interrupted[0][0] >= 1  # the run it was in when killed
    hosts = db_rows(postgres_url, "SELECT DISTINCT host, pid FROM runs WHERE status <> 'skipped'")
    assert {pid for _, pid in hosts} == {first.pid, second.pid}
    assert {host for host, _ in hosts} == {socket.gethostname()}
    fetched = Counter(
        str(json.loads(str(params))["subsession_id"])
        for (params,) in db_rows(
            postgres_url, "SELECT params FROM results WHERE job = 'details' AND part = 0"
        )
    )
    assert fetched and max(fetched.values()) == 1  # nothing fetched twice
    assert sim.oauth.counters["refresh_reuses"] == 0  # no refresh token spent twice
    assert sim.oauth.counters["refreshes"] >= 1  # the hour outlived access tokens (10 min)
    assert sim.oauth.counters["password_grants"] == 1  # the session was shared, not redone
