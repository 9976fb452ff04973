"""`harvester mcp` over stdio, driven by the SDK's own client as a desktop client drives it, on
an archive harvested from the simulator, SQLite and PostgreSQL: every tool answers, writes and
reads of the secret tables are refused, the bounds hold, bad input is a tool error and the
server goes on answering, and nothing secret appears in an answer, an error or its log."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import TextResourceContents

from harvester._store.db import sqlite_path
from harvester._tables.schema import SPECS
from tests.helpers import PostgresServer, db_rows, run_harvester
from tests.mcp.harvest import Harvested, data, harvest, stdio_session, text

pytestmark = pytest.mark.slow

TOOLS = {
    "list_tables",
    "describe_table",
    "query",
    "find_driver",
    "driver_races",
    "season_standings",
    "irating_history",
    "harvest_health",
}
SECRET_READS = [
    "SELECT * FROM oauth_tokens",
    "SELECT ciphertext FROM OAUTH_TOKENS",
    "SELECT count(*) FROM auth_events",
    "SELECT * FROM auth_state",
    "WITH t AS (SELECT * FROM oauth_tokens) SELECT identity FROM t",
    "SELECT (SELECT identity FROM oauth_tokens) AS who FROM runs LIMIT 1",
    "SELECT job FROM runs WHERE EXISTS (SELECT 1 FROM auth_events)",
]
WRITES = [
    "DELETE FROM runs",
    "UPDATE runs SET status = 'success'",
    "INSERT INTO runs (job, trigger, status, started_at) VALUES ('x', 'cli', 'success', 'now')",
    "DROP TABLE laps",
    "CREATE TABLE notes (x integer)",
    "DELETE FROM oauth_tokens",
]
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def harvested(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harvested]:
    """One harvested archive per backend for this module's tests (they only read it)."""
    folder = tmp_path_factory.mktemp(f"mcp-{request.param}")
    if request.param == "sqlite":
        yield harvest(folder)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_database()
    try:
        yield harvest(folder, url)
    finally:
        server.release(url)


def rows(archive: Harvested, sql: str) -> list[tuple[Any, ...]]:
    """The database read directly, for what the answers must equal."""
    path = sqlite_path(archive.database_url)
    return db_rows(path if path is not None else archive.database_url, sql)


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    return data(await client.call_tool(tool, arguments))


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, text(result)
    return text(result)


