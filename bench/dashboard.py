"""(h) The service's HTTP endpoint on a big archive: RUNS runs of 20 jobs over 30 days.

The archive is built with `sqlite3` (executemany) in a database migrated by harvester, then
analysed as the service does at start-up. A service's Watch (`_observe.web`) serves it on
127.0.0.1:<ephemeral>, and each page is fetched over real loopback HTTP, median of REPS after
a warm-up: `/` (the dashboard: 7 days of hourly bars, a duration plot per job, the job table),
`/api/status`, `/metrics` (runs counted from the table at each scrape) and `/healthz`. The
baseline is the same page on an empty archive: what the rows cost on top of the page itself.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from pathlib import Path

import httpx

from harvester._config.jobs_file import load_jobs_file
from harvester._core.clock import iso_seconds
from harvester._observe.web.watch import Watch
from harvester._service.runtime import open_runtime
from harvester._service.service import Service
from harvester._store.db import open_database

from .common import Goal, Options, Result, scratch, sim_settings

SCENARIO = "dashboard"
JOBS = 20
DAYS = 30
GOAL = Goal("<", 1000.0, "< 1 s", on="harvester")
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


def _timings(folder: Path, runs: int, reps: int) -> dict[str, float]:
    _build(folder, runs)
    jobs = folder / "jobs.yaml"
    jobs.write_text(
        "jobs:\n"
        + "".join(f"  job_{i:02d}: {{endpoint: member/info, every: 1h}}\n" for i in range(JOBS))
        + "  catalog: {endpoint: doc, every: 1d, enabled: false}\n"
    )
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
                for path in ("/", "/api/status", "/metrics", "/healthz"):
                    client.get(path)  # warm-up
                    samples = []
                    for _ in range(reps):
                        started = time.perf_counter()
                        response = client.get(path)
                        samples.append((time.perf_counter() - started) * 1000)
                        assert response.status_code in (200, 503)
                    out[path] = statistics.median(samples)
        finally:
            watch.stop()
    return out


def run(options: Options) -> list[Result]:
    runs = 10_000 if options.quick else 100_000
    reps = 3 if options.quick else 7
    with scratch(SCENARIO) as folder:
        big_folder = folder / "big"
        empty_folder = folder / "empty"
        big_folder.mkdir()
        empty_folder.mkdir()
        big = _timings(big_folder, runs, reps)
        empty = _timings(empty_folder, 0, reps)
    results = []
    labels = {
        "/": "GET / (the dashboard, 7 days of plots)",
        "/api/status": "GET /api/status (the same as JSON)",
        "/metrics": "GET /metrics (runs counted from the table)",
        "/healthz": "GET /healthz",
    }
    for path, label in labels.items():
        results.append(
            Result(
                SCENARIO,
                f"{label} with {runs:,} runs",
                "ms",
                big[path],
                empty[path],
                big[path] / empty[path] if empty[path] else None,
                "ratio",
                GOAL if path == "/" and not options.quick else None,
                f"median of {reps} over loopback HTTP after a warm-up; baseline: the same "
                f"page on an empty archive; {JOBS} jobs, {DAYS} days of runs, 5,000 documents",
            )
        )
    return results
