"""(f) Archive queries at scale: PARTS rows in `results`, and the queries a user runs most.

A database migrated by `_store.db.open_database` is filled with what a long-running harvester
would have stored (bench/archive_workload.py: 50 jobs, plain, with parameter sets and chunked,
deduplicated as `Archive.store_result` does, one run per poll).

Then `Archive.analyze()` (a sampled ANALYZE, `PRAGMA analysis_limit = 1000`), as the service
runs it at start-up and daily, so the figures are those of a file a running service keeps.
Timed, each as `harvester query` runs it (`_store.query.run_query`: a read-only connection
per query), median of REPS after one warm-up run, against the same question asked without the
`latest` table:

(i)  the latest result of every job: `latest_results`, against max(id) GROUP BY over
     result_parts;
(ii) the rows of one chunked job's latest results: `result_rows` (`json_each`) whose
     `result_id` is one of the job's `latest_results`, against picking the newest run with
     max(fetched_at) (which the (job, fetched_at) index answers);
(iii) the latest result of that one job: `latest_results WHERE job = ...` (the `latest` table's
     key), against max(id) GROUP BY over that job's result_parts.

Then, as a diagnostic, (ii) timed before `analyze()`: the file without the planner's statistics
(as a database is between its bulk growth and the service's next start or daily upkeep), with
(i) and (iii) in its note; and how long `analyze()` took.

And the file's size against the bytes it represents (what was received: the size of the
document each result part points at), the dedupe ratio.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from pathlib import Path

from harvester._archive.archive import Archive
from harvester._core.clock import SystemClock
from harvester._store.db import open_database
from harvester._store.query import run_query

from .archive_workload import CHUNK_ROWS, build, make_jobs
from .common import MB, BenchError, Goal, Options, Result, scratch

SCENARIO = "archive"
GOAL = Goal("<", 50.0, "< 50 ms", on="harvester")
BUILD_GOAL = Goal("<", 60.0, "< 60 s", on="harvester")
SLOW_MS = 300.0  # a query slower than this is timed 3 times, not `reps`

LATEST_SQL = "SELECT job, fetched_at, length(body) FROM latest_results"
LATEST_BASELINE_SQL = """
SELECT p.job, p.fetched_at, length(d.body)
FROM result_parts AS p JOIN documents AS d ON d.sha256 = p.sha256
WHERE p.id IN (SELECT max(id) FROM result_parts WHERE part = 0 GROUP BY job, endpoint, params)
"""
ROWS_SQL = """
SELECT row FROM result_rows
WHERE result_id IN (SELECT id FROM latest_results WHERE job = '{job}')
"""
ONE_SQL = "SELECT id, fetched_at, length(body) FROM latest_results WHERE job = '{job}'"
ONE_BASELINE_SQL = """
SELECT p.id, p.fetched_at, length(d.body)
FROM result_parts AS p JOIN documents AS d ON d.sha256 = p.sha256
WHERE p.id IN (
    SELECT max(id) FROM result_parts WHERE job = '{job}' AND part = 0 GROUP BY endpoint, params
)
"""
ROWS_BASELINE_SQL = """
SELECT row FROM result_rows
WHERE job = '{job}'
  AND fetched_at = (SELECT max(fetched_at) FROM result_parts WHERE job = '{job}')
