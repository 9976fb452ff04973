"""`harvester demo`: the whole service against the bundled simulator, in about half a minute.

The simulator is served on loopback with time running 60 times faster (half a minute is half an
hour of iRacing: access tokens expire and are refreshed, new races finish), harvester logs in
once, the scheduler runs a set of jobs covering every response shape, a second process reuses
the stored session, and a summary shows what was archived and what it cost in logins.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from . import db
from .clock import ScaledClock, iso_seconds
from .models import Document, ResultPart, Run
from .output import table
from .runtime import open_runtime
from .service import Service, ServiceOptions
from .settings import Settings
from .simulator import RunningSimulator, SimConfig, Simulator

TIME_SCALE = 60.0
DEMO_FILES = (
    "harvester.db",
    "harvester.db-wal",
    "harvester.db-shm",
    "harvester.db.lock",
    "harvester.key",
    "jobs.yaml",
)


def demo_jobs(subsession_id: int, year: int, quarter: int) -> str:
    return f"""\
# The demo's jobs: every response shape of the /data API, on schedules in simulated time.
defaults:
  jitter: 5s
jobs:
  member_info:                 # a link to the document
    endpoint: member/info
    every: 10m
  categories:                  # the document itself
    endpoint: constants/categories
    every: 1h
  awards:                      # data_url
    endpoint: member/awards
    every: 30m
  recent_races:
    endpoint: stats/member_recent_races
    every: 15m
  season_results:              # chunk_info in the answer: every race of the season, in chunks
    endpoint: results/search_series
    params: {{season_year: {year}, season_quarter: {quarter}}}
    every: 10m
  race_event_log:              # a link to a header whose chunk_info lists the chunks
    endpoint: results/event_log
    params: {{subsession_id: {subsession_id}, simsession_number: 0}}
    every: 20m
  spectators:                  # a 60-second document, polled every minute
    endpoint: season/spectator_subsessionids
    every: 1m
  road_stats:                  # a CSV file behind a link
    endpoint: driver_stats_by_category/road
    every: 1d
