"""One scenario in a process of its own, within a time limit: a crash, a hang or a process left
behind in one scenario cannot take the other scenarios' figures with it.

    python -m bench.isolate MODULE:FUNCTION --out FILE [--quick] [--profile] [--verbose]
        (the bench starts it) runs one scenario (e.g. bench.memory:run) and writes its rows,
        or its error, to FILE as JSON; its traceback, if any, goes to stderr.

The child leads a process group of its own (it and whatever it starts: simulators, services).
At its time limit it gets SIGTERM, which it turns into an exception so that its `with` blocks
clean up (temporary folders, databases, the processes it started); whatever is still running
after a grace period, and anything the scenario left behind when it ended, is killed with the
group.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from .common import REPO, Options, Result
from .scenarios import Scenario, load

GRACE = 20.0  # seconds between SIGTERM and SIGKILL
OK, CRASHED, TIMED_OUT = "ok", "crashed", "timed out"


class TimeLimit(BaseException):
    """The bench stopped this scenario (SIGTERM); a BaseException so `except Exception` in a
    scenario cannot swallow it."""


@dataclass(frozen=True)
class Outcome:
    """How one scenario went: its rows, or why there are none."""

    name: str
    status: str  # OK, CRASHED or TIMED_OUT
    seconds: float
    limit: float
    rows: list[Result] = field(default_factory=list)
    error: str = ""
    left_behind: bool = False  # processes of the scenario still running at its end (killed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 1),
            "limit": self.limit,
            "error": self.error,
            "left_behind": self.left_behind,
        }

    def table_rows(self) -> list[Result]:
        """Its rows; for a scenario without any, one row that says what happened."""
        if self.status == OK:
            return self.rows
        what = "timed out" if self.status == TIMED_OUT else "crashed"
        return [Result(self.name, f"scenario {what}", "", None, note=self.error)]


def run_isolated(
    scenario: Scenario, options: Options, limit: float, verbose: bool = False
) -> Outcome:
    """Run `scenario` in a child process; stop it after `limit` seconds of wall time."""
    flags = [
        *(["--quick"] if options.quick else []),
        *(["--profile"] if options.profile else []),
        *(["--verbose"] if verbose else []),
    ]
    with tempfile.TemporaryDirectory(prefix="harvester-bench-rows-") as folder:
        out = Path(folder) / "rows.json"
        command = [sys.executable, "-m", "bench.isolate", scenario.entry, f"--out={out}", *flags]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO, start_new_session=True)
        timed_out = False
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(process)
        except BaseException:  # the bench itself interrupted: the scenario goes too
            _stop(process)
            raise
        finally:
            left_behind = _kill_group(process.pid)
        seconds = time.monotonic() - started
        report = _read(out)
    if timed_out:
        return Outcome(
            scenario.name,
            TIMED_OUT,
            seconds,
            limit,
            error=f"stopped at its time limit of {limit:.0f} s (wall clock)",
            left_behind=left_behind,
        )
    if process.returncode != 0 or "rows" not in report:
        error = str(report.get("error") or _exit_text(process.returncode))
        return Outcome(scenario.name, CRASHED, seconds, limit, error=error, left_behind=left_behind)
    rows = [Result.from_dict(row) for row in report["rows"]]
    return Outcome(scenario.name, OK, seconds, limit, rows, left_behind=left_behind)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child (it cleans up), then SIGKILL to its group after the grace period."""
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=GRACE)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.wait()


def _kill_group(group: int) -> bool:
    """Kill whatever of the child's process group still runs; whether anything did."""
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _read(path: Path) -> dict[str, Any]:
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return report


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"the scenario's process was killed by {name}"
    return f"the scenario's process exited with status {code} and wrote no figures"


# -- the child ------------------------------------------------------------------------------------


def _time_limit(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise TimeLimit("stopped by the bench (its time limit, or the bench was stopped)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.isolate")
    parser.add_argument("entry", help="the scenario's MODULE:FUNCTION")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _time_limit)
    if args.verbose:
        from harvester._core.logs import configure_logging

        configure_logging("WARNING", "human")
    else:  # expected noise (runs interrupted when a scenario stops them) would break the table
        logging.getLogger().addHandler(logging.NullHandler())
    options = Options(quick=args.quick, profile=args.profile)
    try:
        rows = load(args.entry)(options)
    except BaseException as exc:  # reported to the bench, which goes on with the others
        traceback.print_exc()
        _write(args.out, {"error": f"{type(exc).__name__}: {exc}"[:2000]})
        return 1
    _write(args.out, {"rows": [row.as_dict() for row in rows]})
    return 0


def _write(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
