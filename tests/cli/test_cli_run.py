"""`harvester run JOB...`: one line per job, exit status, and a killed run left interrupted."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from contextlib import closing
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
  member_info:
    endpoint: member/info
    every: 1h
  categories:
    endpoint: /data/constants/categories
    every: 1d
  missing_session:
    endpoint: results/get
    params: {subsession_id: 1}
    every: 1h
  recent_results:
    endpoint: results/search_series
    params: {finish_range_begin: "2025-12-01T00:00Z"}
    every: 1h
"""


def _env(tmp_path: Path, server: RunningSimulator) -> dict[str, str]:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    return env_for(make_settings(tmp_path, server.url))


def test_run_prints_one_line_per_job_and_exits_zero_when_all_succeed(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    result = run_cli("run", "member_info", "categories", env=_env(tmp_path, loopback))
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("member_info: success")
    assert lines[1].startswith("categories: success")


def test_run_exits_non_zero_if_any_job_did_not_succeed(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    result = run_cli("run", "member_info", "missing_session", env=_env(tmp_path, loopback))
    assert result.code == 1
    assert "missing_session: not_found" in result.out
    assert "member_info: success" in result.out


def test_an_unknown_job_is_named_with_a_suggestion(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    result = run_cli("run", "member_inf", env=_env(tmp_path, loopback))
    assert result.code == 2
    assert "no job named 'member_inf'" in result.err and "member_info" in result.err


def test_a_broken_jobs_file_names_file_line_and_field(
    run_cli: Callable[..., CliResult], tmp_path: Path, loopback: RunningSimulator
) -> None:
    env = _env(tmp_path, loopback)
    (tmp_path / "jobs.yaml").write_text("jobs:\n  a:\n    endpoint: member/info\n    evry: 1h\n")
    result = run_cli("run", "a", env=env)
    assert result.code == 2
    assert "jobs.yaml:4: jobs.a.evry: unknown key; did you mean `every`?" in result.err
    assert "Traceback" not in result.err


@pytest.mark.slow
def test_a_killed_run_leaves_no_partial_result_and_becomes_interrupted(
    tmp_path: Path, sim: Simulator, loopback: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tmp_path, loopback)
    sim.config.chunk_size = 20
    held = HeldRequest(sim.store.handle, at=5)  # four chunks arrive, the fifth is held
    monkeypatch.setattr(sim.store, "handle", held)
    database = tmp_path / "harvester.db"
    process = start_harvester("run", "recent_results", env=env, cwd=tmp_path)
    try:
        # four chunks are fetched (held for the result's one transaction) when it is killed,
        # once the run has lasted long enough to be written as running (a run killed in its
        # first second leaves no row: it stored nothing)
        assert held.reached.wait(60), "the run never reached its 5th chunk"
        wait_for(lambda: db_rows(database, "SELECT status FROM runs") == [("running",)])
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        held.release.set()
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("running",)]
        assert conn.execute("SELECT count(*) FROM result_parts").fetchone() == (0,)
    # the next command notices the dead process's run
    again = run_harvester("run", "member_info", env=env, cwd=tmp_path, timeout=60)
    assert again.returncode == 0, again.stderr
    with closing(sqlite3.connect(database)) as conn:
        statuses = conn.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
        assert statuses == [(1, "interrupted"), (2, "success")]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM result_parts WHERE run_id = 1").fetchone() == (0,)


@pytest.mark.slow
def test_ctrl_c_records_the_run_interrupted_and_says_so_in_one_line(
    tmp_path: Path, sim: Simulator, loopback: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tmp_path, loopback)
    sim.config.chunk_size = 20
    held = HeldRequest(sim.store.handle, at=3)  # the run is certainly in the middle of its chunks
    monkeypatch.setattr(sim.store, "handle", held)
    database = tmp_path / "harvester.db"
    process = start_harvester("run", "recent_results", env=env, cwd=tmp_path, output=True)
    try:
        assert held.reached.wait(60), "the run never reached its 3rd chunk"
        process.send_signal(signal.SIGINT)
        # recorded at once, while a chunk download is still hanging
        wait_for(lambda: db_rows(database, "SELECT status FROM runs") == [("interrupted",)])
    finally:
        held.release.set()
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    # besides the JSON log: click's newline after the terminal's "^C", then one line
    said = [line for line in err.splitlines() if line.strip() and not line.startswith("{")]
    assert said == ["harvester: interrupted"]
    assert out == ""
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT status, error FROM runs").fetchall() == [
            ("interrupted", "interrupted (Ctrl-C)")
        ]
        assert conn.execute("SELECT count(*) FROM result_parts").fetchone() == (0,)
