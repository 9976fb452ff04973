"""Feeds: how soon a stored row reaches its target, 10,000 rows through one feed, and a kill
campaign while sending.

- latency: results/get results are stored one at a time (the simulator in process, the
  database a SQLite file); a feed tells each race winner to a webhook on loopback (Apprise's
  `json://`). From the commit of the storing transaction (the outbox's listener, called after
  it) to the receiver reading the POST: p50 and p95, goal p95 under 2 s.
- 10,000 rows through one feed: the rows are queued in batches below the flood limit, so each
  is sent as its own message (the feed's clock runs 100 times faster, so the 600-a-minute
  limit does not make the run last 17 minutes). None lost, none twice, and the peak of traced
  Python memory while they are told (it must not grow with the rows: the sender reads them a
  page at a time). The same 10,000 queued at once are one digest, not a flood.
- kill campaign: `harvester start` (its jobs off, the feed on) is killed with SIGKILL 20 times
  while it is sending rows the benchmark keeps queued, then started once more until nothing
  waits. Lost must be 0; a row told twice is allowed only for the message in flight at a kill
  (docs/feeds.md), so duplicates must be at most the number of kills.
"""

from __future__ import annotations

import json
import signal
import statistics
import textwrap
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from harvester._config.jobs import JobsConfig
from harvester._config.jobs_yaml import parse_jobs
from harvester._core.clock import ScaledClock, SystemClock
from harvester._feeds.control import Feeds
from harvester._feeds.outbox import insert_rows
from harvester._feeds.schema import OUTBOX, PENDING
from harvester._feeds.worker import FeedSender
from harvester._service.runtime import open_runtime
from harvester._store import db
from harvester.simulator import SimConfig, Simulator, SimulatorTransport

from .common import (
    BenchError,
    Goal,
    Options,
    Result,
    scratch,
    sim_settings,
    start_service,
    wait_until,
)

SCENARIO = "feeds"
HOOK_KEY = "bench-hook-key"


class Receiver:
    """A webhook on loopback: the time each message arrived and its text."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived: list[tuple[float, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.perf_counter()
                message = str(json.loads(body or b"{}").get("message", ""))
                with receiver.lock:
                    receiver.arrived.append((at, message))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hooks/{HOOK_KEY}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self) -> list[str]:
        with self.lock:
            return [m for _, m in self.arrived]

    def count(self) -> int:
        with self.lock:
            return len(self.arrived)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _more_than(receiver: Receiver, count: int) -> Callable[[], bool]:
    return lambda: receiver.count() > count


def _config(feeds: str, hook: str) -> JobsConfig:
    return parse_jobs(textwrap.dedent(feeds), "bench-jobs.yaml", env={"HOOK": hook})


# -- latency -------------------------------------------------------------------------------------

LATENCY_JOBS = """
jobs:
  recent:
    endpoint: results/search_series
    every: 1h
    incremental: {cursor: end_time, param: finish_range_begin, start: -2d, window: 2d,
                  key: subsession_id}
  details:
    endpoint: results/get
    every: 1h
    for_each: {job: recent, path: "$[*].subsession_id", param: subsession_id, max_items: 1}
feeds:
  winners:
    table: session_results
    key: [subsession_id, cust_id]
    where: "finish_position = 0 AND simsession_number = 0"
    template: "{{ display_name }} won {{ subsession_id }}"
    targets: ["{env:HOOK}"]
    per_minute: 600
