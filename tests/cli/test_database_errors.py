"""A database's error is one line for the user on both backends: the driver's message, never
the SQL statement, its parameters or SQLAlchemy's link (those only with LOG_LEVEL=DEBUG)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from harvester._core.text import error_line
from harvester._store.db import open_database
from tests.helpers import CliResult

SQL_TRACES = ("[SQL:", "[parameters:", "sqlalche.me", "SELECT", "DELETE")


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    return {
        "HARVESTER_DATABASE_URL": url,
        "HARVESTER_JOBS_FILE": str(tmp_path / "jobs.yaml"),
        "LOG_LEVEL": "WARNING",
    }


def _drop(url: str, table: str) -> None:
    open_database(url).dispose()
    engine = create_engine(url)
    with engine.begin() as connection:
        cascade = " CASCADE" if url.startswith("postgresql") else ""
        connection.execute(text(f"DROP TABLE {table}{cascade}"))
    engine.dispose()


def _one_line(result: CliResult) -> str:
    assert result.code != 0
    assert result.err.count("\n") == 1, result.err
    assert not any(trace in result.err for trace in SQL_TRACES), result.err
    return result.err


@pytest.mark.parametrize(("command", "table"), [("runs", "runs"), ("tables", "laps")])
def test_a_refused_statement_is_one_line_on_both_backends(
    run_cli: Callable[..., CliResult],
    tmp_path: Path,
    backend: str,
    command: str,
    table: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    _drop(backend, table)
    args = ("tables", "rebuild") if command == "tables" else (command,)
    line = _one_line(run_cli(*args, env=_env(tmp_path, backend)))
    assert line.startswith("harvester: error: the database failed: ")
    assert table in line and "LOG_LEVEL=DEBUG shows the SQL statement" in line


def test_debug_shows_the_statement(
    run_cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'harvester.db'}"
    _drop(url, "runs")
    result = run_cli("runs", env={**_env(tmp_path, url), "LOG_LEVEL": "DEBUG"})
    assert "[SQL: SELECT" in result.err


def test_a_corrupt_database_file_is_one_line(
    run_cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "harvester.db"
    url = f"sqlite:///{path}"
    open_database(url).dispose()
    with path.open("r+b") as file:  # the header stays: SQLite finds the damage on reading
        file.seek(4096 * 3)
        file.write(b"\xff" * 4096 * 8)
    line = _one_line(run_cli("runs", env=_env(tmp_path, url)))
    assert "malformed" in line or "not a database" in line


def test_error_line_keeps_the_driver_s_message_only() -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(OperationalError) as caught, engine.connect() as connection:
        connection.execute(text("SELECT *\nFROM nope WHERE x = :x"), {"x": "secret-ish"})
    assert "[SQL:" in str(caught.value)
    assert error_line(caught.value) == "no such table: nope"
    assert error_line(ValueError("two\nlines")) == "two"
    assert error_line(ValueError("")) == "ValueError"
    assert error_line(ValueError("esc\x1b[2J")) == "esc\\x1b[2J"
