"""`harvester start` and `harvester demo` as real processes: signals, the instance lock, the
demo end to end."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harvester.simulator import RunningSimulator
from tests.helpers import db_rows, env_for, make_settings, run_harvester, start_harvester, wait_for

JOBS = """
jobs:
  info: {endpoint: member/info, every: 2s}
  cats: {endpoint: constants/categories, every: 3s}
"""


def start(tmp_path: Path, server: RunningSimulator, *args: str) -> subprocess.Popen[str]:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    env = env_for(make_settings(tmp_path, server.url))
    return start_harvester("start", *args, env=env, cwd=tmp_path, output=True)


@pytest.mark.slow
def test_sigterm_stops_new_runs_and_exits_zero(tmp_path: Path, loopback: RunningSimulator) -> None:
    service = start(tmp_path, loopback, "--grace", "2")
    database = tmp_path / "harvester.db"
    try:
        wait_for(
            lambda: len(db_rows(database, "SELECT id FROM runs WHERE status = 'success'")) >= 2
        )
        sent_at = time.monotonic()
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=30)
        took = time.monotonic() - sent_at
    finally:
        if service.poll() is None:
            service.kill()
            service.communicate()
    assert service.returncode == 0, err
    assert took < 15
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    events = [entry["event"] for entry in logged]
    assert "service.started" in events and events[-1] == "service.stopped"
    assert "run.finished" in events
    assert db_rows(database, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]
    # no run began after the signal: every run recorded had ended before the service said it
    # was stopping, or was in flight then (a run ends its log line before it leaves the set)
    stopping = events.index("service.stopping")
    ended_before = sum(
        event in ("run.finished", "run.skipped_overlap") for event in events[:stopping]
    )
    in_flight = logged[stopping]["runs_in_flight"]
    count = db_rows(database, "SELECT count(*) FROM runs")[0][0]
    assert count <= ended_before + len(in_flight)


@pytest.mark.slow
def test_a_second_instance_is_refused_naming_the_first(
    tmp_path: Path, loopback: RunningSimulator
) -> None:
    first = start(tmp_path, loopback)
    database = tmp_path / "harvester.db"
    try:
        wait_for(lambda: len(db_rows(database, "SELECT id FROM service")) == 1)
        second = start(tmp_path, loopback)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert f"already running on this database (pid {first.pid}" in err
        assert "Traceback" not in err
        env = env_for(make_settings(tmp_path, loopback.url))
        status = run_harvester("status", "--format", "json", env=env, cwd=tmp_path, timeout=60)
        data = json.loads(status.stdout)
        assert data["service"] == "running" and data["pid"] == first.pid
        assert data["jobs"] == 3  # info, cats and the built-in catalog
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0


@pytest.mark.slow
def test_start_with_an_invalid_jobs_file_exits_with_one_line(
    tmp_path: Path, loopback: RunningSimulator
) -> None:
    env = env_for(make_settings(tmp_path, loopback.url))
    (tmp_path / "jobs.yaml").write_text("jobs:\n  a: {endpoint: member/info, every: never}\n")
    done = run_harvester("start", env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1].startswith("harvester: error: ")
        and "jobs.yaml:2: jobs.a.every" in done.stderr
    )


@pytest.mark.slow
def test_the_demo_end_to_end(tmp_path: Path) -> None:
    done = run_harvester("demo", "--duration", "6", "--folder", "out", cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr and "error" not in done.stderr, done.stderr
    assert "Summary" in done.stdout
    assert "1 password login(s)" in done.stdout
    assert "password logins it cost: 0" in done.stdout
    assert "harvester query" in done.stdout
    database = tmp_path / "out" / "harvester.db"
    statuses = dict(db_rows(database, "SELECT status, count(*) FROM runs GROUP BY status"))
    assert statuses.get("success", 0) >= 8
    assert db_rows(database, "SELECT count(DISTINCT job) FROM results")[0][0] >= 8
    shapes = dict(db_rows(database, "SELECT job, max(part) FROM results GROUP BY job"))
    assert shapes["my_results"] >= 2 and shapes["my_event_logs"] >= 1  # chunks
    assert "Your last races" in done.stdout and "Your iRating trend" in done.stdout
    # every query it suggests works pasted into a shell without a venv on PATH
    pasted = [
        line.strip().removeprefix("ask it yourself: ")
        for line in done.stdout.splitlines()
        if " query " in line
    ]
    assert len(pasted) == 5
    for line in pasted:
        ran = subprocess.run(
            ["sh", "-c", line],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0 and ran.stdout.count("\n") >= 3, f"{line}\n{ran.stderr}"


def test_a_suggested_query_line_survives_the_shell(tmp_path: Path) -> None:
    from harvester._cli.demo import paste_line

    sql = "SELECT json_extract(row, '$.a') AS \"x\", `y`, '\\' FROM t"
    line = paste_line(tmp_path / "out", sql)
    assert line.startswith("HARVESTER_DATABASE_URL=sqlite:///")
    quoted = line.split(" query ", 1)[1]  # the SQL as the shell reads it
    ran = subprocess.run(["sh", "-c", f"printf %s {quoted}"], capture_output=True, text=True)
    assert ran.stdout == sql


@pytest.mark.slow
def test_sigterm_during_start_up_still_exits_zero(
    tmp_path: Path, loopback: RunningSimulator
) -> None:
    service = start(tmp_path, loopback)
    database = tmp_path / "harvester.db"
    wait_for(lambda: database.exists())  # the process is starting: migrations, lock, jobs
    service.send_signal(signal.SIGTERM)
    _, err = service.communicate(timeout=60)
    assert service.returncode == 0, err
