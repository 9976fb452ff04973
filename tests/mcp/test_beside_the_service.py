"""`harvester mcp` beside a running `harvester start` on the same database, SQLite and
PostgreSQL: it reads while the service writes, sees the service running, and changes
nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import anyio
import pytest

from harvester._core.clock import ManualClock
from harvester._store.db import sqlite_path
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from tests.helpers import db_rows, env_for, make_settings, start_harvester, wait_for
from tests.mcp.harvest import Harvested, data, stdio_session, text

pytestmark = pytest.mark.slow

JOBS = """\
jobs:
  me: {endpoint: member/info, every: 1s}
  cars: {endpoint: car/get, every: 1s}
  catalog: {endpoint: doc, every: 1d, enabled: false}
"""


def test_it_reads_beside_a_running_service(backend: str, tmp_path: Path) -> None:
    simulator = Simulator(SimConfig(rate_limit=None), ManualClock(time.time()))
    with RunningSimulator(simulator) as server:
        settings = make_settings(tmp_path, server.url, database_url=backend)
        settings.jobs_path.write_text(JOBS, encoding="utf-8")
        env = env_for(settings)
        where = sqlite_path(backend) or backend
        service = start_harvester("start", env=env, cwd=tmp_path)
        try:

            def count(sql: str) -> int:  # 0 while the service has not made the tables
                found = db_rows(where, sql)
                return int(found[0][0]) if found else 0

            wait_for(
                lambda: (
                    count("SELECT count(*) FROM runs WHERE status = 'success'") >= 2
                    and count("SELECT count(*) FROM cars") > 0
                ),
                timeout=120,
            )
            archive = Harvested(tmp_path, settings, env, simulator.world.config.me_cust_id)
            cars = "SELECT count(*) FROM cars"
            before = db_rows(where, cars)

            async def ask() -> None:
                async with stdio_session(archive) as client:
                    health = data(await client.call_tool("harvest_health", {}))
                    assert health["service"]["running"] is True, health
                    assert health["verdict"].startswith("the service is running")
                    assert {job["job"] for job in health["jobs"]} >= {"me", "cars"}
                    answer = data(await client.call_tool("query", {"sql": cars}))
                    assert answer["rows"] == [list(before[0])]
                    refused = await client.call_tool("query", {"sql": "DELETE FROM cars"})
                    assert refused.is_error and "read-only" in text(refused)

            anyio.run(ask)
            assert service.poll() is None  # the service ran on, writing, all along
            assert db_rows(where, cars) == before
        finally:
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=60) == 0
