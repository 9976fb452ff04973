"""`harvester backfill JOB --since ... [--until ...]` end to end against the simulator: the
history window by window, the live cursor left alone, progress logged, one-line refusals, and an
interrupted backfill resumed by the same command."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester.simulator import RunningSimulator, Simulator
from tests.helpers import (
    CliResult,
    HeldRequest,
    db_rows,
    env_for,
    make_settings,
    run_harvester,
    start_harvester,
    wait_for,
)

JOBS = """
jobs:
  recent_results:
    endpoint: results/search_series
    every: 1h
    incremental: {cursor: end_time, param: finish_range_begin, start: "2025-12-31T00:00Z",
                  window: 2d, key: subsession_id}
  member_info: {endpoint: member/info, every: 1h}
"""
# the simulator's clock stands at 2026-01-01: these windows are all in its past
SINCE, UNTIL = "2025-12-10", "2025-12-20"  # five windows of two days

RunCli = Callable[..., CliResult]


def _env(tmp_path: Path, server: RunningSimulator) -> dict[str, str]:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    return env_for(make_settings(tmp_path, server.url))


def test_backfill_fills_the_history_and_leaves_the_cursor_alone(
    run_cli: RunCli, tmp_path: Path, loopback: RunningSimulator
) -> None:
    env = _env(tmp_path, loopback)
    database = tmp_path / "harvester.db"
    result = run_cli("backfill", "recent_results", "--since", SINCE, "--until", UNTIL, env=env)
    assert result.code == 0, result.err
    assert result.out.strip().startswith("recent_results: success (run 1, ")
    assert len(result.out.strip().splitlines()) == 1
    progress = [
        (event["done"], event["total"])
        for event in map(json.loads, result.err.splitlines())
        if event["event"] == "backfill.progress"
    ]
    assert progress == [(n, 5) for n in range(6)]  # not a terminal: JSON events, not a bar
    assert db_rows(database, "SELECT job, trigger, status FROM runs") == [
        ("recent_results", "backfill", "success")
    ]
    assert db_rows(
        database, "SELECT since, until, windows_done, windows_total, status FROM backfills"
    ) == [("2025-12-10T00:00:00Z", "2025-12-20T00:00:00Z", 5, 5, "done")]
    asked = db_rows(
        database,
        "SELECT DISTINCT json_extract(params, '$.finish_range_begin') FROM results "
        "WHERE job = 'recent_results' ORDER BY 1",
    )
    assert [begin for (begin,) in asked] == [
        f"2025-12-{day}T00:00:00Z" for day in ("10", "12", "14", "16", "18")
    ]
    assert db_rows(database, "SELECT count(*) FROM cursors") == [(0,)]  # the live cursor: none


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("member_info", "--since", SINCE),
            "harvester: error: backfill needs a cursor job: member_info has no `incremental`",
        ),
        (("recent_results", "--since", "last week"), "harvester: error: --since/--until: "),
        (
            ("recent_results", "--since", UNTIL, "--until", SINCE),
            "harvester: error: --until must be after --since",
        ),
        (("recent_result", "--since", SINCE), "no job named 'recent_result'"),
    ],
)
def test_backfill_refusals_are_one_line(
    run_cli: RunCli,
    tmp_path: Path,
    loopback: RunningSimulator,
    args: tuple[str, ...],
    message: str,
) -> None:
    result = run_cli("backfill", *args, env=_env(tmp_path, loopback))
    assert result.code == 2
    lines = [line for line in result.err.splitlines() if not line.startswith("{")]
    assert len(lines) == 1 and message in lines[0], result.err
    assert "Traceback" not in result.err
    assert db_rows(tmp_path / "harvester.db", "SELECT count(*) FROM results") in ([], [(0,)])


@pytest.mark.slow
@pytest.mark.parametrize(
    "bounds",
    [
        ("--since", SINCE, "--until", UNTIL),
        # relative to now: the command run again later still means the plan it started
        ("--since", "10d"),
    ],
)
def test_an_interrupted_backfill_is_resumed_by_the_same_command(
    tmp_path: Path,
    sim: Simulator,
    loopback: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    bounds: tuple[str, ...],
) -> None:
    env = _env(tmp_path, loopback)
    database = tmp_path / "harvester.db"
    held = HeldRequest(sim.data.handle, at=3, path="/data/results/search_series")
    monkeypatch.setattr(sim.data, "handle", held)
    command = ("backfill", "recent_results", *bounds)
    process = start_harvester(*command, env=env, cwd=tmp_path, output=True)
    try:
        assert held.reached.wait(60), "the backfill never asked for its third window"
        process.send_signal(signal.SIGINT)
        wait_for(lambda: db_rows(database, "SELECT status FROM runs") == [("interrupted",)])
    finally:
        held.release.set()
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    said = [line for line in err.splitlines() if line.strip() and not line.startswith("{")]
    assert said == ["backfill interrupted: run the same command again to resume"]
    assert db_rows(database, "SELECT windows_done, status FROM backfills") == [(2, "running")]

    # the same command an hour later (its clock runs 1000 times fast from 3.6 s ago): "10d"
    # now means another time, but still the plan the interrupted backfill made
    later = {**env, "HARVESTER_CLOCK": f"scaled:1000@{time.time() - 3.6:.3f}"}
    again = run_harvester(*command, env=later, cwd=tmp_path, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("recent_results: success (run 2, ")
    assert held.count == 3 + 3  # the resumed run asked for windows 3, 4 and 5 only
    assert db_rows(database, "SELECT id, status FROM runs ORDER BY id") == [
        (1, "interrupted"),
        (2, "success"),
    ]
    assert db_rows(database, "SELECT windows_done, windows_total, status FROM backfills") == [
        (5, 5, "done")
    ]
    begins = db_rows(
        database,
        "SELECT DISTINCT json_extract(params, '$.finish_range_begin') FROM results ORDER BY 1",
    )
    assert len(begins) == 5  # every window once in the archive, none lost at the interruption