"""


@dataclass
class DemoResult:
    database: Path
    runs_by_status: dict[str, int]
    documents: int
    results: int
    password_grants: int
    refreshes: int
    rate_limited: int
    per_job: list[tuple[str, str, int]]


def run_demo(duration: float, folder: Path, echo: Callable[[str], None] = print) -> DemoResult:
    folder.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:
        (folder / name).unlink(missing_ok=True)
    clock = ScaledClock(TIME_SCALE)
    simulator = Simulator(SimConfig(chunk_size=500), clock)
    with RunningSimulator(simulator) as server:
        env = server.settings()
        settings = Settings(
            client_id=env["IRACING_CLIENT_ID"],
            client_secret=env["IRACING_CLIENT_SECRET"],
            username=env["IRACING_USERNAME"],
            password=env["IRACING_PASSWORD"],
            oauth_url=env["IRACING_OAUTH_URL"],
            data_url=env["IRACING_DATA_URL"],
            database_url=f"sqlite:///{folder / 'harvester.db'}",
            jobs_path=folder / "jobs.yaml",
            clock=clock.spec(),
        )
        now = clock.now()
        recent = simulator.world.subsessions_ending_between(now - 86400, now)
        utc = iso_seconds(now)
        year, quarter = int(utc[:4]), (int(utc[5:7]) - 1) // 3 + 1
        settings.jobs_path.write_text(demo_jobs(recent[-1], year, quarter))

        echo(
            f"1. The simulator is serving on {server.url}, time x{TIME_SCALE:g} "
            f"({duration:g} s here are {duration * TIME_SCALE / 60:g} simulated minutes)."
        )
        with open_runtime(settings, clock=clock) as runtime:
            runtime.session.login()
            status = runtime.session.status().as_dict()
            echo(
                "2. `harvester auth login` stored one encrypted session: "
                f"{status['username']}, access token until {status['access_expires_at']}, "
                f"refresh token until {status['refresh_expires_at']}."
            )
            echo(
                f"3. `harvester start` runs {len(_job_names(settings.jobs_path))} jobs for "
                f"{duration:g} s ..."
            )
            service = Service(
                runtime,
                settings.jobs_path,
                ServiceOptions(heartbeat_interval=1.0, drain_seconds=5.0),
            )
            service.start()
            stop = threading.Timer(duration, service.request_stop)
            stop.start()
            try:
                service.serve()
            except KeyboardInterrupt:
                echo("   (interrupted)")
            finally:
                stop.cancel()
                service.stop()
        before = simulator.state()["password_grants"]
        second = _second_process(env, settings, clock)
        echo(
            f"4. A second process (`harvester run member_info`) reused the stored session: "
            f"{second} - password logins it cost: {simulator.state()['password_grants'] - before}."
        )
        result = _summary(settings, simulator)
    echo("")
    echo(_report(result))
    url = f"sqlite:///{os.path.relpath(folder / 'harvester.db')}"
    echo("Try these on the demo archive (harvester is .venv/bin/harvester):")
    for sql in EXAMPLE_QUERIES:
        echo(f'  HARVESTER_DATABASE_URL={url} harvester query "{sql}"')
    return result


EXAMPLE_QUERIES = (
    "SELECT job, status, count(*) AS runs FROM runs GROUP BY job, status ORDER BY job",
    "SELECT json_extract(row, '$.series_name') AS series, count(*) AS races "
    "FROM result_rows WHERE job = 'season_results' GROUP BY series ORDER BY races DESC",
    "SELECT job, fetched_at, length(body) AS bytes FROM latest_results ORDER BY job",
)


def _job_names(path: Path) -> list[str]:
    from .scheduler import load_jobs_file

    return list(load_jobs_file(path).jobs)


def _second_process(env: dict[str, str], settings: Settings, clock: ScaledClock) -> str:
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IRACING_", "HARVESTER_"))
    }
    child_env.update(env)
    child_env.update(
        HARVESTER_DATABASE_URL=settings.database_url,
        HARVESTER_JOBS=str(settings.jobs_path),
        HARVESTER_CLOCK=clock.spec(),
        LOG_LEVEL="WARNING",
    )
    done = subprocess.run(
        [sys.executable, "-m", "harvester", "run", "member_info"],
        env=child_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    line = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return line[-1] if line else f"exit {done.returncode}"


def _summary(settings: Settings, simulator: Simulator) -> DemoResult:
    engine = db.create_db_engine(settings.database_url)
    try:
        with db.read(engine) as conn:
            by_status = dict(
                conn.execute(select(Run.status, func.count()).group_by(Run.status)).all()
            )
            documents = conn.execute(select(func.count()).select_from(Document)).scalar_one()
            results = conn.execute(select(func.count()).select_from(ResultPart)).scalar_one()
            per_job = conn.execute(
                select(Run.job, Run.status, func.count()).group_by(Run.job, Run.status)
            ).all()
    finally:
        engine.dispose()
    state: dict[str, Any] = simulator.state()
    result = DemoResult(
        database=Path(settings.database_url.removeprefix("sqlite:///")),
        runs_by_status={str(k): int(v) for k, v in by_status.items()},
        documents=int(documents),
        results=int(results),
        password_grants=int(state["password_grants"]),
        refreshes=int(state["refreshes"]),
        rate_limited=int(state["data"].get("rate_limited", 0)),
        per_job=[(str(job), str(status), int(count)) for job, status, count in per_job],
    )
    return result


def _report(result: DemoResult) -> str:
    lines = ["Summary", table(("job", "status", "runs"), result.per_job)]
    total = sum(result.runs_by_status.values())
    lines.append(
        f"runs: {total} ({', '.join(f'{k} {v}' for k, v in sorted(result.runs_by_status.items()))})"
    )
    lines.append(
        f"archive: {result.results} result rows over {result.documents} stored "
        f"documents (unchanged polls share one copy) in {result.database}"
    )
    lines.append(
        f"OAuth: {result.password_grants} password login(s), {result.refreshes} "
        f"refresh(es); 429 answers received: {result.rate_limited}"
    )
    return "\n".join(lines) + "\n"