def test_every_tool_answers_on_a_harvested_archive(harvested: Harvested) -> None:
    me = harvested.me
    (name,) = rows(harvested, f"SELECT display_name FROM members WHERE cust_id = {me}")[0]
    my_races = rows(
        harvested,
        "SELECT r.subsession_id, r.newi_rating - r.oldi_rating FROM session_results r "
        "JOIN subsessions s ON s.subsession_id = r.subsession_id "
        f"WHERE r.cust_id = {me} AND r.simsession_number = 0 AND s.event_type = 5 "
        "ORDER BY r.subsession_id DESC",
    )
    season, season_rows = rows(
        harvested,
        "SELECT s.season_id, count(*) FROM session_results r JOIN subsessions s "
        "ON s.subsession_id = r.subsession_id WHERE r.simsession_number = 0 AND s.event_type = 5 "
        "GROUP BY s.season_id ORDER BY count(*) DESC, s.season_id LIMIT 1",
    )[0]
    assert len(my_races) > 5

    async def ask() -> None:
        async with stdio_session(harvested) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS

            listed = await call(client, "list_tables")
            counts = {t["table"]: t["rows"] for t in listed["analysis_tables"]}
            assert set(counts) == set(SPECS)
            assert (
                counts["session_results"]
                == rows(harvested, "SELECT count(*) FROM session_results")[0][0]
            )
            assert counts["laps"] > 0 and counts["member_charts"] > 0
            raw = {t["table"]: t for t in listed["raw_archive"]}
            assert raw["runs"]["rows"] == rows(harvested, "SELECT count(*) FROM runs")[0][0]
            assert raw["result_rows"]["kind"] == "view"

            laps = await call(client, "describe_table", table="laps")
            lap_time = next(c for c in laps["columns"] if c["name"] == "lap_time")
            assert lap_time["unit"] == "s" and laps["key"][0] == "subsession_id"

            counted = await call(client, "query", sql="SELECT count(*) AS n FROM subsessions")
            assert counted["rows"] == [[rows(harvested, "SELECT count(*) FROM subsessions")[0][0]]]
            assert counted["truncated"] is False

            found = await call(client, "find_driver", name=name.split()[-1].upper())
            assert me in [d["cust_id"] for d in found["drivers"]]

            races = await call(client, "driver_races", cust_id=me, limit=5)
            assert races["driver"]["display_name"] == name
            assert [(r["subsession_id"], r["irating_change"]) for r in races["races"]] == [
                tuple(race) for race in my_races[:5]
            ]
            assert all(r["finish_position"] >= 1 for r in races["races"])

            standings = await call(client, "season_standings", season_id=season, limit=1000)
            table = standings["standings"]
            assert [row["place"] for row in table] == list(range(1, len(table) + 1))
            assert [row["points"] for row in table] == sorted(
                (row["points"] for row in table), reverse=True
            )
            races_of = dict(
                rows(
                    harvested,
                    "SELECT r.cust_id, count(*) FROM session_results r JOIN subsessions s "
                    "ON s.subsession_id = r.subsession_id WHERE r.simsession_number = 0 "
                    f"AND s.event_type = 5 AND s.season_id = {season} GROUP BY r.cust_id",
                )
            )
            assert sum(races_of.values()) == season_rows
            if len(table) < len(races_of):  # a cap on the rows of an answer: it says so
                assert f"the first {len(table)} drivers are shown" in standings["note"]
            else:
                assert len(table) == len(races_of)
            assert {row["cust_id"]: row["races"] for row in table}.items() <= races_of.items()
            assert standings["season"]["races_in_archive"] > 0

            history = await call(client, "irating_history", cust_id=me)
            after = history["after_each_race"]
            assert len(after) == len([r for r in my_races if r[1] is not None])
            assert [r["subsession_id"] for r in after] == sorted(r["subsession_id"] for r in after)
            assert history["daily_chart"] and history["by_category"]

            health = await call(client, "harvest_health")
            assert "missing_race (1 in a row)" in health["verdict"]
            assert health["service"]["running"] is False
            assert {job["job"] for job in health["jobs"]} >= {"my_results", "missing_race"}
            assert [f["status"] for f in health["recent_failures"]] == ["not_found"]
            assert (
                health["runs_last_24h"]["success"]
                == rows(harvested, "SELECT count(*) FROM runs WHERE status = 'success'")[0][0]
            )

            schema = await client.read_resource("harvester://schema")
            (content,) = schema.contents
            assert isinstance(content, TextResourceContents)
            for spec in SPECS.values():
                assert f"### {spec.name}" in content.text
            one = await client.read_resource("harvester://tables/laps")
            assert '"lap_time"' in one.contents[0].text  # type: ignore[union-attr]

            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert prompts == {"archive_guide", "driver_report"}
            guide = await client.get_prompt("archive_guide")
            assert "largest subsession_id is the latest" in str(guide.messages[0].content)
            report = await client.get_prompt("driver_report", {"driver": name})
            assert name in str(report.messages[0].content)

    anyio.run(ask)


def test_writes_and_secret_reads_are_refused_and_nothing_secret_is_shown(
    harvested: Harvested,
) -> None:
    counts = "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM oauth_tokens)"
    before = rows(harvested, counts)
    (identity, ciphertext) = rows(harvested, "SELECT identity, ciphertext FROM oauth_tokens")[0]
    cipher = bytes(ciphertext)
    secrets = [
        harvested.settings.password,
        harvested.settings.client_secret,
        identity,
        cipher.hex(),
        cipher[:24].decode("latin-1"),
    ]
    shown: list[str] = []

    async def ask(log: Any) -> None:
        async with stdio_session(harvested, errlog=log) as client:
            for sql in WRITES:
                message = await refused(client, "query", sql=sql)
                assert "read-only" in message or "not readable" in message, (sql, message)
                shown.append(message)
            for sql in ("SELECT 1; DELETE FROM runs", "VACUUM"):
                shown.append(await refused(client, "query", sql=sql))
            for sql in SECRET_READS:
                message = await refused(client, "query", sql=sql)
                assert "is not readable here" in message, (sql, message)
                shown.append(message)
            shown.append(await refused(client, "describe_table", table="oauth_tokens"))
            listed = await client.call_tool("list_tables", {})
            schema = await client.read_resource("harvester://schema")
            everything = text(listed) + str(schema.contents[0])
            for name in ("oauth_tokens", "auth_state", "auth_events"):
                assert name not in everything
            shown.append(everything)
            shown.append(text(await client.call_tool("harvest_health", {})))
            assert (await call(client, "query", sql="SELECT 1 AS alive"))["rows"] == [[1]]

    with tempfile.TemporaryFile("w+") as log:
        anyio.run(ask, log)
        log.seek(0)
        logged = log.read()
    assert "mcp.tool_refused" in logged and "Traceback" not in logged  # one line per refusal
    shown.append(logged)
    assert rows(harvested, counts) == before  # nothing changed
    for secret in secrets:
        for output in shown:
            assert secret not in output