"""


def latency(samples: int) -> list[float]:
    """Seconds from each storing commit to the receiver reading its message."""
    receiver = Receiver()
    try:
        with scratch("feeds-latency") as folder:
            clock = SystemClock()
            sim = Simulator(SimConfig(), clock)
            config = _config(LATENCY_JOBS, receiver.url)
            settings = sim_settings(folder, sim.base_url)
            with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
                feeds = Feeds(rt.engine, clock, FeedSender(rt.engine, clock))
                committed: list[float] = []
                feeds.outbox.listeners.insert(0, lambda: committed.append(time.perf_counter()))
                feeds.apply(config.feeds.values())
                rt.archive.feeds = feeds.outbox
                feeds.start()
                try:
                    if rt.runner.run(config.jobs["recent"]).status != "success":
                        raise BenchError(f"{SCENARIO}: the search run failed")
                    gaps = []
                    for _ in range(samples):
                        before, told = len(committed), receiver.count()
                        outcome = rt.runner.run(config.jobs["details"])  # one result: one commit
                        if outcome.status != "success" or len(committed) != before + 1:
                            raise BenchError(f"{SCENARIO}: a results/get run stored nothing")
                        wait_until(_more_than(receiver, told), 30, "a message", poll=0.002)
                        with receiver.lock:
                            arrived = receiver.arrived[told][0]
                        # the stamp is taken just after the commit returns: a message the
                        # sender's own poll found first can arrive before it (not a gap: 0)
                        gaps.append(max(0.0, arrived - committed[before]))
                finally:
                    feeds.stop()
    finally:
        receiver.close()
    return gaps


# -- 10,000 rows ---------------------------------------------------------------------------------

MANY_FEED = """
jobs: {}
feeds:
  members:
    table: members
    key: cust_id
    template: "{{ cust_id }}"
    targets: ["{env:HOOK}"]
    per_minute: 600
