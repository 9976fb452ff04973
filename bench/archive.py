"""(f) Archive queries at scale: PARTS rows in `results`, and the queries a user runs most.

A database migrated by `harvester.db.open_database` is filled directly with `sqlite3`
(`executemany`, the result_parts indexes rebuilt afterwards, as fast as SQLite allows) with what
a long-running harvester would have stored: 50 jobs polled on their schedules, back from one
moment, newest first, until PARTS result parts are reached:

- 25 plain jobs (one request, part 0 only; every 15 min to 1 day),
- 15 jobs with several parameter sets (3..12; hourly to daily; part 0 only),
- 10 chunked jobs (1..4 parameter sets, 5..40 chunk files of CHUNK_ROWS rows each; hourly).

Documents are deduplicated as `Archive.store_result` does (content-addressed): a job's answer
changes every few to every hundred polls, the head chunks of a chunked result less often than
its tail, and part 0 of a chunked result (its chunk_info lists the chunk names) changes when
one of them does. One run per poll; every part carries its result's id (`result_id`: the part-0
row's id; part 0 points at itself), and `latest` points at the newest part 0 of every
(job, endpoint, params), as `store_result` keeps them.

Then `Archive.analyze()` (a sampled ANALYZE, `PRAGMA analysis_limit = 1000`), as the service
runs it at start-up and daily, so the figures are those of a file a running service keeps.
Timed, each as `harvester query` runs it (`harvester.query.run_query`: a read-only connection
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

import hashlib
import json
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harvester.archive import Archive, canonical_params
from harvester.clock import SystemClock, iso_seconds
from harvester.db import open_database
from harvester.query import run_query

from .common import MB, BenchError, Goal, Options, Result, scratch

SCENARIO = "archive"
HOUR = 3600
DAY = 86_400
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the newest poll
CHUNK_ROWS = 20
GOAL = Goal("<", 50.0, "< 50 ms", on="harvester")
BUILD_GOAL = Goal("<", 60.0, "< 60 s", on="harvester")
SLOW_MS = 300.0  # a query slower than this is timed 3 times, not `reps`
S3 = "https://s3.amazonaws.com/ir-data-now/csv/results"

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


@dataclass
class _Job:
    name: str
    endpoint: str
    params: list[str]  # canonical JSON, one per parameter set
    period: int  # seconds between polls
    change_every: int  # polls between changes of the answer
    chunks: list[int]  # per parameter set: chunk files (empty: part 0 only)
    size: int  # bytes of a part-0 document (plain jobs)


@dataclass
class _Built:
    parts: int = 0
    runs: int = 0
    results: int = 0
    documents: int = 0
    document_bytes: int = 0
    represented: int = 0  # sum over result parts of their document's size
    latest: dict[tuple[str, str, str], int] = field(default_factory=dict)
    seconds: float = 0.0


def _part_row(
    part_id: int,
    result_id: int,
    run_id: int,
    job: str,
    endpoint: str,
    params: str,
    when: str,
    part: int,
    sha: str,
    url: str | None,
    expires: str | None,
    rows: int | None,
    envelope: str | None,
) -> tuple[object, ...]:
    """One result_parts row, in the column order of the bulk INSERT (a chunk's result_id is
    its part 0's id; part 0 points at itself)."""
    return (
        part_id,
        result_id,
        run_id,
        job,
        endpoint,
        params,
        when,
        part,
        sha,
        url,
        expires,
        rows,
        envelope,
    )


def run(options: Options) -> list[Result]:
    target = 100_000 if options.quick else 1_000_000
    reps = 5 if options.quick else 9
    with scratch(SCENARIO) as folder:
        path = folder / "harvester.db"
        jobs = _jobs()
        built = _build(path, jobs, target)
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
            f"{SLOW_MS:g} ms), each through harvester.query.run_query (a read-only connection "
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


# -- the workload --------------------------------------------------------------------------------


def _jobs() -> list[_Job]:
    rng = random.Random(2026)
    jobs: list[_Job] = []
    plain = ["member/info", "stats/member_summary", "series/get", "constants/categories"]
    for i in range(25):
        jobs.append(
            _Job(
                name=f"plain_{i:02d}",
                endpoint=plain[i % len(plain)],
                params=[canonical_params({})],
                period=rng.choice([900, 1800, HOUR, 6 * HOUR, DAY]),
                change_every=rng.randint(10, 100),
                chunks=[],
                size=rng.randint(200, 3000),
            )
        )
    for i in range(15):
        sets = rng.randint(3, 12)
        jobs.append(
            _Job(
                name=f"multi_{i:02d}",
                endpoint="series/seasons" if i % 2 else "stats/member_recap",
                params=[
                    canonical_params({"series_id": 100 + s, "season_year": 2025})
                    for s in range(sets)
                ],
                period=rng.choice([HOUR, 6 * HOUR, DAY]),
                change_every=rng.randint(10, 60),
                chunks=[],
                size=rng.randint(500, 5000),
            )
        )
    for i in range(10):
        sets = rng.randint(1, 4)
        jobs.append(
            _Job(
                name=f"search_{i:02d}",
                endpoint="results/search_series",
                params=[
                    canonical_params(
                        {"series_id": 200 + s, "season_year": 2025, "season_quarter": 4}
                    )
                    for s in range(sets)
                ],
                period=HOUR,
                change_every=rng.randint(8, 30),
                chunks=[rng.randint(5, 40) for _ in range(sets)],
                size=0,
            )
        )
    return jobs


def _polls(jobs: list[_Job], target: int) -> list[tuple[float, int]]:
    """(time, job index) of every poll, oldest first: the newest polls that make `target` parts."""
    weight = [len(job.params) if not job.chunks else sum(1 + k for k in job.chunks) for job in jobs]
    candidates: list[tuple[float, int]] = []
    for index, job in enumerate(jobs):
        # enough history for any mix: no job needs more polls than the target alone
        count = min(target // weight[index] + 1, int(400 * DAY // job.period))
        candidates.extend((NOW - n * job.period, index) for n in range(count))
    candidates.sort(key=lambda poll: (-poll[0], poll[1]))
    chosen: list[tuple[float, int]] = []
    parts = 0
    for poll in candidates:
        if parts >= target:
            break
        chosen.append(poll)
        parts += weight[poll[1]]
    chosen.reverse()
    return chosen


class _Documents:
    """Content-addressed bodies, generated on first use and queued for insertion."""

    def __init__(self) -> None:
        self.known: dict[object, tuple[str, int]] = {}  # key -> (sha256, size)
        self.pending: list[tuple[str, str, int, str, str]] = []
        self.count = 0
        self.bytes = 0

    def get(
        self, key: object, when: str, make: Callable[..., str], *args: object
    ) -> tuple[str, int]:
        """(sha256, size) of the document `make(*args)` builds, built once per `key`."""
        found = self.known.get(key)
        if found is not None:
            return found
        body = make(*args)
        sha = hashlib.sha256(body.encode()).hexdigest()
        size = len(body.encode())
        self.known[key] = (sha, size)
        self.pending.append((sha, body, size, "application/json", when))
        self.count += 1
        self.bytes += size
        return sha, size


def _plain_body(job: _Job, param: int, version: int) -> str:
    """A JSON object of about `job.size` bytes that differs per parameter set and version."""
    body: dict[str, object] = {"success": True, "params": json.loads(job.params[param])}
    body.update({f"field_{n}": (version * 7919 + n * 31) % 100_000 for n in range(job.size // 17)})
    return json.dumps(body, separators=(",", ":"))


ROW = (
    '{{"subsession_id":{sid},"session_id":{ses},"start_time":"{start}",'
    '"series_id":{series},"series_name":"Series {series}","winner_group_id":{winner},'
    '"winner_name":"Driver {winner}","track":{{"track_id":{track},"track_name":"Track {track}",'
    '"config_name":"Full"}},"num_drivers":{drivers},"event_strength_of_field":{sof},'
    '"event_laps_complete":{laps},"official_session":true}}'
)


def _chunk_body(job_index: int, param: int, chunk: int, version: int) -> str:
    rows = []
    for r in range(CHUNK_ROWS):
        seed = ((job_index * 97 + param) * 211 + chunk) * 10_007 + version * 131 + r
        rows.append(
            ROW.format(
                sid=40_000_000 + seed % 9_000_000,
                ses=100_000 + seed % 700_000,
                start=iso_seconds(NOW - (seed % 90) * DAY),
                series=200 + param,
                winner=100_000 + seed % 400_000,
                track=seed % 400,
                drivers=10 + seed % 30,
                sof=1000 + seed % 4000,
                laps=seed % 60,
            )
        )
    return "[" + ",".join(rows) + "]"


def _part0_body(job: _Job, param: int, names: list[str], rows: int) -> str:
    return json.dumps(
        {
            "type": "search_series_results",
            "data": {
                "success": True,
                "params": json.loads(job.params[param]),
                "chunk_info": {
                    "chunk_size": CHUNK_ROWS,
                    "num_chunks": len(names),
                    "rows": rows,
                    "base_download_url": f"{S3}/{job.name}/",
                    "chunk_file_names": [f"{name}.json" for name in names],
                },
            },
        },
        separators=(",", ":"),
    )


def _rows(
    jobs: list[_Job], polls: list[tuple[float, int]], built: _Built, docs: _Documents
) -> Iterator[tuple[tuple[object, ...], list[tuple[object, ...]]]]:
    """Per poll: its run row and its result_part rows (ids assigned in time order)."""
    part_id = 0
    for run_id, (at, index) in enumerate(polls, start=1):
        job = jobs[index]
        when = iso_seconds(at)
        parts: list[tuple[object, ...]] = []
        new = dup = 0
        received = 0
        for param, params in enumerate(job.params):
            poll = int(at // job.period)
            version = poll // job.change_every
            seen = docs.count
            if not job.chunks:
                sha, size = docs.get(
                    (index, param, version), when, _plain_body, job, param, version
                )
                part_id += 1
                result_id = part_id  # part 0 is its result: it points at itself
                parts.append(
                    _part_row(
                        part_id,
                        result_id,
                        run_id,
                        job.name,
                        job.endpoint,
                        params,
                        when,
                        0,
                        sha,
                        None,
                        None,
                        None,
                        None,
                    )
                )
                received += size
                sizes = [size]
            else:
                k = job.chunks[param]
                chunk_docs = []
                for chunk in range(k):
                    # the head of a result changes up to 4x less often than its tail
                    slower = 1 + (3 * (k - 1 - chunk)) // max(k - 1, 1)
                    v = poll // (job.change_every * slower)
                    chunk_docs.append(
                        docs.get(
                            (index, param, chunk, v), when, _chunk_body, index, param, chunk, v
                        )
                    )
                names = [sha for sha, _ in chunk_docs]
                sha0, size0 = docs.get(
                    (index, param, tuple(names)),
                    when,
                    _part0_body,
                    job,
                    param,
                    names,
                    k * CHUNK_ROWS,
                )
                part_id += 1
                result_id = part_id  # part 0 is its result: it points at itself
                parts.append(
                    _part_row(
                        part_id,
                        result_id,
                        run_id,
                        job.name,
                        job.endpoint,
                        params,
                        when,
                        0,
                        sha0,
                        None,
                        None,
                        None,
                        None,
                    )
                )
                for chunk, (sha, _size) in enumerate(chunk_docs, start=1):
                    part_id += 1
                    parts.append(
                        _part_row(
                            part_id,
                            result_id,
                            run_id,
                            job.name,
                            job.endpoint,
                            params,
                            when,
                            chunk,
                            sha,
                            f"{S3}/{job.name}/{sha}.json",
                            None,
                            CHUNK_ROWS,
                            None,
                        )
                    )
                sizes = [size0, *(size for _, size in chunk_docs)]
                received += sum(sizes)
            fresh = docs.count - seen
            new += fresh
            dup += len(sizes) - fresh
            built.represented += sum(sizes)
            built.results += 1
            built.latest[(job.name, job.endpoint, params)] = result_id
        built.parts += len(parts)
        run = (
            run_id,
            job.name,
            "schedule",
            "success",
            when,
            when,
            1 + sum(job.chunks),
            received,
            new,
            dup,
            None,
            200,
            4242,
            0,
            0,
        )
        yield run, parts


def _build(path: Path, jobs: list[_Job], target: int) -> _Built:
    """Migrate with harvester, then fill the tables with sqlite3 in one transaction."""
    started = time.perf_counter()
    open_database(f"sqlite:///{path}").dispose()
    built = _Built()
    docs = _Documents()
    polls = _polls(jobs, target)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # bulk load; WAL again at the end
        conn.execute("PRAGMA synchronous = OFF")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'result_parts' AND sql IS NOT NULL"
        ).fetchall()
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        runs: list[tuple[object, ...]] = []
        parts: list[tuple[object, ...]] = []
        for run, rows in _rows(jobs, polls, built, docs):
            runs.append(run)
            parts.extend(rows)
            if len(parts) >= 50_000:
                _flush(conn, docs, runs, parts)
        _flush(conn, docs, runs, parts)
        for _, sql in indexes:
            conn.execute(sql)
        conn.executemany(
            "INSERT INTO latest (job, endpoint, params, result_id) VALUES (?, ?, ?, ?)",
            [(*key, result_id) for key, result_id in built.latest.items()],
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    built.runs = len(polls)
    built.documents = docs.count
    built.document_bytes = docs.bytes
    built.seconds = time.perf_counter() - started
    return built


def _flush(
    conn: sqlite3.Connection,
    docs: _Documents,
    runs: list[tuple[object, ...]],
    parts: list[tuple[object, ...]],
) -> None:
    conn.executemany(
        "INSERT INTO documents (sha256, body, size, content_type, first_seen_at) "
        "VALUES (?, ?, ?, ?, ?)",
        docs.pending,
    )
    conn.executemany(
        'INSERT INTO runs (id, job, "trigger", status, started_at, finished_at, requests, bytes, '
        "documents_new, documents_dup, error, ratelimit_remaining, pid, rows_new, rows_dup) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        runs,
    )
    conn.executemany(
        "INSERT INTO result_parts (id, result_id, run_id, job, endpoint, params, fetched_at, "
        "part, sha256, url, link_expires, rows, envelope) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        parts,
    )
    docs.pending.clear()
    runs.clear()
    parts.clear()


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
