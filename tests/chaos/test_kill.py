"""The kill campaign: SIGKILL `harvester start` at random points while it harvests chunked
results incrementally, restart it, again and again. Afterwards the archive passes
`PRAGMA integrity_check`, every result is whole (all its chunks, all its rows), nothing is lost
or stored twice, and the killed runs are marked interrupted.

A short campaign runs with the suite; `make chaos` runs the long one (20 kills)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from harvester._core.clock import ScaledClock, parse_iso
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from harvester.simulator.config import SCALED_LINKS
from tests.helpers import (
    HeldRequest,
    db_rows,
    env_for,
    make_settings,
    run_harvester,
    start_harvester,
    wait_for,
)

JOBS = """
jobs:
  recent:                    # direct chunk_info: many small chunks
    endpoint: results/search_series
    every: 10m
    incremental: {cursor: end_time, param: finish_range_begin, start: -1d, window: 1d,
                  key: subsession_id}
  details:                   # a link to the document, for each new subsession
    endpoint: results/get
    every: 10m
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id, max_items: 40}
  event_logs:                # a link to a header with chunk_info, for each new subsession
    endpoint: results/event_log
    every: 10m
    params: {simsession_number: 0}
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id, max_items: 40}
  catalog: {endpoint: doc, every: 1d, enabled: false}
"""


def caught_up(database: Path | str) -> bool:
    pending = db_rows(database, "SELECT count(*) FROM fanout_items WHERE status = 'pending'")
    return pending == [(0,)] and bool(db_rows(database, "SELECT job FROM fanout_items"))


def kill_and_restart(
    tmp_path: Path, kills: int, seed: int, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ScaledClock(300.0)  # a real second is five simulated minutes
    sim = Simulator(SimConfig(chunk_size=25, latency=0.005, **SCALED_LINKS), clock)
    held = HeldRequest(sim.store.handle)
    monkeypatch.setattr(sim.store, "handle", held)
    rng = random.Random(seed)
    database: Path | str = tmp_path / "harvester.db" if backend.startswith("sqlite") else backend
    with RunningSimulator(sim) as server:
        (tmp_path / "jobs.yaml").write_text(JOBS)
        env = env_for(make_settings(tmp_path, server.url, database_url=backend))
        env["HARVESTER_CLOCK"] = clock.spec()

        def start() -> subprocess.Popen[str]:
            return start_harvester("start", env=env, cwd=tmp_path)

        for kill in range(kills):
            process = start()
            if kill == 0:  # the first kill lands in a download, certainly inside a run
                held.arm()
                assert held.reached.wait(60), "no run downloaded anything"
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                held.release.set()
                continue
            # the others at a random moment while one of its runs is in flight (not merely
            # after start-up, which a loaded machine can stretch past the runs it would kill)
            busy = f"SELECT id FROM runs WHERE pid = {process.pid} AND status = 'running'"

            def in_flight(query: str = busy) -> bool:
                return bool(db_rows(database, query))

            wait_for(in_flight, timeout=60)
            time.sleep(rng.uniform(0.0, 0.2))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        process = start()  # the last one harvests until the fan-outs have caught up
        try:
            service = f"SELECT pid FROM service WHERE stopped_at IS NULL AND pid = {process.pid}"
            wait_for(lambda: bool(db_rows(database, service)), timeout=60)  # it is running
            wait_for(lambda: caught_up(database), timeout=180)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        assert process.returncode == 0
        # the cursor may have moved after the fan-outs last looked: more passes of each, until
        # no item is pending (a run takes at most max_items, so one pass may not be enough)
        for _ in range(10):
            done = run_harvester("run", "details", "event_logs", env=env, cwd=tmp_path, timeout=120)
            assert done.returncode == 0, done.stderr
            if caught_up(database):
                break
        cursor = parse_iso(str(db_rows(database, "SELECT value FROM cursors")[0][0]))
        # `start: -1d` is resolved by the first cursor run that stores a window (a run killed
        # before that leaves no cursor), so the expected span starts a day before that run
        first_recent = (
            "SELECT min(r.started_at) FROM runs r JOIN result_parts p ON p.run_id = r.id "
            "WHERE r.job = 'recent'"
        )
        first = parse_iso(str(db_rows(database, first_recent)[0][0]))
        expected = {str(s) for s in sim.world.subsessions_ending_between(first - 86400, cursor)}
    check_archive(database, expected)


def check_archive(database: Path | str, expected: set[str]) -> None:
    if isinstance(database, Path):  # PostgreSQL checks its foreign keys on every write
        assert db_rows(database, "PRAGMA integrity_check") == [("ok",)]
        assert db_rows(database, "PRAGMA foreign_key_check") == []
    assert db_rows(database, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]
    statuses = dict(db_rows(database, "SELECT status, count(*) FROM runs GROUP BY status"))
    assert statuses.get("interrupted", 0) >= 1  # the killed runs were found and marked (the
    # first kill's run at least: it was killed holding a download)
    check_results_are_whole(database)
    for job in ("details", "event_logs"):
        fetched = Counter(
            str(json.loads(str(params))["subsession_id"])
            for (params,) in db_rows(
                database, f"SELECT params FROM results WHERE job = '{job}' AND part = 0"
            )
        )
        assert expected <= set(fetched), job  # nothing lost
        assert max(fetched.values()) == 1, job  # nothing stored twice
    print(f"kill campaign: runs {statuses}, {len(expected)} subsessions each fetched once")


def check_results_are_whole(database: Path | str) -> None:
    """Every stored result has all the chunks its chunk_info lists, with all their rows."""
    headers = db_rows(
        database,
        "SELECT id, run_id, params, fetched_at, body FROM results "
        "WHERE part = 0 AND content_type = 'application/json'",
    )
    for result_id, run_id, params, fetched_at, body in headers:
        document = json.loads(str(body))
        info = document.get("chunk_info") if isinstance(document, dict) else None
        if info is None and isinstance(document, dict) and isinstance(document.get("data"), dict):
            info = document["data"].get("chunk_info")
        if not info:
            continue
        parts = db_rows(
            database,
            f"SELECT part, rows FROM results WHERE run_id = {run_id} "
            f"AND params = '{params}' AND fetched_at = '{fetched_at}' "
            "AND part > 0 ORDER BY part",
        )
        assert [p for p, _ in parts] == list(range(1, info["num_chunks"] + 1)), result_id
        assert sum(int(str(n)) for _, n in parts) == info["rows"], result_id


@pytest.mark.slow
def test_kill_campaign_short(tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    kill_and_restart(tmp_path, kills=4, seed=5, backend=backend, monkeypatch=monkeypatch)


@pytest.mark.chaos
def test_kill_campaign_long(tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    kill_and_restart(tmp_path, kills=20, seed=11, backend=backend, monkeypatch=monkeypatch)