"""


def run(options: Options) -> list[Result]:
    target = 100_000 if options.quick else 1_000_000
    reps = 5 if options.quick else 9
    with scratch(SCENARIO) as folder:
        path = folder / "harvester.db"
        jobs = make_jobs()
        built = build(path, jobs, target)
        file_bytes = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(path.name))
        _check_result_ids(path)
        url = f"sqlite:///{path}"
        chunked = max(
            (job for job in jobs if job.chunks),
            key=lambda job: sum(job.chunks) * CHUNK_ROWS,
        )
        queries = {
            "latest": LATEST_SQL,
            "latest_baseline": LATEST_BASELINE_SQL,
            "rows": ROWS_SQL.format(job=chunked.name),
            "rows_baseline": ROWS_BASELINE_SQL.format(job=chunked.name),
            "one": ONE_SQL.format(job=chunked.name),
            "one_baseline": ONE_BASELINE_SQL.format(job=chunked.name),
        }
        mine = ("latest", "rows", "one")
        # first as the bulk load leaves the file: no planner statistics (the diagnostic)
        bare = {name: _median_ms(url, queries[name], reps)[0] for name in mine}
        bare_plans = {name: _plan(path, queries[name]) for name in mine}
        analyzed, stat_rows = _analyze(url)  # what the service does at start-up and daily
        timings: dict[str, float] = {}
        counts: dict[str, int] = {}
        for name, sql in queries.items():
            timings[name], counts[name] = _median_ms(url, sql, reps)
        plans = {name: _plan(path, queries[name]) for name in mine}
        space = _space(path)
    if counts["latest"] != counts["latest_baseline"] or counts["latest"] != len(built.latest):
        raise BenchError(f"the latest-result queries disagree: {counts}, {len(built.latest)}")
    if counts["one"] != counts["one_baseline"] or counts["one"] != len(chunked.params):
        raise BenchError(f"the one-job latest queries disagree: {counts}")
    if counts["rows"] != counts["rows_baseline"] or counts["rows"] == 0:
        raise BenchError(f"the row queries disagree: {counts}")
    expected_rows = sum(chunked.chunks) * CHUNK_ROWS
    if counts["rows"] != expected_rows:
        raise BenchError(f"{counts['rows']} rows of {chunked.name}, expected {expected_rows}")
    workload = (
        f"{built.parts:,} result parts ({built.results:,} results, {built.runs:,} runs) of "
        f"{len(jobs)} jobs over {len(built.latest)} (job, params); {built.documents:,} distinct "
        f"documents"
    )
    same = [name for name in mine if bare_plans[name] == plans[name]]
    differ = [name for name in mine if name not in same]
    labels = {"latest": "(i)", "rows": "(ii)", "one": "(iii)"}
    plan_note = (
        "the same plans as with statistics"
        if not differ
        else "; ".join(f"plan of {labels[name]}: {bare_plans[name]}" for name in differ)
    )
    return [
        Result(
            SCENARIO,
            f"build the archive: {built.parts:,} result parts (sqlite3 executemany)",
            "s",
            built.seconds,
            goal=None if options.quick else BUILD_GOAL,
            note=workload,
        ),
        Result(
            SCENARIO,
            "Archive.analyze() on the built archive (as at service start-up, daily)",
            "ms",
            analyzed * 1000,
            note=f"sampled ANALYZE (PRAGMA analysis_limit = 1000) through harvester's engine; "
            f"{stat_rows} sqlite_stat1 rows; every figure below except the diagnostic is "
            f"measured after it",
        ),
        Result(
            SCENARIO,
            "(i) latest result of each job: latest_results (vs GROUP BY max(id))",
            "ms",
            timings["latest"],
            timings["latest_baseline"],
            timings["latest"] / timings["latest_baseline"],
            "ratio",
            GOAL,
            f"median of up to {reps} runs after a warm-up (fewer for a query slower than "
            f"{SLOW_MS:g} ms), each through _store.query.run_query (a read-only connection "
            f"per query, as `harvester query`); {counts['latest']} rows; plan: {plans['latest']}",
        ),
        Result(
            SCENARIO,
            "(ii) rows of a job's latest chunked results: result_rows (vs max(fetched_at))",
            "ms",
            timings["rows"],
            timings["rows_baseline"],
            timings["rows"] / timings["rows_baseline"],
            "ratio",
            GOAL,
            f"job {chunked.name}: {counts['rows']:,} rows from {len(chunked.chunks)} parameter "
            f"set(s) x {chunked.chunks} chunks; result_id IN (latest_results WHERE job); "
            f"plan: {plans['rows']}",
        ),
        Result(
            SCENARIO,
            "(iii) latest result of one job: latest_results WHERE job (vs max(id) of the job)",
            "ms",
            timings["one"],
            timings["one_baseline"],
            timings["one"] / timings["one_baseline"],
            "ratio",
            GOAL,
            f"job {chunked.name} ({counts['one']} parameter sets); plan: {plans['one']}",
        ),
        Result(
            SCENARIO,
            "diagnostic: (ii) without statistics, before analyze() (vs after)",
            "ms",
            bare["rows"],
            timings["rows"],
            bare["rows"] / timings["rows"],
            "ratio",
            note=f"without statistics: (i) {bare['latest']:.2f} ms (vs {timings['latest']:.2f}), "
            f"(ii) {bare['rows']:.2f} ms (vs {timings['rows']:.2f}), (iii) {bare['one']:.2f} ms "
            f"(vs {timings['one']:.2f}); {plan_note}",
        ),
        Result(
            SCENARIO,
            "database file (vs bytes received: each part's document size)",
            "MB",
            file_bytes / MB,
            built.represented / MB,
            file_bytes / built.represented,
            "ratio",
            note=f"dedupe: {built.represented / file_bytes:.1f}x smaller than what it represents; "
            f"{built.documents:,} documents hold {built.document_bytes / MB:.1f} MB of bodies; "
            f"pages by table or index (dbstat, MB): {space}",
        ),
    ]


# -- measuring -----------------------------------------------------------------------------------


def _median_ms(url: str, sql: str, reps: int) -> tuple[float, int]:
    """Median milliseconds of `sql` after a warm-up (which fills the OS cache), and its row
    count. A query slower than SLOW_MS is timed 3 times only: the bench must end."""
    started = time.perf_counter()
    rows = len(run_query(url, sql)[1])
    if (time.perf_counter() - started) * 1000 > SLOW_MS:
        reps = min(reps, 3)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        run_query(url, sql)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), rows


def _space(path: Path) -> str:
    """The biggest tables and indexes of the file, by pages (the `dbstat` table)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 6"
        ).fetchall()
    except sqlite3.OperationalError:  # SQLite built without dbstat
        return "n/a"
    finally:
        conn.close()
    return ", ".join(f"{name} {size / MB:.0f}" for name, size in rows)


def _analyze(url: str) -> tuple[float, int]:
    """Harvester's own `Archive.analyze()`, as the service runs it; its seconds and how many
    rows of statistics (sqlite_stat1) it left."""
    engine = open_database(url)
    try:
        archive = Archive(engine, SystemClock())
        started = time.perf_counter()
        archive.analyze()
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    _, rows = run_query(url, "SELECT count(*) FROM sqlite_stat1")
    return seconds, int(rows[0][0])


def _check_result_ids(path: Path) -> None:
    """Every part points at the part 0 of its own result (same run, job, params and time), and
    every part 0 at itself, as `Archive.store_result` writes them."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (wrong,) = conn.execute(
            """
            SELECT count(*) FROM result_parts AS p LEFT JOIN result_parts AS z
                ON z.id = p.result_id
            WHERE z.id IS NULL OR z.part != 0 OR z.result_id != z.id OR z.run_id != p.run_id
               OR z.job != p.job OR z.params != p.params OR z.fetched_at != p.fetched_at
            """
        ).fetchone()
    finally:
        conn.close()
    if wrong:
        raise BenchError(f"{wrong:,} result parts with a wrong result_id")


def _plan(path: Path, sql: str) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        steps = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    finally:
        conn.close()
    return "; ".join(str(step[-1]) for step in steps)
