"""SIGKILL `harvester start` at random points while it harvests incrementally; restarted, it
loses nothing and stores nothing twice."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from harvester.clock import ScaledClock, parse_iso
from harvester.simulator import RunningSimulator, SimConfig, Simulator

from .conftest import env_for, make_settings

JOBS = """
jobs:
  recent:
    endpoint: results/search_series
    every: 10m
    incremental: {cursor: end_time, param: finish_range_begin, start: -1d, window: 1d,
                  key: subsession_id}
  details:
    endpoint: results/get
    every: 10m
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id, max_items: 40}
  catalog: {endpoint: doc, every: 1d, enabled: false}
"""


def rows(database: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database, timeout=30)) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def kill_and_restart(tmp_path: Path, kills: int, seed: int) -> None:
    """The campaign: start, kill -9 at a random moment, `kills` times, then a clean finish."""
    clock = ScaledClock(300.0)  # a real second is five simulated minutes
    sim = Simulator(SimConfig(chunk_size=40, latency=0.005), clock)
    rng = random.Random(seed)
    database = tmp_path / "harvester.db"
    with RunningSimulator(sim) as server:
        (tmp_path / "jobs.yaml").write_text(JOBS)
        env = env_for(make_settings(tmp_path, server.url))
        env["HARVESTER_CLOCK"] = clock.spec()

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "harvester", "start"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        for _ in range(kills):
            process = start()
            wait_for(lambda: bool(rows(database, "SELECT id FROM runs")))
            time.sleep(rng.uniform(0.2, 2.0))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        process = start()  # the last one harvests until the fan-out has caught up
        try:
            wait_for(
                lambda: (
                    rows(database, "SELECT count(*) FROM fanout_items WHERE status = 'pending'")
                    == [(0,)]
                    and bool(rows(database, "SELECT job FROM fanout_items"))
                ),
                timeout=120,
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        assert process.returncode == 0
        cursor = rows(database, "SELECT value FROM cursors WHERE job = 'recent'")[0][0]
        start_at = parse_iso(str(rows(database, "SELECT min(started_at) FROM runs")[0][0]))
        expected = set(
            sim.world.subsessions_ending_between(start_at - 86400, parse_iso(str(cursor)))
        )
    check_archive(database, {str(s) for s in expected})


def check_archive(database: Path, expected: set[str]) -> None:
    assert rows(database, "PRAGMA integrity_check") == [("ok",)]
    assert rows(database, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]
    assert rows(database, "PRAGMA foreign_key_check") == []
    details = Counter(
        str(json.loads(str(params))["subsession_id"])
        for (params,) in rows(
            database, "SELECT params FROM results WHERE job = 'details' AND part = 0"
        )
    )
    assert expected <= set(details)  # nothing lost
    assert max(details.values()) == 1  # nothing stored twice
    statuses = dict(rows(database, "SELECT status, count(*) FROM runs GROUP BY status"))
    assert statuses.get("interrupted", 0) >= 1  # the killed runs were found and marked


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    kill_and_restart(tmp_path, kills=4, seed=5)
