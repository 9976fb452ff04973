"""`harvester tables`, `harvester tables rebuild`, `harvester datasette-metadata`, Datasette on
the archive, a rebuild while results are stored, and every query of the tables' page of the docs."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harvester._archive.archive import Archive
from harvester._core.clock import ManualClock
from harvester._store import db
from harvester._tables import rebuild as rebuild_module
from harvester._tables.rebuild import rebuild
from tests.helpers import REPO, CliResult
from tests.tables.test_store import doc, query, snapshot, store


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "archive.db"
    engine = db.open_database(f"sqlite:///{path}")
    archive = Archive(engine, ManualClock())
    store(archive, "results/get", doc("results_get"))
    store(archive, "results/get", doc("results_get_team"))
    store(archive, "results/get", {"unexpected": True})
    store(archive, "results/lap_data", doc("lap_data_header"), doc("lap_data_chunk"))
    store(archive, "member/chart_data", doc("chart_data"))
    store(archive, "car/get", doc("car_get"))
    store(archive, "member/info", doc("member_info"))
    engine.dispose()
    return path, {"HARVESTER_DATABASE_URL": f"sqlite:///{path}", "LOG_FORMAT": "json"}


def test_tables_lists_rows_sources_and_last_update(
    run_cli: Callable[..., CliResult], filled: tuple[Path, dict[str, str]]
) -> None:
    _, env = filled
    result = run_cli("tables", env=env)
    assert result.code == 0, result.err
    lines = {line.split()[0]: line for line in result.out.splitlines() if line.strip()}
    assert lines["session_results"].split()[1] == "10"
    assert "results/get" in lines["session_results"]
    assert "1 document(s) skipped" in result.out
    as_json = json.loads(run_cli("tables", "--format", "json", env=env).out)
    assert {r["table"]: r["rows"] for r in as_json}["cars"] == 1
    assert all(r["last_update"] for r in as_json if r["rows"])


def test_rebuild_logs_json_progress_when_not_on_a_terminal(
    run_cli: Callable[..., CliResult], filled: tuple[Path, dict[str, str]]
) -> None:
    _, env = filled
    result = run_cli("tables", "rebuild", env=env)
    assert result.code == 0, result.err
    assert "rebuilt 10 table(s) from 7 result(s)" in result.out
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    progress = [e for e in events if e["event"] == "tables.progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == 7
    partial = run_cli("tables", "rebuild", "laps", "cars", env=env)
    assert "rebuilt 2 table(s) from 5 result(s): 4 row(s)" in partial.out


def test_rebuild_of_an_unknown_table_is_one_clean_line(
    run_cli: Callable[..., CliResult], filled: tuple[Path, dict[str, str]]
) -> None:
    _, env = filled
    result = run_cli("tables", "rebuild", "drivers", env=env)
    assert result.code == 2
    assert result.err.strip() == (
        "harvester: error: unknown table 'drivers'; the tables are: subsessions, "
        "session_results, laps, event_log, members, member_charts, series, seasons, cars, tracks"
    )


def test_datasette_opens_the_archive_with_the_metadata(
    run_cli: Callable[..., CliResult], filled: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    from datasette.app import Datasette

    path, env = filled
    out = tmp_path / "metadata.json"
    assert run_cli("datasette-metadata", "-o", str(out), env=env).code == 0
    metadata = json.loads(out.read_text())
    database = metadata["databases"]["archive"]
    assert database["tables"]["oauth_tokens"] == {"hidden": True}
    assert database["tables"]["auth_state"] == {"hidden": True}
    assert database["tables"]["laps"]["units"]["lap_time"] == "s"
    assert len(database["queries"]) >= 5

    async def browse() -> tuple[Any, Any, Any, Any]:
        ds = Datasette([str(path)], metadata=metadata)
        table = await ds.client.get("/archive/session_results.json?_shape=array&cust_id=1004")
        listing = await ds.client.get("/archive.json")
        canned = await ds.client.get("/archive/irating_history.json?_shape=array&cust_id=1001")
        standings = await ds.client.get(
            "/archive/season_standings.json?_shape=array&season_id=5901"
        )
        return table, listing, canned, standings

    table, listing, canned, standings = asyncio.run(browse())
    assert table.status_code == 200, table.text
    (row,) = table.json()
    assert (row["display_name"], row["team_name"]) == ("Di Partner", "Team Orange")
    shown = {t["name"]: t["hidden"] for t in listing.json()["tables"]}
    assert shown["oauth_tokens"] is True and shown["session_results"] is False
    assert canned.status_code == 200, canned.text
    assert sorted(r["change"] for r in canned.json()) == [30, 52]
    assert standings.json()[0]["driver"] == "Ada Driver"


def test_rebuild_while_results_are_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service keeps storing during a rebuild: nothing it stores is lost, and the tables
    end equal to a quiet rebuild."""
    engine = db.open_database(f"sqlite:///{tmp_path / 'busy.db'}")
    archive = Archive(engine, ManualClock())
    for i in range(30):
        document = doc("results_get")
        document["subsession_id"] = 90_000_000 + i
        store(archive, "results/get", document)
    monkeypatch.setattr(rebuild_module, "WRITE_BUDGET_SECONDS", 0.0)  # one result a transaction
    monkeypatch.setattr(rebuild_module, "PAGE", 3)
    stop = threading.Event()
    stored: list[int] = []

    def service() -> None:
        other = Archive(engine, ManualClock())
        i = 0
        while not stop.is_set() or i < 5:
            document = doc("results_get")
            document["subsession_id"] = 91_000_000 + i
            stored.append(store(other, "results/get", document))
            i += 1

    worker = threading.Thread(target=service)
    worker.start()
    try:
        rebuild(engine)
    finally:
        stop.set()
        worker.join()
    assert query(engine, "SELECT count(*) FROM subsessions") == [(30 + len(stored),)]
    during = snapshot(engine)
    rebuild(engine)
    assert snapshot(engine) == during
    engine.dispose()


