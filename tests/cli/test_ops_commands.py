"""The operations commands: jobs, runs, query (read-only), status, and their documentation."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from harvester._cli.main import cli
from harvester._core.run_status import RunStatus
from harvester.simulator import RunningSimulator
from tests.helpers import REPO, CliResult, env_for, make_settings

JOBS = """
jobs:
  member_info: {endpoint: member/info, every: 1h}
  categories: {endpoint: constants/categories, every: 1d}
  gone: {endpoint: results/get, params: {subsession_id: 1}, every: 1h}
"""


@pytest.fixture
def env(
    tmp_path: Path, loopback: RunningSimulator, run_cli: Callable[..., CliResult]
) -> dict[str, str]:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    environment = env_for(make_settings(tmp_path, loopback.url))
    run_cli("run", "member_info", "categories", "gone", env=environment)
    run_cli("run", "member_info", env=environment)
    return environment


def test_jobs_shows_schedule_and_last_runs(
    run_cli: Callable[..., CliResult], env: dict[str, str]
) -> None:
    result = run_cli("jobs", "--format", "json", env=env)
    assert result.code == 0, result.err
    rows = {row["job"]: row for row in json.loads(result.out)}
    assert rows["member_info"]["schedule"] == "every 1h"
    assert rows["member_info"]["last_status"] == "success"
    assert rows["member_info"]["last_success"].endswith("Z")
    assert rows["gone"]["last_status"] == "not_found"
    assert rows["gone"]["last_success"] is None
    assert rows["member_info"]["next_run"] is None  # no service is running
    table = run_cli("jobs", env=env).out
    assert table.splitlines()[0].split() == [
        "job",
        "endpoint",
        "schedule",
        "next_run",
        "last_status",
        "last_success",
        "cursor",
        "parents",
        "children",
        "disabled",
    ]


def test_runs_filters_and_formats(run_cli: Callable[..., CliResult], env: dict[str, str]) -> None:
    everything = json.loads(run_cli("runs", "--format", "json", env=env).out)
    assert [r["job"] for r in everything] == ["member_info", "gone", "categories", "member_info"]
    only = json.loads(run_cli("runs", "--job", "member_info", "--format", "json", env=env).out)
    assert len(only) == 2
    failed = json.loads(run_cli("runs", "--status", "not_found", "--format", "json", env=env).out)
    assert [r["job"] for r in failed] == ["gone"]
    recent = run_cli("runs", "--since", "1h", "--format", "csv", env=env).out
    assert len(list(csv.DictReader(io.StringIO(recent)))) == 4
    future = json.loads(run_cli("runs", "--since", "2999-01-01", "--format", "json", env=env).out)
    assert future == []
    bad = run_cli("runs", "--since", "last tuesday", env=env)
    assert bad.code == 2 and "--since" in bad.err


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "ndjson"])
def test_query_formats(run_cli: Callable[..., CliResult], env: dict[str, str], fmt: str) -> None:
    result = run_cli("query", "SELECT job, status FROM runs ORDER BY id", "--format", fmt, env=env)
    assert result.code == 0, result.err
    if fmt == "json":
        assert json.loads(result.out)[0] == {"job": "member_info", "status": "success"}
    elif fmt == "ndjson":
        assert len(result.out.splitlines()) == 4
    elif fmt == "csv":
        assert result.out.splitlines()[0] == "job,status"
    else:
        assert "member_info" in result.out


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM runs",
        "UPDATE runs SET status = 'x'",
        "INSERT INTO runs (job) VALUES ('x')",
        "DROP TABLE runs",
        "CREATE TABLE t (x)",
        "ATTACH DATABASE 'other.db' AS other",
        "SELECT load_extension('/tmp/evil')",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA query_only = OFF",
        "VACUUM",
        "VACUUM INTO '/tmp/copy-of-the-archive.db'",
    ],
)
def test_query_refuses_anything_but_reading(
    run_cli: Callable[..., CliResult], env: dict[str, str], sql: str
) -> None:
    result = run_cli("query", sql, env=env)
    assert result.code != 0
    assert result.err.startswith("harvester: error: ")
    assert len(result.err.strip().splitlines()) == 1
    assert (
        run_cli("query", "SELECT count(*) AS n FROM runs", "--format", "json", env=env).out.count(
            '"n": 4'
        )
        == 1
    )


def test_reading_pragmas_are_allowed(
    run_cli: Callable[..., CliResult], env: dict[str, str]
) -> None:
    result = run_cli("query", "PRAGMA table_info(runs)", "--format", "json", env=env)
    assert result.code == 0, result.err
    assert "started_at" in result.out


def test_a_runaway_query_is_stopped(run_cli: Callable[..., CliResult], env: dict[str, str]) -> None:
    forever = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    )
    result = run_cli("query", forever, "--timeout", "0.5", env=env)
    assert result.code == 2
    assert "longer than 0.5 s" in result.err


def test_query_reports_sql_errors_in_one_line(
    run_cli: Callable[..., CliResult], env: dict[str, str]
) -> None:
    result = run_cli("query", "SELECT nope FROM runs", env=env)
    assert result.code == 2
    assert result.err.strip() == "harvester: error: SQL error: no such column: nope"


def test_the_views_answer(run_cli: Callable[..., CliResult], env: dict[str, str]) -> None:
    latest = json.loads(
        run_cli(
            "query",
            "SELECT job, run_id FROM latest_results ORDER BY job",
            "--format",
            "json",
            env=env,
        ).out
    )
    assert latest == [{"job": "categories", "run_id": 2}, {"job": "member_info", "run_id": 4}]


def test_status_without_a_service(
    run_cli: Callable[..., CliResult], env: dict[str, str], loopback: RunningSimulator
) -> None:
    result = run_cli("status", "--format", "json", env=env)
    table = run_cli("status", env=env)
    data = json.loads(result.out)
    assert data["service"] == "not running"
    assert data["session"] == "logged in"
    assert data["runs_last_24h"] == {"success": 3, "not_found": 1}
    # every access and refresh token the server issued to the runs above (status decrypts the
    # stored session to say "logged in": the tokens must stop there)
    oauth = loopback.simulator.oauth
    issued = list(oauth._access) + list(oauth._refresh)
    assert issued
    for secret in (env["IRACING_PASSWORD"], env["IRACING_CLIENT_SECRET"], *issued):
        assert secret not in result.out + result.err
        assert secret not in table.out + table.err


def _commands(group: click.Group, prefix: str = "harvester") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if command.hidden:
            continue
        full = f"{prefix} {name}"
        names.append(full)
        if isinstance(command, click.Group):
            names += _commands(command, full)
    return names


def test_every_command_has_help_and_is_documented_in_the_commands_page(
    run_cli: Callable[..., CliResult],
) -> None:
    """Each command has --help and a line in the hand-written overview of the docs (the
    reference beside it is generated from the commands, so it cannot miss one)."""
    page = (REPO / "docs" / "commands.md").read_text()
    commands = _commands(cli)
    assert len(commands) >= 18
    for command in commands:
        words = command.split()[1:]
        result = run_cli(*words, "--help")
        assert result.code == 0 and "Usage:" in result.out, command
        assert re.search(rf"`{re.escape(command)}[ `\]]", page), f"{command} not in the docs"


def test_runs_refuses_an_unknown_status(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    env = {"HARVESTER_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    result = run_cli("runs", "--status", "sucess", env=env)
    assert result.code == 2 and "'sucess' is not one of" in result.err
    assert len(result.err.strip().splitlines()) == 1  # one line, naming every valid status
    assert all(f"'{status.value}'" in result.err for status in RunStatus)
    assert "harvester runs --help" in result.err


def test_runs_shows_duration_and_rows_new_and_dup(
    run_cli: Callable[..., CliResult], env: dict[str, str]
) -> None:
    database = Path(env["HARVESTER_DATABASE_URL"].removeprefix("sqlite:///"))
    with sqlite3.connect(database) as conn:
        conn.execute(
            "UPDATE runs SET started_at = '2026-11-28T06:47:00Z', "
            "finished_at = '2026-11-28T06:48:30Z', rows_new = 7, rows_dup = 3 WHERE id = 1"
        )
        # a run recorded before real durations were (migration 0010): the span of its times
        conn.execute("UPDATE runs SET duration_seconds = NULL WHERE id = 1")
        conn.execute("UPDATE runs SET duration_seconds = 12.34 WHERE id = 4")
        conn.execute("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = 2")
    result = run_cli("runs", "--format", "ndjson", env=env)
    assert result.code == 0, result.err
    rows = {row["id"]: row for row in map(json.loads, result.out.splitlines())}
    assert len(rows) == 4
    assert (rows[1]["duration"], rows[1]["rows_new"], rows[1]["rows_dup"]) == (90, 7, 3)
    assert rows[2]["duration"] is None  # still running
    assert rows[3]["duration"] >= 0 and rows[3]["rows_new"] == 0
    assert rows[4]["duration"] == 12.3  # the real seconds it took, whatever the clock did
    header = run_cli("runs", env=env).out.splitlines()[0].split()
    assert {"duration", "rows_new", "rows_dup"} <= set(header)


def test_a_group_alone_shows_its_help_not_an_error(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("auth")
    assert "Usage: harvester auth" in result.err and "Commands:" in result.err
    assert "harvester: error" not in result.err


def test_query_never_prints_a_control_sequence_and_neutralises_csv_formulas(
    run_cli: Callable[..., CliResult], env: dict[str, str]
) -> None:
    sql = "SELECT char(27) || '[2J' || char(155) AS name, '=HYPERLINK(\"http://e\",\"x\")' AS f"
    table = run_cli("query", sql, env=env).out
    assert "\x1b" not in table and "\x9b" not in table
    assert "\\x1b[2J\\x9b" in table
    rows = list(csv.reader(io.StringIO(run_cli("query", sql, "--format", "csv", env=env).out)))
    assert rows[1] == ["\\x1b[2J\\x9b", '\'=HYPERLINK("http://e","x")']
    raw = run_cli("query", sql, "--format", "csv", "--raw-csv", env=env).out
    assert list(csv.reader(io.StringIO(raw)))[1][1] == '=HYPERLINK("http://e","x")'


def test_an_error_with_a_server_s_text_stays_one_printable_line(
    run_cli: Callable[..., CliResult], env: dict[str, str]
) -> None:
    result = run_cli("query", 'SELECT * FROM "no\nsuch\x1b[2J"', env=env)
    assert result.code == 2
    assert result.err.count("\n") == 1 and "\x1b" not in result.err


def test_a_record_s_text_lines_escape_a_server_s_controls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from harvester._cli.state import emit

    emit({"user": "max\x1b[2J", "scope": ["iracing.auth", "\nfake: line"]}, "text")
    out = capsys.readouterr().out
    assert out.splitlines() == ["user   max\\x1b[2J", "scope  iracing.auth, \\nfake: line"]


@pytest.mark.parametrize(
    ("table", "meant"),
    [("races", "`session_results` or `subsessions`"), ("run", "`runs`"), ("lap", "`laps`")],
)
def test_a_missing_table_names_the_nearest_there_are(
    run_cli: Callable[..., CliResult], env: dict[str, str], table: str, meant: str
) -> None:
    result = run_cli("query", f"SELECT * FROM {table}", env=env)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"no such table: {table}; did you mean {meant}" in result.err
    assert "`harvester query --help` names the tables and views" in result.err


def test_query_help_names_every_analysis_table_and_view() -> None:
    from harvester._tables import TABLE_NAMES

    text = cli.commands["query"].get_help(click.Context(cli.commands["query"]))
    for name in (*TABLE_NAMES, "runs", "results", "latest_results", "result_rows"):
        assert re.search(rf"\b{name}\b", text), name
