"""`python -m bench`: run the scenarios, print one table, write it as JSON.

    python -m bench                  every scenario, full size (about half an hour), written to
                                     bench/results/latest.json
    python -m bench --quick          scaled-down sizes, under 5 minutes: a smoke test of the
                                     whole loop, not a measurement (bench/results/quick.json)
    python -m bench --only memory    one scenario (repeatable); see bench/scenarios.py
    python -m bench --profile        also print a cProfile of harvester's side, where supported
    python -m bench --strict         exit 1 when a goal is not met (default: only on a crash)
    python -m bench.report FILE      the README's table from the JSON (see report.py)

Each scenario runs in a process of its own within a time limit (isolate.py): one that crashes
or hangs is reported as such, and the others still run. The exit status is 1 when a scenario
did not finish.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from . import machine
from .common import RESULTS, Options, Result
from .isolate import OK, Outcome, run_isolated
from .results import render_table
from .scenarios import SCENARIOS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="harvester's benchmarks")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes (smoke test)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a cProfile of harvester's side (pipeline, scheduler)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="where to write the table as JSON (default: bench/results/latest.json, "
        "or quick.json with --quick)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a goal is not met"
    )
    parser.add_argument(
        "--limit-scale",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="multiply every scenario's time limit (a slower machine)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show harvester's warnings (silenced by default)"
    )
    args = parser.parse_args(argv)
    options = Options(quick=args.quick, profile=args.profile)
    json_path: Path = args.json or RESULTS / ("quick.json" if args.quick else "latest.json")
    signal.signal(signal.SIGTERM, _interrupt)  # stopped like Ctrl-C: the scenario's processes too

    before = machine.describe()
    begun_at = datetime.now(UTC)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    interrupted = False
    for name in args.only or list(SCENARIOS):
        scenario = SCENARIOS[name]
        limit = scenario.limit(options.quick) * args.limit_scale
        say(f"bench: {name} ({scenario.summary}; time limit {limit:.0f} s)...")
        try:
            outcome = run_isolated(scenario, options, limit, verbose=args.verbose)
        except KeyboardInterrupt:
            say(f"bench: interrupted during {name}; the figures so far are kept")
            interrupted = True
            break
        outcomes.append(outcome)
        left = "; it left processes running (killed)" if outcome.left_behind else ""
        say(f"bench: {name} {outcome.status} in {outcome.seconds:.1f} s{left}")
    elapsed = time.monotonic() - started

    results = [row for outcome in outcomes for row in outcome.table_rows()]
    print(render_table(results))
    document = bench_document(
        results, outcomes, options, begun_at, elapsed, before, argv or sys.argv[1:]
    )
    write_json(json_path, document)
    failed = [o.name for o in outcomes if o.status != OK]
    print(
        f"\n{len(results)} row(s) from {len(outcomes)} scenario(s) in {elapsed:.1f} s; "
        f"written to {json_path}" + (f"; did not finish: {', '.join(failed)}" if failed else "")
    )
    if interrupted:
        return 130
    unmet = any(result.met is False for result in results)
    return 1 if failed or (args.strict and unmet) else 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_document(
    results: Sequence[Result],
    outcomes: Sequence[Outcome],
    options: Options,
    begun_at: datetime,
    elapsed: float,
    before: dict[str, Any],
    argv: Sequence[str],
) -> dict[str, Any]:
    """The JSON the bench writes: what ran where, how each scenario went, every row."""
    return {
        "generated_at": begun_at.isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "quick": options.quick,
        "elapsed_seconds": round(elapsed, 1),
        "machine": {**before, "load_average_after": machine.describe()["load_average"]},
        "scenarios": [outcome.as_dict() for outcome in outcomes],
        "results": [result.as_dict() for result in results],
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