def readme_queries() -> list[str]:
    """The queries of the tables' page of the docs (docs/tables.md)."""
    page = (REPO / "docs" / "tables.md").read_text(encoding="utf-8")
    found = re.findall(r'harvester query (?:--format \w+ )?"((?:[^"\\]|\\.)*)"', page, re.S)
    return [q.replace("\\$", "$") for q in found]


# The page names the simulator's driver and series (tests/docs/test_readme_examples.py asks
# them there); this archive holds the hand-made documents of tests/data/tables, with their own
# ids.
README_IDS_TO_TEST_DATA = {"100001": "1001", "series_id = 200": "series_id = 285"}


def test_every_readme_query_of_the_tables_runs(
    run_cli: Callable[..., CliResult], filled: tuple[Path, dict[str, str]]
) -> None:
    _, env = filled
    queries = readme_queries()
    assert len(queries) >= 5
    for readme_sql in queries:
        sql = readme_sql
        for simulator_id, test_data_id in README_IDS_TO_TEST_DATA.items():
            sql = sql.replace(simulator_id, test_data_id)
        result = run_cli("query", "--format", "json", sql, env=env)
        assert result.code == 0, (sql, result.err)
        assert json.loads(result.out), sql  # each answers something on this archive


def test_query_runs_the_raw_json_answer_with_nested_json_each(
    run_cli: Callable[..., CliResult], filled: tuple[Path, dict[str, str]]
) -> None:
    """The raw answer the tables replace (json_each over json_each) works in harvester query."""
    _, env = filled
    sql = (
        "SELECT count(*) AS n FROM results AS d, json_each(d.body, '$.session_results') AS s, "
        "json_each(s.value, '$.results') AS r WHERE d.endpoint = 'results/get' AND d.part = 0"
    )
    result = run_cli("query", "--format", "json", sql, env=env)
    assert result.code == 0, result.err
    assert json.loads(result.out) == [{"n": 8}]
    refused = run_cli("query", "UPDATE sqlite_master SET type = 'x'", env=env)
    assert refused.code != 0
