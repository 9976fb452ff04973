"""The two processes of the memory scenario (`bench/memory.py` starts them).

    python -m bench.memory_child simulate --series-count N --race-interval M --max-splits S \
        --chunk-size C --now EPOCH [--latency SECONDS]
        A simulator on 127.0.0.1 (a free port); prints its URL on stdout, serves until stdin
        closes. `--latency` adds real seconds to every answer (the chunks scenario uses it).
        TCP_NODELAY is set on its connections: without it each answer (headers, then body, in
        two writes) waits ~40 ms for the client's delayed ACK (Nagle), a simulator artefact
        that would swamp `--latency` (see `_nodelay`).

    python -m bench.memory_child harvest --url URL --folder DIR --begin ISO --end ISO \
        --request-timeout SECONDS
        harvester in a fresh process: idle RSS after imports, open_runtime and a login; then one
        results/search_series run; prints one JSON line (idle and peak RSS, bytes, chunks).
        The simulator computes the whole result before it answers (a minute or more for the
        full workload on a loaded machine), so the request's timeout and deadline are raised
        to `--request-timeout`, as REQUEST_TIMEOUT and HARVESTER_REQUEST_DEADLINE_SECONDS
        would be against a slow server.
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harvester._config.jobs import JobSpec
from harvester._core.clock import ManualClock
from harvester._service.runtime import open_runtime
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from harvester.simulator import server as server_module
from harvester.simulator.world import World, WorldConfig

from .common import proc_status_kb, reset_peak_rss, sim_settings

ENDPOINT = "results/search_series"


def _nodelay() -> None:
    """Answers leave at once: `http.server` writes the headers and the body separately, and
    with Nagle's algorithm on, the body waits for the ACK of the headers, which Linux delays
    by ~40 ms on loopback. Real servers (S3, members-ng) do not add that; the simulator's
    `_Handler` leaves `disable_nagle_algorithm` False (reported, not changed here)."""
    server_module._Handler.disable_nagle_algorithm = True


def simulate(args: argparse.Namespace) -> None:
    _nodelay()
    world = World(
        WorldConfig(
            series_count=args.series_count,
            race_interval_minutes=args.race_interval,
            max_splits=args.max_splits,
        )
    )
    sim = Simulator(
        SimConfig(rate_limit=None, chunk_size=args.chunk_size, latency=args.latency),
        clock=ManualClock(args.now),  # time stands still after the window: links never expire
        world=world,
    )
    with RunningSimulator(sim) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


def harvest(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    settings = sim_settings(
        folder,
        args.url,
        request_timeout=args.request_timeout,
        request_deadline_seconds=args.request_timeout,
    )
    with open_runtime(settings) as rt:
        rt.session.login()
        gc.collect()
        idle_kb = proc_status_kb("VmRSS")
        peak_was_reset = reset_peak_rss()
        job = JobSpec(
            name="bench_search_series",
            endpoint=ENDPOINT,
            params={"start_range_begin": args.begin, "start_range_end": args.end},
        )
        started = time.monotonic()
        outcome = rt.runner.run(job)
        seconds = time.monotonic() - started
        peak_kb = proc_status_kb("VmHWM")
    database = folder / "harvester.db"
    with sqlite3.connect(database) as conn:
        documents, stored = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM documents"
        ).fetchone()
        chunks, rows = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(rows), 0) FROM result_parts WHERE run_id = ? "
            "AND part > 0",
            (outcome.run_id,),
        ).fetchone()
    print(
        json.dumps(
            {
                "status": outcome.status,
                "error": outcome.error,
                "idle_kb": idle_kb,
                "peak_kb": peak_kb,
                "peak_was_reset": peak_was_reset,
                "seconds": seconds,
                "documents": documents,
                "stored_bytes": stored,
                "chunks": chunks,
                "rows": rows,
                "requests": outcome.counts.requests,
                "received_bytes": outcome.counts.bytes,
            }
        ),
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_child")
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("simulate")
    sim.add_argument("--series-count", type=int, required=True)
    sim.add_argument("--race-interval", type=int, required=True)
    sim.add_argument("--max-splits", type=int, required=True)
    sim.add_argument("--chunk-size", type=int, required=True)
    sim.add_argument("--now", type=float, required=True)
    sim.add_argument("--latency", type=float, default=0.0)
    run = commands.add_parser("harvest")
    run.add_argument("--url", required=True)
    run.add_argument("--folder", required=True)
    run.add_argument("--begin", required=True)
    run.add_argument("--end", required=True)
    run.add_argument("--request-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.command == "simulate":
        simulate(args)
    else:
        harvest(args)


if __name__ == "__main__":
    main()
