"""`python -m bench`: run the scenarios, print one table, write it to bench/results/latest.json.

    python -m bench                  every scenario, full size
    python -m bench --only memory    one scenario (repeatable): pipeline, ratebudget, memory,
                                     tokens, chunks, archive, scheduler, tables, dashboard
    python -m bench --quick          scaled-down sizes: a smoke test, not a measurement
    python -m bench --profile        also print a cProfile of harvester's side, where supported
    python -m bench --strict         exit 1 when a goal is not met (default: only on a crash)

A scenario is a function `(Options) -> list[Result]`; add one to SCENARIOS to extend the bench.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from harvester._core.logs import configure_logging

from . import (
    archive,
    chunks,
    dashboard,
    memory,
    pipeline,
    postgres,
    ratebudget,
    scheduler,
    tables,
    tokens,
)
from .common import RESULTS, Options, Result, format_figure, format_value

Scenario = Callable[[Options], list[Result]]

SCENARIOS: dict[str, Scenario] = {
    "pipeline": pipeline.run,
    "ratebudget": ratebudget.run,
    "memory": memory.run,
    "tokens": tokens.run,
    "chunks": chunks.run,
    "archive": archive.run,
    "scheduler": scheduler.run,
    "postgres": postgres.run,
    "tables": tables.run,
    "dashboard": dashboard.run,
}

HEADERS = ("scenario", "measurement", "harvester", "baseline", "ratio/share", "goal", "met?")


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
        default=RESULTS / "latest.json",
        help="where to write the table as JSON (default: bench/results/latest.json)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a goal is not met"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show harvester's warnings (silenced by default)"
    )
    args = parser.parse_args(argv)
    if args.verbose:
        configure_logging("WARNING", "human")
    else:  # expected noise (runs interrupted when a scenario stops them) would break the table
        logging.getLogger().addHandler(logging.NullHandler())
    options = Options(quick=args.quick, profile=args.profile)

    results: list[Result] = []
    crashed = False
    started = time.monotonic()
    for name in args.only or list(SCENARIOS):
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        begun = time.monotonic()
        try:
            rows = SCENARIOS[name](options)
        except Exception as exc:  # one broken scenario must not hide the others' figures
            traceback.print_exc()
            crashed = True
            rows = [Result(name, "scenario crashed", "", None, note=f"{type(exc).__name__}: {exc}")]
        results.extend(rows)
        print(f"bench: {name} took {time.monotonic() - begun:.1f} s", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - started

    print(render_table(results))
    write_json(args.json, results, options, elapsed)
    print(f"\n{len(results)} row(s) in {elapsed:.1f} s; written to {args.json}")
    unmet = any(result.met is False for result in results)
    return 1 if crashed or (args.strict and unmet) else 0


def render_table(results: Sequence[Result]) -> str:
    rows = [
        (
            r.scenario,
            r.measurement,
            format_value(r.harvester, r.unit),
            format_value(r.baseline, r.unit),
            format_figure(r),
            r.goal.label if r.goal else "—",
            {True: "yes", False: "NO", None: "—"}[r.met],
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]
    right = {2, 3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(HEADERS), line(["-" * width for width in widths])]
    out.extend(line(row) for row in rows)
    notes = [f"  {r.scenario} / {r.measurement}: {r.note}" for r in results if r.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def write_json(path: Path, results: Sequence[Result], options: Options, elapsed: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": options.quick,
        "elapsed_seconds": round(elapsed, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "results": [result.as_dict() for result in results],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
