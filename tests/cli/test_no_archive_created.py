"""A command that only reads never creates the archive: run in a folder without one (a typo,
the wrong folder, a new user looking around), it says so or answers from nothing, and leaves
no harvester.db behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import CliResult

JOBS = """
jobs:
  member_info: {endpoint: member/info, every: 1h}
feeds:
  winners:
    table: session_results
    key: [subsession_id, cust_id]
    template: "{{ display_name }} won {{ subsession_id }}"
    targets: ["json://localhost/"]
"""

READING = [
    ("runs",),
    ("runs", "--status", "failed"),
    ("query", "SELECT * FROM runs"),
    ("query", "SELCT 1"),
    ("tables",),
    ("catalog", "diff"),
    ("feeds",),
    ("feeds", "test", "winners", "--dry-run"),
    ("jobs",),
    ("status",),
    ("auth", "status"),
]


@pytest.mark.parametrize("args", READING, ids=" ".join)
def test_a_reading_command_leaves_no_archive_behind(
    run_cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jobs.yaml").write_text(JOBS, encoding="utf-8")
    env = {"HARVESTER_DATABASE_URL": "sqlite:///harvester.db", "HARVESTER_JOBS": "jobs.yaml"}
    result = run_cli(*args, env=env)
    assert not (tmp_path / "harvester.db").exists(), result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.yaml"]
    if result.code:
        assert result.err.count("\n") == 1, result.err
        assert "harvester.db" in result.err


def test_status_says_there_is_no_archive_yet(
    run_cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("status", env={"HARVESTER_DATABASE_URL": "sqlite:///harvester.db"})
    assert result.code == 0
    assert "none yet at harvester.db" in result.out
    assert "not logged in" in result.out
