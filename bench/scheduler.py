"""(g) The scheduler at scale: JOBS jobs, start-up time and idle CPU of the service.

harvester's `Service` on a real `SystemClock` (no accelerated time), over a Runtime whose
transport is an in-process simulator that nothing should call. jobs.yaml holds JOBS jobs over
the simulator's endpoints (with valid parameters), every 1 h to 1 d or on a daily cron, the
example file's defaults (jitter 30 s, timeout 10 min, 2 retries), and the built-in catalogue
job switched off. The database is what a service that has been running for a while holds: the
/data catalogue stored once (so jobs.yaml is checked against it at start-up, as in production)
and one recent successful run of every job, so that no interval job is due for a while
(`scheduler.first_run_time`: one interval after its last run) and no cron job is due either
(their hours are chosen away from now).

- start-up: `Service(runtime, jobs_path)` + `start()` (the lock, jobs.yaml read and checked,
  stale runs marked, orphans collected, the heartbeat written, the scheduler started and
  JOBS jobs added), against the same with a jobs file of no enabled job; best of REPS
  interleaved starts, each service stopped again;
- idle CPU: after a start, `serve()` in a thread as `harvester start` runs it (jobs.yaml
  looked at every 2 s, a heartbeat every 10 s), `time.process_time` of the whole process over
  IDLE seconds of wall time, against the same process sleeping in a loop for as long.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from harvester._config.catalog import CATALOG_JOB
from harvester._service.runtime import Runtime, open_runtime
from harvester._service.service import Service
from harvester._store.db import sqlite_path
from harvester.simulator import SimConfig, Simulator, SimulatorTransport

from .common import BenchError, Goal, Options, Result, profile_top, scratch, sim_settings

SCENARIO = "scheduler"
START_GOAL = Goal("<", 5.0, "< 5 s", on="harvester")
IDLE_GOAL = Goal("<", 0.02, "< 2% of a core", on="harvester")
EVERY = ["1h", "2h", "3h", "6h", "12h", "1d"]
SECONDS = {"1h": 3600, "2h": 7200, "3h": 10_800, "6h": 21_600, "12h": 43_200, "1d": 86_400}
CRON_SHARE = 10  # one job in CRON_SHARE runs on a daily cron instead of an interval
ENDPOINTS: list[tuple[str, dict[str, Any]]] = [
    ("member/info", {}),
    ("member/get", {"cust_ids": [100_001], "include_licenses": True}),
    ("member/awards", {"cust_id": 100_001}),
    ("stats/member_summary", {"cust_id": 100_001}),
    ("stats/member_recent_races", {"cust_id": 100_001}),
    ("stats/world_records", {"car_id": 1, "track_id": 1}),
    ("series/get", {}),
    ("series/seasons", {"include_series": True}),
    ("season/list", {"season_year": 2026, "season_quarter": 1}),
    ("results/search_series", {"series_id": 1, "start_range_begin": "{-1d}"}),
    ("results/search_hosted", {"cust_id": 100_001, "start_range_begin": "{-1d}"}),
    ("results/get", {"subsession_id": 1000}),
    ("lookup/drivers", {"search_term": "smith"}),
    ("league/season_sessions", {"league_id": 1, "season_id": 1}),
    ("constants/categories", {}),
    ("track/get", {}),
    ("car/get", {}),
    ("driver_stats_by_category/road", {}),
]


def run(options: Options) -> list[Result]:
    jobs = 200 if options.quick else 1000
    idle = 3.0 if options.quick else 10.0
    reps = 1 if options.quick else 3
    sim = Simulator(SimConfig(rate_limit=None))  # a real clock, like the service's
    with scratch(SCENARIO) as folder:
        full, empty = folder / "jobs.yaml", folder / "empty.yaml"
        settings = sim_settings(folder, sim.base_url, jobs_path=full)
        with open_runtime(settings, transport=SimulatorTransport(sim)) as rt:
            if not rt.runner.run(CATALOG_JOB).ok:  # a catalogue to check jobs.yaml against
                raise BenchError("the catalogue could not be stored")
            names = _write_jobs(full, jobs, rt.clock.now())
            _write_jobs(empty, 0, rt.clock.now())
            _seed_runs(rt, names)
            requests_before = sim.state()["data"].get("requests", 0)

            baseline_idle = _idle_share(idle, None)
            starts: dict[str, list[float]] = {"full": [], "empty": []}
            for rep in range(reps):
                order = ["full", "empty"] if rep % 2 == 0 else ["empty", "full"]
                for name in order:
                    seconds, service = _start(rt, full if name == "full" else empty)
                    starts[name].append(seconds)
                    service.stop()
            if options.profile:
                print(f"\n== cProfile: Service.start() with {jobs} jobs ==", file=sys.stderr)
                print(profile_top(lambda: _start(rt, full)[1].stop()), file=sys.stderr)
            _, service = _start(rt, full)
            try:
                scheduled = service.scheduler.next_runs()
                soonest = min((at for at in scheduled.values() if at is not None), default=None)
                harvester_idle = _idle_share(idle, service)
            finally:
                service.stop()
            runs_done = len(service.outcomes)
            requests_after = sim.state()["data"].get("requests", 0)
            now = rt.clock.now()
    if len(scheduled) != jobs:
        raise BenchError(f"{len(scheduled)} jobs scheduled, expected {jobs}")
    if runs_done or requests_after != requests_before:
        raise BenchError(
            f"the idle service ran {runs_done} job(s) and sent "
            f"{requests_after - requests_before} request(s): the measurement is not of idleness"
        )
    first_due = "none" if soonest is None else f"{(soonest - now) / 60:.0f} min after the end"
    return [
        Result(
            SCENARIO,
            f"Service.start() with {jobs:,} jobs (vs a jobs file of none)",
            "s",
            min(starts["full"]),
            min(starts["empty"]),
            min(starts["full"]) / min(starts["empty"]),
            "ratio",
            START_GOAL,
            f"best of {reps} interleaved start(s) each, wall clock; all of {jobs} jobs "
            f"scheduled; the first due {first_due}",
        ),
        Result(
            SCENARIO,
            f"idle CPU after start-up, {jobs:,} jobs (vs the process sleeping)",
            "share",
            harvester_idle,
            baseline_idle,
            goal=IDLE_GOAL,
            note=f"process_time / wall time over {idle:g} s, the whole process (serve() "
            "thread, scheduler thread and the bench); share of one core; no run was due",
        ),
    ]


def _write_jobs(path: Path, count: int, now: float) -> list[str]:
    """jobs.yaml with `count` jobs (and the catalogue job off); their names."""
    rng = random.Random(count)
    hour = datetime.fromtimestamp(now, tz=UTC).hour
    jobs: dict[str, Any] = {"catalog": {"endpoint": "doc", "every": "1d", "enabled": False}}
    for i in range(count):
        endpoint, params = ENDPOINTS[i % len(ENDPOINTS)]
        job: dict[str, Any] = {"endpoint": endpoint}
        if params:
            job["params"] = params
        if i % CRON_SHARE == 0:
            # daily, at an hour at least 3 h away from now: never due during the bench
            job["cron"] = f"{rng.randrange(60)} {(hour + 3 + rng.randrange(18)) % 24} * * *"
        else:
            job["every"] = rng.choice(EVERY)
        jobs[f"job_{i:04d}_{endpoint.replace('/', '_')}"] = job
    document = {"defaults": {"jitter": "30s", "timeout": "10m", "retries": 2}, "jobs": jobs}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return [name for name in jobs if name != "catalog"]


def _seed_runs(rt: Runtime, names: list[str]) -> None:
    """One successful run of every job in the last 30 minutes (a service that ran a while)."""
    path = sqlite_path(rt.settings.database_url)
    assert path is not None
    rng = random.Random(7)
    now = rt.clock.now()
    rows = []
    for name in names:
        at = datetime.fromtimestamp(now - rng.uniform(60, 1800), tz=UTC)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append((name, "schedule", "success", stamp, stamp, 1, 1000, 1, 0, 4242))
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            'INSERT INTO runs (job, "trigger", status, started_at, finished_at, requests, bytes, '
            "documents_new, documents_dup, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _start(rt: Runtime, jobs_path: Path) -> tuple[float, Service]:
    started = time.perf_counter()
    service = Service(rt, jobs_path)
    service.start()
    return time.perf_counter() - started, service


def _idle_share(seconds: float, service: Service | None) -> float:
    """CPU time of the whole process per wall second over `seconds`: with `service` serving
    (as `harvester start` does), or sleeping in a loop."""
    thread = None
    if service is not None:
        thread = threading.Thread(target=service.serve, name="bench-serve", daemon=True)
        thread.start()
    time.sleep(0.2)  # serve() has begun: its first look at jobs.yaml and heartbeat are in
    cpu, wall = time.process_time(), time.perf_counter()
    deadline = wall + seconds
    while (left := deadline - time.perf_counter()) > 0:
        time.sleep(min(left, 0.1))
    share = (time.process_time() - cpu) / (time.perf_counter() - wall)
    if service is not None and thread is not None:
        service.request_stop()
        thread.join(timeout=30)
    return share
