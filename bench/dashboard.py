"""(h) The service's HTTP endpoint on a big archive: a million runs of 20 jobs over 30 days,
and /healthz with 10,000 jobs.

The archive is built with `sqlite3` (executemany) in a database migrated by harvester (its
triggers keep the running figures as the rows go in), then analysed as the service does at
start-up. A service's Watch (`_observe.web`) serves it on 127.0.0.1:<ephemeral>, and each page
is fetched over real loopback HTTP, median of REPS after a warm-up: `/` (the dashboard: 7 days
of hourly bars, a duration plot per job, the job table), `/api/status`, `/metrics` and
`/api/runs` (what `harvester runs` reads); `/healthz` with HEALTH_JOBS more jobs in the jobs
file, each with a few runs, 1 in 100 failing now. `harvester status`'s reads (the service row,
the last day's runs by status) are timed in-process. The baseline is the same on an empty
archive: what the rows cost on top of the page itself.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from harvester._config.jobs_file import load_jobs_file
from harvester._core.clock import iso_seconds
from harvester._observe.reports import run_counts_since, service_info
from harvester._observe.web.watch import Watch
from harvester._service.runtime import open_runtime
from harvester._service.service import Service
from harvester._store.db import open_database

from .common import Goal, Options, Result, scratch, sim_settings

SCENARIO = "dashboard"
JOBS = 20
DAYS = 30
HEALTH_JOBS = 10_000
GOAL = Goal("<", 500.0, "< 0.5 s", on="harvester")
STATUSES = (("success", 90), ("failed", 3), ("skipped", 4), ("maintenance", 2), ("not_found", 1))


def _build(folder: Path, runs: int) -> Path:
    path = folder / "harvester.db"
    open_database(f"sqlite:///{path}").dispose()  # migrated by harvester
    rng = random.Random(11)
    now = time.time()
    names = [s for s, _ in STATUSES]
    weights = [w for _, w in STATUSES]
    rows = []
    for i in range(runs):
        started = now - DAYS * 86400 * (1 - i / max(runs, 1))
        status = rng.choices(names, weights)[0]
        rows.append(
            (
                f"job_{i % JOBS:02d}",
                status,
                iso_seconds(started),
                iso_seconds(started + rng.expovariate(1 / 3)),
                rng.randint(0, 240),
                "HTTP 500 after 4 attempts" if status == "failed" else None,
            )
        )
    documents = [
        (
            f"{i:064x}",
            "{}",
            rng.randint(200, 50_000),
            "application/json",
            iso_seconds(now - DAYS * 86400 * (1 - i / 5000)),
        )
        for i in range(5000 if runs else 0)
    ]
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO runs (job, trigger, status, started_at, finished_at, requests, bytes, "
            "documents_new, documents_dup, rows_new, rows_dup, error, ratelimit_remaining) "
            "VALUES (?1, 'schedule', ?2, ?3, ?4, 1, 1000, 0, 1, 0, 0, ?6, ?5)",
            rows,
        )
        conn.executemany(
            "INSERT INTO documents (sha256, body, size, content_type, first_seen_at) "
            "VALUES (?, ?, ?, ?, ?)",
            documents,
        )
    conn.close()
    return path


def _add_health_jobs(path: Path, health_jobs: int) -> None:
    """Each of `health_jobs` more jobs: a success a day ago, then its newest run (1 in 100
    failed), added once the other pages are measured (so their plots and series are of the
    20 jobs only)."""
    now = time.time()
    rows: list[tuple[str, str, str, str | None]] = []
    for j in range(health_jobs):
        started = now - 86400 + j
        rows.append((f"many_{j:05d}", "success", iso_seconds(started), None))
        failed = j % 100 == 0
        rows.append(
            (
                f"many_{j:05d}",
                "failed" if failed else "success",
                iso_seconds(now - j),
                "HTTP 500 after 4 attempts" if failed else None,
            )
        )
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO runs (job, trigger, status, started_at, finished_at, requests, bytes, "
            "documents_new, documents_dup, rows_new, rows_dup, error, ratelimit_remaining) "
            "VALUES (?1, 'schedule', ?2, ?3, ?3, 1, 1000, 0, 1, 0, 0, ?4, 9)",
            rows,
        )
    conn.close()


def _median_ms(work: Callable[[], object], reps: int) -> float:
    work()  # warm-up
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _jobs_file(path: Path, health_jobs: int) -> Path:
    path.write_text(
        "jobs:\n"
        + "".join(f"  job_{i:02d}: {{endpoint: member/info, every: 1h}}\n" for i in range(JOBS))
        + "".join(
            f"  many_{j:05d}: {{endpoint: member/info, every: 1d}}\n" for j in range(health_jobs)
        )
        + "  catalog: {endpoint: doc, every: 1d, enabled: false}\n"
    )
    return path


def _timings(folder: Path, runs: int, health_jobs: int, reps: int) -> dict[str, float]:
    database = _build(folder, runs)
    jobs = _jobs_file(folder / "jobs.yaml", 0)
    many = _jobs_file(folder / "many.yaml", health_jobs)
    settings = sim_settings(folder, "http://127.0.0.1:9", http=("127.0.0.1", 0), jobs_path=jobs)
    out: dict[str, float] = {}
    with open_runtime(settings) as rt:
        rt.archive.analyze()
        service = Service(rt, jobs)
        service.config = load_jobs_file(jobs, rt.engine, strict=False)
        watch = Watch(service)
        watch.start()
        watch.heartbeat()
        try:
            assert watch.server is not None
            with httpx.Client(base_url=watch.server.url, timeout=60) as client:

                def page(path: str) -> Callable[[], object]:
                    def get() -> None:
                        response = client.get(path)
                        assert response.status_code in (200, 503), (path, response.status_code)

                    return get

                for path in ("/", "/api/status", "/metrics", "/api/runs"):
                    out[path] = _median_ms(page(path), reps)
                out["/api/runs?job"] = _median_ms(page("/api/runs?job=job_03&status=failed"), reps)
                day_ago = iso_seconds(rt.clock.now() - 86400)
                out["status"] = _median_ms(
                    lambda: (
                        service_info(rt.engine, settings.reading_url, rt.clock),
                        run_counts_since(rt.engine, day_ago),
                    ),
                    reps,
                )
                if runs:
                    _add_health_jobs(database, health_jobs)
                service.config = load_jobs_file(many, rt.engine, strict=False)
                out["/healthz"] = _median_ms(page("/healthz"), reps)
        finally:
            watch.stop()
    return out


LABELS = {
    "/": "GET / (the dashboard, 7 days of plots)",
    "/api/status": "GET /api/status (the same as JSON)",
    "/metrics": "GET /metrics (runs by job and status)",
    "/api/runs": "GET /api/runs (harvester runs: the newest 100)",
    "/api/runs?job": "GET /api/runs?job=&status=failed (harvester runs --job --status)",
    "status": "harvester status's reads (service row, the last day's runs by status)",
    "/healthz": "GET /healthz with {health_jobs:,} more jobs",
}
GOALS = {"/", "/metrics", "/api/runs", "/api/runs?job", "status", "/healthz"}


def run(options: Options) -> list[Result]:
    runs = 100_000 if options.quick else 1_000_000
    health_jobs = 2_000 if options.quick else HEALTH_JOBS
    reps = 3 if options.quick else 7
    with scratch(SCENARIO) as folder:
        big_folder = folder / "big"
        empty_folder = folder / "empty"
        big_folder.mkdir()
        empty_folder.mkdir()
        big = _timings(big_folder, runs, health_jobs, reps)
        empty = _timings(empty_folder, 0, health_jobs, reps)
    results = []
    for path, label in LABELS.items():
        results.append(
            Result(
                SCENARIO,
                f"{label.format(health_jobs=health_jobs)} with {runs:,} runs",
                "ms",
                big[path],
                empty[path],
                big[path] / empty[path] if empty[path] else None,
                "ratio",
                GOAL if path in GOALS and not options.quick else None,
                f"median of {reps} after a warm-up (pages over loopback HTTP); baseline: the "
                f"same on an empty archive; {JOBS} jobs, {DAYS} days of runs, 5,000 documents; "
                f"/healthz: {health_jobs:,} more jobs, 2 runs each, 1 in 100 failing now",
                readme=path == "/metrics",  # beside GET /: the two pages the goal names
            )
        )
    return results