"""
BATCH = 400  # rows queued at a time: under the flood limit (600), each is its own message


def queue(engine: Any, config: JobsConfig, first: int, count: int) -> None:
    feed = config.feeds["members"]
    rows = [{"cust_id": n, "result_id": 0} for n in range(first, first + count)]
    with db.write(engine) as conn:
        insert_rows(conn, feed, rows, PENDING, None, "2026-01-01T00:00:00Z")


def pending(engine: Any) -> int:
    with db.read(engine) as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(OUTBOX).where(OUTBOX.c.status == PENDING)
            ).scalar()
            or 0
        )


def many(rows: int) -> tuple[int, int, float, float, int]:
    """(lost, told twice, peak MB traced, seconds, messages of the same rows queued at once)."""
    receiver = Receiver()
    try:
        with scratch("feeds-many") as folder:
            config = _config(MANY_FEED, receiver.url)
            engine = db.open_database(f"sqlite:///{folder / 'harvester.db'}")
            clock = ScaledClock(100.0)  # 600 a minute: 600 in 0.6 real seconds
            feeds = Feeds(engine, clock, FeedSender(engine, clock))
            feeds.apply(config.feeds.values())
            feeds.start()
            tracemalloc.start()
            started = time.perf_counter()
            try:
                for first in range(0, rows, BATCH):
                    wait_until(lambda: pending(engine) < 100, 300, "the sender to catch up")
                    queue(engine, config, first, min(BATCH, rows - first))
                    assert feeds.sender is not None
                    feeds.sender.notify()
                wait_until(
                    lambda: receiver.count() >= rows and pending(engine) == 0, 600, "all told"
                )
                seconds = time.perf_counter() - started
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
                feeds.stop()
            told = Counter(receiver.messages())
            lost = sum(1 for n in range(rows) if str(n) not in told)
            twice = sum(c - 1 for c in told.values())
            # the same number of rows queued at once: the flood limit makes them one digest
            before = receiver.count()
            at_once = Feeds(engine, clock, FeedSender(engine, clock))
            at_once.apply(config.feeds.values())
            queue(engine, config, rows, rows)
            at_once.start()
            try:
                wait_until(lambda: pending(engine) == 0, 120, "the digest")
            finally:
                at_once.stop()
            digests = receiver.count() - before
            engine.dispose()
    finally:
        receiver.close()
    return lost, twice, peak / 1e6, seconds, digests


# -- kill campaign -------------------------------------------------------------------------------


def kill_campaign(kills: int, per_round: int) -> tuple[int, int, int]:
    """(rows queued, lost, told twice) after `kills` SIGKILLs of a sending service."""
    receiver = Receiver()
    try:
        with scratch("feeds-kills") as folder:
            config = _config(MANY_FEED, receiver.url)
            (folder / "jobs.yaml").write_text(
                textwrap.dedent(MANY_FEED).replace(
                    "jobs: {}", "jobs:\n  catalog: {endpoint: doc, every: 1d, enabled: false}"
                )
            )
            settings = sim_settings(folder, "http://127.0.0.1:9")
            engine = db.open_database(settings.database_url)
            Feeds(engine, SystemClock()).apply(config.feeds.values())  # the feed begins
            env = _env(settings, folder, receiver.url)
            queued = 0
            for _ in range(kills):
                room = max(0, 500 - pending(engine))
                queue(engine, config, queued, room)
                queued += room
                process = start_service(env, folder)
                seen = receiver.count()
                wait_until(_more_than(receiver, seen + 5), 60, "the service sending")
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
            process = start_service(env, folder)
            try:
                wait_until(lambda: pending(engine) == 0, 300, "the last start to tell everything")
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
            engine.dispose()
            told = Counter(receiver.messages())
    finally:
        receiver.close()
    lost = sum(1 for n in range(queued) if str(n) not in told)
    twice = sum(c - 1 for c in told.values())
    return queued, lost, twice


def _env(settings: Any, folder: Path, hook: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRACING_", "HARVESTER_"))}
    env.update(
        {
            "IRACING_CLIENT_ID": settings.client_id,
            "IRACING_CLIENT_SECRET": settings.client_secret,
            "IRACING_USERNAME": settings.username,
            "IRACING_PASSWORD": settings.password,
            "IRACING_OAUTH_URL": settings.oauth_url,
            "IRACING_DATA_URL": settings.data_url,
            "HARVESTER_DATABASE_URL": settings.database_url,
            "HARVESTER_JOBS": str(folder / "jobs.yaml"),
            "HARVESTER_HTTP": "off",
            "HARVESTER_CLOCK": "scaled:100",  # the feed's 600 a minute, 100 times faster
            "LOG_FORMAT": "json",
            "HOOK": hook,
        }
    )
    return env


# -- the scenario --------------------------------------------------------------------------------


def run(options: Options) -> list[Result]:
    samples = 6 if options.quick else 40
    rows = 700 if options.quick else 10_000  # over one minute's 600: a flood becomes a digest
    kills = 2 if options.quick else 20
    gaps = sorted(latency(samples))
    p50 = statistics.median(gaps)
    p95 = gaps[min(len(gaps) - 1, round(0.95 * (len(gaps) - 1)))]
    lost, twice, peak_mb, seconds, digests = many(rows)
    queued, kill_lost, kill_twice = kill_campaign(kills, 200 if options.quick else 500)
    return [
        Result(SCENARIO, f"commit → receiver, p50 ({samples} rows)", "s", p50),
        Result(
            SCENARIO,
            f"commit → receiver, p95 ({samples} rows)",
            "s",
            p95,
            figure=p95,
            figure_kind="diff",
            goal=Goal("<", 2.0, "< 2 s"),
        ),
        Result(
            SCENARIO,
            f"{rows:,} rows one by one: lost",
            "count",
            lost,
            figure=lost,
            figure_kind="diff",
            goal=Goal("==", 0, "0"),
        ),
        Result(
            SCENARIO,
            f"{rows:,} rows one by one: told twice",
            "count",
            twice,
            figure=twice,
            figure_kind="diff",
            goal=Goal("==", 0, "0"),
            note=f"{rows / seconds:,.0f} messages/s",
        ),
        Result(
            SCENARIO,
            f"{rows:,} rows one by one: peak traced memory",
            "MB",
            peak_mb,
            figure=peak_mb,
            figure_kind="diff",
            goal=Goal("<", 50.0, "< 50 MB"),
        ),
        Result(
            SCENARIO,
            f"{rows:,} rows queued at once: messages",
            "count",
            digests,
            figure=digests,
            figure_kind="diff",
            goal=Goal("==", 1, "1 digest"),
        ),
        Result(
            SCENARIO,
            f"{kills} × kill -9 while sending ({queued:,} rows): lost",
            "count",
            kill_lost,
            figure=kill_lost,
            figure_kind="diff",
            goal=Goal("==", 0, "0"),
        ),
        Result(
            SCENARIO,
            f"{kills} × kill -9 while sending: told twice",
            "count",
            kill_twice,
            figure=kill_twice,
            figure_kind="diff",
            goal=Goal("<=", kills, f"≤ {kills} (one per kill)"),
        ),
    ]