def test_the_bounds_hold_and_the_server_answers_after_each(harvested: Harvested) -> None:
    (longest,) = rows(harvested, "SELECT max(size) FROM documents")[0]
    assert longest > 2_000

    async def ask() -> None:
        args = ("--timeout", "1", "--max-rows", "300", "--max-bytes", "20000")
        async with stdio_session(harvested, *args) as client:
            ids = "SELECT subsession_id FROM subsessions"
            three = await call(client, "query", sql=ids, limit=3)
            assert len(three["rows"]) == 3 and three["truncated"]
            assert "asked for" in three["note"]

            many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)"
            capped = await call(client, "query", sql=f"{many} SELECT x FROM c", limit=100_000)
            assert len(capped["rows"]) == 300 and "one answer holds" in capped["note"]

            wide = await call(client, "query", sql="SELECT body FROM results", limit=300)
            assert wide["truncated"] and "20,000 bytes" in wide["note"]
            assert len(wide["rows"]) < 300

            body = await call(
                client, "query", sql="SELECT body FROM documents ORDER BY size DESC", limit=1
            )
            (value,) = body["rows"][0]
            assert value.endswith(" more characters]") and len(value) < 2_040
            assert "are cut" in body["note"]

            stopped = await refused(client, "query", sql=ENDLESS)
            assert "longer than 1 s and was stopped" in stopped

            assert (await call(client, "query", sql="SELECT 1 AS alive"))["rows"] == [[1]]

    anyio.run(ask)


def test_bad_input_is_a_tool_error_and_the_server_goes_on(harvested: Harvested) -> None:
    async def ask() -> None:
        async with stdio_session(harvested) as client:
            assert "did you mean `laps`" in await refused(client, "describe_table", table="lapz")
            assert "list_tables" in await refused(client, "query", sql="SELECT * FROM lapz")
            assert "SQL error" in await refused(client, "query", sql="SELECT * FROM runs WHERE")
            assert "empty" in await refused(client, "query", sql="  ")
            assert "cust_id" in await refused(client, "driver_races", cust_id="abc")
            assert "no driver with cust_id 999999999" in await refused(
                client, "driver_races", cust_id=999_999_999
            )
            assert "latest seasons it holds" in await refused(
                client, "season_standings", season_id=1
            )
            assert "sql" in await refused(client, "query", sql="x" * 200_000)
            assert "no_such_tool" in await refused(client, "no_such_tool")
            found = await call(client, "find_driver", name="it's 100%_")  # quotes, wildcards
            assert found["drivers"] == []
            assert (await call(client, "query", sql="SELECT 1 AS alive"))["rows"] == [[1]]

    anyio.run(ask)


def test_the_folder_option_serves_that_folder_from_anywhere(
    harvested: Harvested, tmp_path: Path
) -> None:
    """A desktop client starts the server wherever it likes: --folder reads the folder's .env
    (a relative SQLite URL is the folder's file)."""
    env = {k: v for k, v in harvested.env.items() if not k.startswith("HARVESTER_")}
    url = harvested.database_url
    dotenv = harvested.folder / ".env"
    dotenv.write_text(
        f"HARVESTER_DATABASE_URL={'sqlite:///harvester.db' if sqlite_path(url) else url}\n",
        encoding="utf-8",
    )
    expected = rows(harvested, "SELECT count(*) FROM laps")[0][0]

    async def ask() -> None:
        folder = str(harvested.folder)
        async with stdio_session(harvested, "--folder", folder, cwd=tmp_path, env=env) as client:
            answer = await call(client, "query", sql="SELECT count(*) FROM laps")
            assert answer["rows"] == [[expected]]

    try:
        anyio.run(ask)
    finally:
        dotenv.unlink()


def test_a_missing_database_is_one_line_before_serving(tmp_path: Path) -> None:
    done = run_harvester(
        "mcp", "--folder", str(tmp_path), env={"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json"}
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "harvester: error: no database at harvester.db (run `harvester db upgrade` or a job first)"
    ]


def test_it_reads_the_replica_when_one_is_named(tmp_path: Path) -> None:
    """HARVESTER_READ_DATABASE_URL: the server answers from the replica, never the primary (a
    copy that holds one run more than the primary tells them apart)."""
    archive = harvest(tmp_path / "primary")
    primary = sqlite_path(archive.database_url)
    assert primary is not None
    replica = tmp_path / "replica.db"
    replica.write_bytes(primary.read_bytes())
    with sqlite3.connect(replica) as conn:
        conn.execute(
            "INSERT INTO runs (job, trigger, status, started_at) "
            "VALUES ('only_on_the_replica', 'cli', 'success', '2026-01-01T00:00:00Z')"
        )
    env = {**archive.env, "HARVESTER_READ_DATABASE_URL": f"sqlite:///{replica}"}
    sql = "SELECT count(*) AS n FROM runs WHERE job = 'only_on_the_replica'"

    async def ask() -> None:
        async with stdio_session(archive, env=env) as client:
            answer = data(await client.call_tool("query", {"sql": sql}))
            assert answer["rows"] == [[1]], answer

    anyio.run(ask)
    assert db_rows(primary, sql) == [(0,)]
