"""The tables against real harvests of the simulator: each race and result once however often
it is polled, the same answers as the raw JSON, equal to a rebuild after kills."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._config.jobs_yaml import parse_jobs
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock, ScaledClock, iso_seconds
from harvester._service.runtime import Runtime
from harvester._store import db
from harvester._tables.rebuild import rebuild
from harvester._tables.schema import TABLE_NAMES
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from tests.chaos.test_kill import JOBS, caught_up
from tests.helpers import db_rows, env_for, make_settings, start_harvester, wait_for

DAY = 86400.0

# a result row by driver: a team's row (with driver_results) gives each driver's row
BY_DRIVER = """json_each(CASE WHEN json_type(r.value, '$.driver_results') = 'array'
    THEN json_extract(r.value, '$.driver_results') ELSE json_array(json(r.value)) END) AS x"""


def query(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with db.read(engine) as conn:
        return [tuple(r) for r in conn.execute(text(sql)).all()]


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {n: query(engine, f"SELECT * FROM {n} ORDER BY 1, 2, 3, 4") for n in TABLE_NAMES}


def jobs(start: str) -> dict[str, Any]:
    config = parse_jobs(
        textwrap.dedent(f"""
        jobs:
          recent:
            endpoint: results/search_series
            every: 1h
            incremental: {{cursor: end_time, param: finish_range_begin, start: "{start}",
                          window: 2d, key: subsession_id}}
          details:
            endpoint: results/get
            every: 1h
            for_each: {{job: recent, path: "$[*].subsession_id", param: subsession_id}}
          events:
            endpoint: results/event_log
            every: 1h
            params: {{simsession_number: 0}}
            for_each: {{job: recent, path: "$[*].subsession_id", param: subsession_id}}
          laps:
            endpoint: results/lap_data
            every: 1h
            params: {{simsession_number: 0}}
            for_each: {{job: recent, path: "$[*].subsession_id", param: subsession_id,
                        max_items: 5}}
          me: {{endpoint: member/info, every: 1h}}
          chart:
            endpoint: member/chart_data
            every: 1h
            params: {{category_id: 2, chart_type: 1}}
          cars: {{endpoint: car/get, every: 1d}}
          tracks: {{endpoint: track/get, every: 1d}}
          series: {{endpoint: series/get, every: 1d}}
    """)
    )
    return dict(config.jobs)


@pytest.mark.slow
def test_a_harvest_gives_each_race_and_result_once_and_the_raw_answers(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    sim.config.chunk_size = 20
    specs = jobs(iso_seconds(clock.now() - DAY))
    for _ in range(3):  # repeated polls: the same subsessions and members again and again
        for spec in specs.values():
            outcome = runtime.runner.run(spec)
            assert outcome.status == "success", outcome.error
        clock.advance(3 * 3600)
    # the plain jobs were polled three times, each subsession's search row seen at least once
    engine = runtime.engine
    raw_subsessions = query(
        engine,
        "SELECT count(DISTINCT json_extract(row, '$.subsession_id')) FROM result_rows "
        "WHERE endpoint = 'results/search_series'",
    )
    assert query(engine, "SELECT count(*) FROM subsessions") == raw_subsessions
    assert query(engine, "SELECT count(*) FROM subsessions WHERE NOT complete") == [(0,)]
    # session_results: the same rows as the raw results/get documents, once each (a team's
    # row is a row per driver who drove its car)
    raw = query(
        engine,
        f"""SELECT count(*), sum(json_extract(x.value, '$.incidents'))
           FROM results AS d, json_each(d.body, '$.session_results') AS s,
                json_each(s.value, '$.results') AS r, {BY_DRIVER}
           WHERE d.endpoint = 'results/get' AND d.part = 0""",
    )
    assert query(engine, "SELECT count(*), sum(incidents) FROM session_results") == raw
    assert raw[0][0] > 50
    assert query(engine, "SELECT count(*) FROM event_log") == query(
        engine,
        "SELECT count(*) FROM result_rows WHERE endpoint = 'results/event_log'",
    )
    (laps,) = query(engine, "SELECT count(*) FROM laps")
    assert laps[0] > 0
    members = query(engine, "SELECT count(*), count(DISTINCT cust_id) FROM members")
    assert members[0][0] == members[0][1] > 10
    (me,) = query(
        engine,
        "SELECT source FROM members WHERE cust_id = (SELECT max(cust_id) FROM members "
        "WHERE source = 'member/info')",
    )
    assert me == ("member/info",)
    charted = query(
        engine,
        "SELECT json_array_length(body, '$.data') FROM latest_results "
        "WHERE endpoint = 'member/chart_data'",
    )
    assert query(engine, "SELECT count(*) FROM member_charts") == charted
    assert charted[0][0] > 0
    for table in ("cars", "tracks", "series"):
        assert query(engine, f"SELECT count(*) FROM {table} WHERE source_rank = 2")[0][0] > 0
    before = snapshot(engine)
    rebuild(engine)
    assert snapshot(engine) == before


@pytest.mark.slow
def test_tables_equal_a_rebuild_after_a_kill_campaign(tmp_path: Path) -> None:
    _kill_and_restart(tmp_path, kills=3)
    engine = db.open_database(f"sqlite:///{tmp_path / 'harvester.db'}")
    try:
        details = query(engine, "SELECT count(*) FROM results WHERE job = 'details' AND part = 0")[
            0
        ][0]
        assert details > 0
        assert query(engine, "SELECT count(*) FROM subsessions WHERE complete") == [(details,)]
        raw = query(
            engine,
            f"""SELECT count(*) FROM results AS d, json_each(d.body, '$.session_results') AS s,
                    json_each(s.value, '$.results') AS r, {BY_DRIVER}
               WHERE d.job = 'details' AND d.part = 0""",
        )
        assert query(engine, "SELECT count(*) FROM session_results") == raw
        events = query(engine, "SELECT count(*) FROM result_rows WHERE job = 'event_logs'")
        assert query(engine, "SELECT count(*) FROM event_log") == events
        assert query(engine, "SELECT count(*) FROM tables_skipped") == [(0,)]
        before = snapshot(engine)
        rebuild(engine)
        assert snapshot(engine) == before
    finally:
        engine.dispose()


def _kill_and_restart(folder: Path, kills: int) -> None:
    """`harvester start` SIGKILLed mid-harvest (once results are being stored), restarted,
    then left to catch up and stopped: the kill campaign's harness, without its timing."""
    clock = ScaledClock(300.0)
    sim = Simulator(SimConfig(chunk_size=25, latency=0.005), clock)
    database = folder / "harvester.db"
    rng = random.Random(3)
    with RunningSimulator(sim) as server:
        (folder / "jobs.yaml").write_text(JOBS)
        env = env_for(make_settings(folder, server.url))
        env["HARVESTER_CLOCK"] = clock.spec()

        def start() -> subprocess.Popen[str]:
            return start_harvester("start", env=env, cwd=folder)

        stored = 0
        for _ in range(kills):
            process = start()

            def stored_more(before: int = stored) -> bool:
                return _parts(database) > before

            wait_for(stored_more, timeout=60)
            time.sleep(rng.uniform(0.05, 0.5))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            stored = _parts(database)
        process = start()
        try:
            wait_for(lambda: caught_up(database), timeout=180)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def _parts(database: Path) -> int:
    rows = db_rows(database, "SELECT count(*) FROM result_parts")
    return int(str(rows[0][0])) if rows else 0


def test_a_failure_while_storing_leaves_neither_the_result_nor_its_rows(
    runtime: Runtime, sim: Simulator, clock: ManualClock
) -> None:
    """What a kill between the rows and the commit would leave: nothing of the result."""
    archive = runtime.archive
    subsession = sim.world.subsessions_ending_between(clock.now() - DAY, clock.now())[0]
    params = {"subsession_id": str(subsession)}
    run_id = archive.open_run("details", "cli")

    def crash(_conn: Any) -> None:
        raise KeyboardInterrupt  # the process dies in the storing transaction

    run = RunContext(JobSpec("details", "results/get"), run_id, CancelToken(archive.clock))
    with pytest.raises(KeyboardInterrupt):
        archive.store_result(run, params, runtime.client.fetch("results/get", params), crash)
    engine = runtime.engine
    assert query(engine, "SELECT count(*) FROM results WHERE job = 'details'") == [(0,)]
    assert query(engine, "SELECT count(*) FROM subsessions") == [(0,)]
    assert query(engine, "SELECT count(*) FROM session_results") == [(0,)]
    assert json.loads(json.dumps(params))  # the request itself was fine
