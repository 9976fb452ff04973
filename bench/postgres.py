"""(p) PostgreSQL against SQLite, side by side in one run.

- Ingest CPU per document: `Archive.store_result` of the same documents (a part 0 and two
  chunks each, ~2 KB apiece, every one new) into a SQLite file and into a PostgreSQL database;
  this process's CPU time (time.process_time: harvester, SQLAlchemy, the driver) plus, for
  PostgreSQL, the CPU of the backends serving its connections (/proc/<pid>/schedstat of
  `pg_backend_pid()`), per document; three rounds interleaved, each into an empty database,
  the best of each kept. Goal: at most 1.5x SQLite's.
- The archive queries of bench/archive.py, on the same archive of 1 M result parts: built in
  SQLite as that bench builds it, copied into PostgreSQL with COPY, `ANALYZE` on both (as
  `Archive.analyze()`), then each query through `_store.query.run_query` on both (median
  after a warm-up).
- Takeover: two `harvester start` on one PostgreSQL database against the simulator; SIGKILL the
  active one and time until the standby has taken over (its pid in the service row); three
  rounds (a new standby each time), median. Goal under 15 s.

Needs a server: HARVESTER_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432/postgres);
without one the scenario reports that it could not run.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from harvester._archive.archive import Archive
from harvester._archive.run import RunContext
from harvester._config.jobs import JobSpec
from harvester._core.cancel import CancelToken
from harvester._core.clock import ManualClock, ScaledClock
from harvester._core.shapes import Part
from harvester._store.db import open_database

from . import archive as archive_bench
from . import archive_workload
from .common import BenchError, Goal, Options, Result, scratch, start_service, wait_until
from .pg import require_server, scratch_database

SCENARIO = "postgres"
TAKEOVER_GOAL = Goal("<", 15.0, "< 15 s", on="harvester")
INGEST_GOAL = Goal("<=", 1.5, "≤ 1.5×")
COPIED = ("runs", "documents", "result_parts", "latest")


def run(options: Options) -> list[Result]:
    require_server()
    results = _ingest(options)
    results += _queries(options)
    results.append(_takeover(options))
    return results


# -- ingest -------------------------------------------------------------------------------------


DOCUMENTS_PER_RESULT = 3  # part 0 and two chunks


def _documents(count: int) -> Iterator[list[Part]]:
    for i in range(count):
        rows = [
            {"subsession_id": 80_000_000 + i * 10 + k, "laps": k, "name": "x" * 60}
            for k in range(10)
        ]
        header = json.dumps({"chunk_info": {"num_chunks": 2, "rows": 20}, "n": i})
        yield [
            Part(0, header, "application/json"),
            Part(1, json.dumps(rows), "application/json", rows=10),
            Part(2, json.dumps(rows[::-1]), "application/json", rows=10),
        ]


def _ingest_cpu(url: str, count: int) -> tuple[float, float, float | None]:
    """CPU and wall microseconds per document of storing `count` results into `url`, and the
    CPU the PostgreSQL backends serving the engine's connections spent meanwhile (None: not
    SQLite's, or the server's processes cannot be read here)."""
    engine = open_database(url)
    backends = _Backends(engine)
    try:
        archive = Archive(engine, ManualClock())
        archive.tables = None  # the raw archive: what both databases do alike
        run_id = archive.open_run("bench", "cli")
        job = JobSpec("bench", "results/search_series")
        run = RunContext(job, run_id, CancelToken(archive.clock))
        batches = list(_documents(count))
        backends.start()
        cpu, wall = time.process_time(), time.perf_counter()
        for number, parts in enumerate(batches):
            archive.store_result(run, {"n": number}, iter(parts))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server = backends.seconds()
    finally:
        engine.dispose()
    documents = count * DOCUMENTS_PER_RESULT
    per_doc = None if server is None else server / documents * 1e6
    return cpu / documents * 1e6, wall / documents * 1e6, per_doc


class _Backends:
    """The CPU of the PostgreSQL backends serving an engine's connections, read from /proc of
    each `pg_backend_pid()`: the server on this machine."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, engine: Engine) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        self.pids: set[int] = set()
        self.at_start: dict[int, float] = {}
        if self.postgres:
            engine.dispose()  # connections from here on are the ones counted
            event.listen(engine, "connect", self._connected)

    def _connected(self, dbapi_connection: Any, _: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = int(cursor.fetchone()[0])
        self.pids.add(pid)
        self.at_start.setdefault(pid, self._cpu(pid) or 0.0)

    def start(self) -> None:
        self.at_start = {pid: self._cpu(pid) or 0.0 for pid in self.pids}

    def seconds(self) -> float | None:
        if not self.postgres or not self.pids:
            return None
        total = 0.0
        for pid in self.pids:
            now = self._cpu(pid)
            if now is None:
                return None  # not on this machine, or gone: not counted rather than wrong
            total += now - self.at_start.get(pid, 0.0)
        return total

    def _cpu(self, pid: int) -> float | None:
        """Seconds on a CPU: the scheduler's own count in nanoseconds (schedstat), or the
        clock ticks of utime + stime where the kernel keeps no schedstat."""
        try:
            return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self.TICK  # utime, stime (14, 15)


INGEST_ROUNDS = 3  # interleaved, SQLite then PostgreSQL; the best of each is kept


def _ingest(options: Options) -> list[Result]:
    count = 100 if options.quick else 1000
    rounds = 1 if options.quick else INGEST_ROUNDS
    sqlite_runs: list[tuple[float, float, float | None]] = []
    pg_runs: list[tuple[float, float, float | None]] = []
    with scratch(SCENARIO) as folder:
        for number in range(rounds):  # each into an empty database: every document new
            url = f"sqlite:///{folder / f'ingest{number}.db'}"
            sqlite_runs.append(_ingest_cpu(url, count))
            with scratch_database("harvester_bench_ingest") as pg_url:
                pg_runs.append(_ingest_cpu(pg_url, count))
    sqlite_cpu, sqlite_wall, _ = min(sqlite_runs)
    pg_cpu, pg_wall, server = min(pg_runs, key=lambda run: run[0] + (run[2] or 0.0))
    total = pg_cpu + (server or 0.0)
    counted = (
        f"this process's CPU plus the PostgreSQL backend's ({server:.0f} µs/doc of it, "
        "from /proc/<pid>/schedstat of pg_backend_pid())"
        if server is not None
        else "this process's CPU (the PostgreSQL server's could not be read here)"
    )
    return [
        Result(
            SCENARIO,
            "ingest CPU per document: PostgreSQL, client + server (vs SQLite)",
            "µs/doc",
            total,
            sqlite_cpu,
            total / sqlite_cpu,
            "ratio",
            INGEST_GOAL if server is not None else None,
            note=f"{count} results of {DOCUMENTS_PER_RESULT} documents each (part 0 + 2 chunks), "
            f"all new, best of {rounds} interleaved rounds, through Archive.store_result; "
            f"{counted}; client alone {pg_cpu:.0f} µs/doc; wall per document: PostgreSQL "
            f"{pg_wall:.0f} µs, SQLite {sqlite_wall:.0f} µs",
        )
    ]


# -- the archive queries -------------------------------------------------------------------------


def _copy_into_postgres(path: Path, url: str) -> float:
    import psycopg

    from harvester._store.pg import libpq_url

    started = time.perf_counter()
    open_database(url).dispose()  # the schema, by the migrations
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        with psycopg.connect(libpq_url(url)) as conn:
            for table in COPIED:
                cursor = source.execute(f"SELECT * FROM {table}")
                names = ", ".join(d[0] for d in cursor.description)
                with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in cursor:
                        copy.write_row(row)
            conn.commit()
    finally:
        source.close()
    return time.perf_counter() - started


def _queries(options: Options) -> list[Result]:
    target = 30_000 if options.quick else 1_000_000
    reps = 5 if options.quick else 9
    with scratch(SCENARIO) as folder, scratch_database("harvester_bench_archive") as pg_url:
        path = folder / "harvester.db"
        jobs = archive_workload.make_jobs()
        built = archive_workload.build(path, jobs, target)
        sqlite_url = f"sqlite:///{path}"
        copy_seconds = _copy_into_postgres(path, pg_url)
        archive_bench._analyze(sqlite_url)
        _analyze(pg_url)  # ANALYZE on PostgreSQL
        chunked = max((job for job in jobs if job.chunks), key=lambda job: sum(job.chunks))
        rows_sql = archive_bench.ROWS_SQL.format(job=chunked.name)
        one_sql = archive_bench.ONE_SQL.format(job=chunked.name)
        queries = {
            "(i) latest result of each job: latest_results": archive_bench.LATEST_SQL,
            "(ii) rows of a job's latest chunked results: result_rows": rows_sql,
            "(iii) latest result of one job: latest_results WHERE job": one_sql,
        }
        results = []
        for label, sql in queries.items():
            pg_ms, pg_rows = archive_bench._median_ms(pg_url, sql, reps)
            sqlite_ms, sqlite_rows = archive_bench._median_ms(sqlite_url, sql, reps)
            if pg_rows != sqlite_rows:
                raise BenchError(f"{label}: {pg_rows} rows on PostgreSQL, {sqlite_rows} on SQLite")
            results.append(
                Result(
                    SCENARIO,
                    f"{label}, PostgreSQL (vs SQLite)",
                    "ms",
                    pg_ms,
                    sqlite_ms,
                    pg_ms / sqlite_ms,
                    "ratio",
                    goal=archive_bench.GOAL,
                    note=f"{built.parts:,} result parts; {pg_rows:,} rows; median of up to {reps} "
                    f"runs through run_query on each (a read-only connection per query); "
                    f"COPY into PostgreSQL took {copy_seconds:.0f} s",
                )
            )
    return results


def _analyze(url: str) -> None:
    engine = open_database(url)
    try:
        Archive(engine, ManualClock()).analyze()
    finally:
        engine.dispose()


# -- takeover -------------------------------------------------------------------------------------

JOBS = """
jobs:
  info: {endpoint: member/info, every: 1m}
  cats: {endpoint: constants/categories, every: 2m}
"""


def _active_pid(url: str) -> int | None:
    import psycopg

    from harvester._store.pg import libpq_url

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        try:
            row = conn.execute(
                "SELECT pid FROM service WHERE id = 1 AND stopped_at IS NULL"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return int(row[0]) if row else None


def _takeover(options: Options) -> Result:
    from harvester.simulator import RunningSimulator, SimConfig, Simulator
    from harvester.simulator.config import (
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        DEMO_PASSWORD,
        DEMO_USERNAME,
    )

    rounds = 2 if options.quick else 3
    clock = ScaledClock(60.0)
    times: list[float] = []
    with (
        scratch(SCENARIO) as folder,
        scratch_database("harvester_bench_takeover") as url,
        RunningSimulator(Simulator(SimConfig(), clock)) as server,
    ):
        (folder / "jobs.yaml").write_text(JOBS)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IRACING_", "HARVESTER_"))}
        env.update(
            IRACING_CLIENT_ID=DEMO_CLIENT_ID,
            IRACING_CLIENT_SECRET=DEMO_CLIENT_SECRET,
            IRACING_USERNAME=DEMO_USERNAME,
            IRACING_PASSWORD=DEMO_PASSWORD,
            IRACING_OAUTH_URL=f"{server.url}/oauth2",
            IRACING_DATA_URL=server.url,
            HARVESTER_DATABASE_URL=url,
            HARVESTER_JOBS=str(folder / "jobs.yaml"),
            HARVESTER_CLOCK=clock.spec(),
            LOG_LEVEL="WARNING",
        )

        def start() -> subprocess.Popen[bytes]:
            return start_service(env, folder)

        active = start()
        processes = [active]
        try:
            wait_until(lambda: _active_pid(url) == active.pid, 60, "the first service active")
            for _ in range(rounds):
                standby = start()
                processes.append(standby)
                time.sleep(3)  # the standby is up and polling for the lock
                killed = time.monotonic()
                active.send_signal(signal.SIGKILL)
                active.wait(30)

                def taken_over(pid: int = standby.pid) -> bool:
                    return _active_pid(url) == pid

                wait_until(taken_over, 60, "the standby taking over")
                times.append(time.monotonic() - killed)
                active = standby
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()
    median = statistics.median(times)
    return Result(
        SCENARIO,
        "takeover after SIGKILL of the active service (PostgreSQL, active/standby)",
        "s",
        median,
        goal=TAKEOVER_GOAL,
        note=f"median of {rounds} rounds: {', '.join(f'{t:.2f}' for t in times)} s, from "
        "SIGKILL until the standby holds the advisory lock and has written its heartbeat as "
        "the active one (it looks for the lock every second)",
    )
