"""The archive scenario's workload: what a long-running harvester would have stored, built
straight into a migrated database with `sqlite3` (`executemany`, the result_parts indexes rebuilt
afterwards, as fast as SQLite allows): 50 jobs polled on their schedules, back from one moment,
newest first, until the target number of result parts is reached:

- 25 plain jobs (one request, part 0 only; every 15 min to 1 day),
- 15 jobs with several parameter sets (3..12; hourly to daily; part 0 only),
- 10 chunked jobs (1..4 parameter sets, 5..40 chunk files of CHUNK_ROWS rows each; hourly).

Documents are deduplicated as `Archive.store_result` does (content-addressed): a job's answer
changes every few to every hundred polls, the head chunks of a chunked result less often than
its tail, and part 0 of a chunked result (its chunk_info lists the chunk names) changes when
one of them does. One run per poll; every part carries its result's id (`result_id`: the part-0
row's id; part 0 points at itself), and `latest` points at the newest part 0 of every
(job, endpoint, params), as `store_result` keeps them. bench/postgres.py builds the same.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harvester._archive.archive import canonical_params
from harvester._core.clock import iso_seconds
from harvester._store.db import open_database

HOUR = 3600
DAY = 86_400
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the newest poll
CHUNK_ROWS = 20
S3 = "https://s3.amazonaws.com/ir-data-now/csv/results"


@dataclass
class Job:
    name: str
    endpoint: str
    params: list[str]  # canonical JSON, one per parameter set
    period: int  # seconds between polls
    change_every: int  # polls between changes of the answer
    chunks: list[int]  # per parameter set: chunk files (empty: part 0 only)
    size: int  # bytes of a part-0 document (plain jobs)


@dataclass
class Built:
    parts: int = 0
    runs: int = 0
    results: int = 0
    documents: int = 0
    document_bytes: int = 0
    represented: int = 0  # sum over result parts of their document's size
    latest: dict[tuple[str, str, str], int] = field(default_factory=dict)
    seconds: float = 0.0


def part_row(
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


def make_jobs() -> list[Job]:
    rng = random.Random(2026)
    jobs: list[Job] = []
    plain = ["member/info", "stats/member_summary", "series/get", "constants/categories"]
    for i in range(25):
        jobs.append(
            Job(
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
            Job(
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
            Job(
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


def _polls(jobs: list[Job], target: int) -> list[tuple[float, int]]:
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


def _plain_body(job: Job, param: int, version: int) -> str:
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


def _part0_body(job: Job, param: int, names: list[str], rows: int) -> str:
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
    jobs: list[Job], polls: list[tuple[float, int]], built: Built, docs: _Documents
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
                    part_row(
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
                    part_row(
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
                        part_row(
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


def build(path: Path, jobs: list[Job], target: int) -> Built:
    """Migrate with harvester, then fill the tables with sqlite3 in one transaction."""
    started = time.perf_counter()
    open_database(f"sqlite:///{path}").dispose()
    built = Built()
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
