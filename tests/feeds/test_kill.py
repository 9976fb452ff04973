"""kill -9 while a feed is sending, again and again, then a restart: no row is lost, and a row
is told twice only where the process died between the target taking it and the mark (so at
most once per kill), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from harvester._core.clock import ScaledClock
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from harvester.simulator.config import SCALED_LINKS
from tests.helpers import (
    WebhookReceiver,
    db_rows,
    env_for,
    make_settings,
    start_harvester,
    wait_for,
)

JOBS = """
jobs:
  recent:
    endpoint: results/search_series
    every: 10m
    incremental: {cursor: end_time, param: finish_range_begin, start: -6h, window: 1d,
                  key: subsession_id}
  details:
    endpoint: results/get
    every: 10m
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id, max_items: 30}
  catalog: {endpoint: doc, every: 1d, enabled: false}
feeds:
  podium:
    table: session_results
    key: [subsession_id, cust_id]
    where: "simsession_number = 0 AND finish_position < 3"
    template: '{"row": "{{ subsession_id }}/{{ cust_id }}"}'
    targets: ["{env:HOOK}"]
    per_minute: 600
"""
KILLS = 4


@pytest.mark.slow
def test_kills_while_sending_lose_nothing_and_repeat_at_most_once_each(
    tmp_path: Path, backend: str
) -> None:
    clock = ScaledClock(300.0)
    sim = Simulator(SimConfig(chunk_size=25, latency=0.002, **SCALED_LINKS), clock)
    database: Path | str = tmp_path / "harvester.db" if backend.startswith("sqlite") else backend
    receiver = WebhookReceiver()
    try:
        with RunningSimulator(sim) as server:
            (tmp_path / "jobs.yaml").write_text(JOBS)
            env = env_for(make_settings(tmp_path, server.url, database_url=backend))
            env["HARVESTER_CLOCK"] = clock.spec()
            env["HOOK"] = receiver.url

            def start() -> subprocess.Popen[str]:
                return start_harvester("start", env=env, cwd=tmp_path)

            for _ in range(KILLS):
                process = start()
                before = len(receiver.messages())

                def sending(before: int = before) -> bool:
                    return len(receiver.messages()) > before

                wait_for(sending, timeout=90)
                process.send_signal(signal.SIGKILL)  # while it is sending
                process.wait(timeout=30)
            process = start()
            try:
                pending = "SELECT count(*) FROM feed_outbox WHERE status = 'pending'"
                fanout = "SELECT count(*) FROM fanout_items WHERE status = 'pending'"
                wait_for(
                    lambda: (
                        db_rows(database, pending) == [(0,)] and db_rows(database, fanout) == [(0,)]
                    ),
                    timeout=180,
                )
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    finally:
        receiver.close()
    told = Counter(json.loads(m)["row"] for m in receiver.messages())
    rows = {
        f"{s}/{c}"
        for s, c in db_rows(
            database,
            "SELECT subsession_id, cust_id FROM session_results "
            "WHERE simsession_number = 0 AND finish_position < 3",
        )
    }
    assert len(rows) > 20
    assert set(told) == rows  # none lost
    duplicates = sum(n - 1 for n in told.values())
    assert duplicates <= KILLS  # at most the one in flight at each kill
    statuses = dict(db_rows(database, "SELECT status, count(*) FROM feed_outbox GROUP BY status"))
    assert statuses == {"sent": len(rows)}
