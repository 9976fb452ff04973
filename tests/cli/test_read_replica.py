"""HARVESTER_READ_DATABASE_URL: the commands that only read (query, tables, status, runs) read a
read-only copy instead of the database the service writes, never write it, and `status` says
which one it read; on a PostgreSQL streaming replica, the service's lease as the replica shows
it."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from harvester._service.runtime import Runtime
from harvester.simulator import RunningSimulator, SimConfig, Simulator
from tests.helpers import (
    CliResult,
    PrivateCluster,
    db_rows,
    env_for,
    job,
    make_settings,
    start_harvester,
    wait_for,
)


def replayed(url: str) -> bool:
    """The replica has the database (its CREATE DATABASE was replayed)."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


def env_of(runtime: Runtime, **extra: str) -> dict[str, str]:
    env = env_for(runtime.settings)
    env.update(extra)
    return env


def test_the_reading_commands_read_a_copy_and_never_write_it(
    runtime: Runtime, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    runtime.session.login()
    assert runtime.runner.run(job("info", "member/info")).ok
    primary = Path(runtime.settings.database_url.removeprefix("sqlite:///"))
    copy = tmp_path / "copy" / "harvester.db"
    copy.parent.mkdir()
    with closing(sqlite3.connect(primary)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    assert runtime.runner.run(job("info", "member/info")).ok  # the primary moves on
    before = copy.read_bytes()
    env = env_of(runtime, HARVESTER_READ_DATABASE_URL=f"sqlite:///{copy}")

    runs = run_cli("runs", "--format", "json", env=env)
    assert runs.code == 0, runs.err
    assert len(json.loads(runs.out)) == 1  # the copy's one run, not the primary's two
    counted = run_cli("query", "SELECT count(*) AS n FROM runs", "--format", "json", env=env)
    assert counted.code == 0, counted.err
    assert json.loads(counted.out) == [{"n": 1}]
    assert run_cli("tables", env=env).code == 0
    status = run_cli("status", "--format", "json", env=env)
    assert status.code == 0, status.err
    said = json.loads(status.out)
    assert said["database"] == "a read-only copy (HARVESTER_READ_DATABASE_URL)"
    assert said["service"].startswith("unknown")
    refused = run_cli("query", "DELETE FROM runs", env=env)
    assert refused.code != 0 and "read-only" in refused.err
    assert copy.read_bytes() == before  # read, never written


def test_a_missing_copy_is_one_line_naming_the_setting(
    runtime: Runtime, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    env = env_of(runtime, HARVESTER_READ_DATABASE_URL=f"sqlite:///{tmp_path / 'none' / 'x.db'}")
    result = run_cli("runs", env=env)
    assert result.code == 2
    assert result.err.startswith("harvester: error: HARVESTER_READ_DATABASE_URL: no database")
    assert not (tmp_path / "none").exists()  # nothing created where it pointed


@pytest.mark.slow
def test_status_on_a_streaming_replica_sees_the_running_service(
    tmp_path: Path,
    private_postgres: PrivateCluster,
    private_replica: PrivateCluster,
    run_cli: Callable[..., CliResult],
) -> None:
    primary_url = private_postgres.create_database("harvest")
    replica_url = private_replica.url("harvest")
    wait_for(lambda: replayed(replica_url), timeout=60)
    sim = Simulator(SimConfig())
    with RunningSimulator(sim) as server:
        (tmp_path / "jobs.yaml").write_text("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
        settings = make_settings(tmp_path, server.url, database_url=primary_url)
        env = env_for(settings)
        service = start_harvester("start", env=env, cwd=tmp_path)
        try:
            done = "SELECT count(*) FROM runs WHERE job = 'info' AND status = 'success'"
            wait_for(lambda: db_rows(primary_url, done) == [(1,)], timeout=60)
            wait_for(lambda: db_rows(replica_url, done) == [(1,)], timeout=60)  # replayed
            env["HARVESTER_READ_DATABASE_URL"] = replica_url
            status = run_cli("status", "--format", "json", env=env)
            assert status.code == 0, status.err
            said = json.loads(status.out)
            assert said["database"].startswith("read replica (HARVESTER_READ_DATABASE_URL), ")
            assert said["database"].endswith(" s behind its primary")
            assert (said["service"], said["pid"]) == ("running", service.pid)
            runs = run_cli("runs", "--job", "info", "--format", "json", env=env)
            assert runs.code == 0 and len(json.loads(runs.out)) == 1
            assert run_cli("tables", env=env).code == 0
            refused = run_cli("query", "DELETE FROM runs", env=env)
            assert refused.code != 0 and "read-only" in refused.err
        finally:
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=60) == 0
        # the service released its lease: the replica shows it once it has replayed that
        released = "SELECT count(*) FROM service_lease WHERE holder IS NULL"
        wait_for(lambda: db_rows(replica_url, released) == [(1,)], timeout=60)
        said = json.loads(run_cli("status", "--format", "json", env=env).out)
        assert said["service"] == "not running"


@pytest.mark.slow
def test_a_replica_behind_this_version_s_schema_is_refused_by_name(
    private_postgres: PrivateCluster,
    private_replica: PrivateCluster,
    runtime: Runtime,
    run_cli: Callable[..., CliResult],
) -> None:
    import psycopg

    with psycopg.connect(private_postgres.url(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE unmigrated")
    replica_url = private_replica.url("unmigrated")
    wait_for(lambda: replayed(replica_url), timeout=60)
    env = env_of(runtime, HARVESTER_READ_DATABASE_URL=replica_url)
    result = run_cli("runs", env=env)
    assert result.code == 2
    assert "HARVESTER_READ_DATABASE_URL: the database is at schema revision none" in result.err
    assert "harvester db upgrade" in result.err
