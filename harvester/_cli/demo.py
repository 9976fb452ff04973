"""`harvester demo`: the whole service against the bundled simulator, in about half a minute.

The simulator is served on loopback with time running 60 times faster (half a minute is half an
hour of iRacing: access tokens expire and are refreshed, new races finish), harvester logs in
once, a first harvest runs the `my-results` job set (your races by cursor, their results, laps
and event logs by fan-out, your iRating charts), the scheduler keeps polling, a second process
reuses the stored session, and the summary answers two questions from the analysis tables
(your last races, your iRating trend) with the commands that ask them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from .._config.jobs import JobSpec
from .._config.jobs_file import load_jobs_file
from .._config.settings import Settings
from .._core.clock import ScaledClock
from .._service.runtime import open_runtime
from .._service.service import Service, ServiceOptions
from .._store import db
from .._store.models import Document, ResultPart, Run
from ..simulator import RunningSimulator, SimConfig, Simulator
from ..simulator.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PASSWORD, DEMO_USERNAME
from .jobs_init import template_text
from .output import table

TIME_SCALE = 60.0
DEMO_FILES = (
    "harvester.db",
    "harvester.db-wal",
    "harvester.db-shm",
    "harvester.db.lock",
    "harvester.key",
    "jobs.yaml",
)


DEMO_TEMPLATE = "my-results"


def simulator_settings(folder: Path, base_url: str, **overrides: Any) -> Settings:
    """Settings that point harvester at a simulator on `base_url` with its demo credentials and
    a database in `folder`: the one place tests, benchmarks and the demo build them."""
    folder.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "oauth_url": f"{base_url}/oauth2",
        "data_url": base_url,
        "database_url": f"sqlite:///{folder / 'harvester.db'}",
        "jobs_path": folder / "jobs.yaml",
    }
    values.update(overrides)
    return Settings(**values)


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
    simulator = Simulator(SimConfig(chunk_size=10), clock)  # small chunks: several per result
    me = str(simulator.world.config.me_cust_id)  # my-results asks for it: whose results
    with _environment("IRACING_CUST_ID", me), RunningSimulator(simulator) as server:
        env = {**server.settings(), "IRACING_CUST_ID": me}
        settings = simulator_settings(folder, server.url, clock=clock.spec())
        settings.jobs_path.write_text(template_text(DEMO_TEMPLATE), encoding="utf-8")

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
            config = _jobs(settings.jobs_path)
            echo(
                f"3. `harvester jobs init --template {DEMO_TEMPLATE}` wrote {len(config)} jobs; "
                "`harvester run` of each, in order, is the first harvest:"
            )
            for job in config.values():
                outcome = runtime.runner.run(job, trigger="cli")
                echo(f"   {outcome.summary()}")
            echo(f"4. `harvester start` keeps them on schedule for {duration:g} s ...")
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
            f"5. A second process (`harvester run recent_races`) reused the stored session: "
            f"{second} - password logins it cost: {simulator.state()['password_grants'] - before}."
        )
        result = _summary(settings, simulator)
    echo("")
    echo(_report(result))
    for title, sql in questions(int(me)):
        echo(f"{title}:")
        echo(_answer(settings, sql))
        echo(f"  ask it yourself: {paste_line(folder, sql)}")
        echo("")
    echo("More on the demo archive:")
    for sql in EXAMPLE_QUERIES:
        echo(f"  {paste_line(folder, sql)}")
    return result


def paste_line(folder: Path, sql: str) -> str:
    """A `harvester query` line that works pasted into a shell here: this installation's
    harvester (a venv's need not be on PATH), the demo's database, the SQL in double quotes
    with what sh would expand there escaped."""
    url = shlex.quote(f"sqlite:///{os.path.relpath(folder / 'harvester.db')}")
    quoted = re.sub(r'([\\"$`])', r"\\\1", sql)
    return f'HARVESTER_DATABASE_URL={url} {_harvester_command()} query "{quoted}"'


def _harvester_command() -> str:
    """The `harvester` of this installation (the venv's, which need not be on PATH), as a
    shell word."""
    beside = Path(sys.executable).parent / "harvester"
    if beside.exists():
        return shlex.quote(str(beside))
    found = shutil.which("harvester")
    return shlex.quote(found) if found else f"{shlex.quote(sys.executable)} -m harvester"


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """`name` set to `value` in this process while the block runs (the jobs file reads it)."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def questions(cust_id: int) -> list[tuple[str, str]]:
    """The two questions the demo answers from the analysis tables, as SQL."""
    races = (
        "SELECT s.start_time, s.series_name, s.track_name, r.starting_position + 1 AS started, "
        "r.finish_position + 1 AS finished, r.incidents, r.oldi_rating, r.newi_rating "
        "FROM session_results r JOIN subsessions s USING (subsession_id) "
        f"WHERE r.cust_id = {cust_id} AND r.simsession_number = 0 "
        "ORDER BY s.start_time DESC LIMIT 5"
    )
    trend = (
        "SELECT category, count(*) AS days, min(date) AS since, max(date) AS latest, "
        "(SELECT value FROM member_charts f WHERE f.cust_id = c.cust_id AND "
        "f.category = c.category AND f.chart_type = 1 ORDER BY date LIMIT 1) AS first_irating, "
        "(SELECT value FROM member_charts f WHERE f.cust_id = c.cust_id AND "
        "f.category = c.category AND f.chart_type = 1 ORDER BY date DESC LIMIT 1) AS irating_now "
        f"FROM member_charts c WHERE cust_id = {cust_id} AND chart_type = 1 "
        "GROUP BY category ORDER BY days DESC"
    )
    return [("Your last races", races), ("Your iRating trend", trend)]


def _answer(settings: Settings, sql: str) -> str:
    engine = db.create_db_engine(settings.database_url)
    try:
        with db.read(engine) as conn:
            result = conn.execute(text(sql))
            names = tuple(result.keys())
            rows = [tuple("" if v is None else v for v in row) for row in result.all()]
    finally:
        engine.dispose()
    if not rows:
        return "  (nothing yet: the tables fill as the jobs run)"
    return "\n".join("  " + line for line in table(names, rows).splitlines())


EXAMPLE_QUERIES = (
    "SELECT job, status, count(*) AS runs FROM runs GROUP BY job, status ORDER BY job",
    # each race once, however many polls returned it
    "SELECT json_extract(row, '$.series_name') AS series, "
    "count(DISTINCT json_extract(row, '$.subsession_id')) AS races "
    "FROM result_rows WHERE job = 'my_results' GROUP BY series ORDER BY races DESC",
    "SELECT job, fetched_at, length(body) AS bytes FROM latest_results ORDER BY job",
)


def _jobs(path: Path) -> dict[str, JobSpec]:
    jobs = load_jobs_file(path).jobs
    return {name: job for name, job in jobs.items() if name != "catalog"}


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
        [sys.executable, "-m", "harvester", "run", "recent_races"],
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
