"""The walls around what an assistant may ask, on SQLite and PostgreSQL: no statement changes
the archive, none reads the secret tables however it is spelt, an endless statement is stopped
at its time bound, and a large answer is cut with a note saying how."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from harvester._core.errors import ConfigError
from harvester._mcp.archive import Archive, Bounds
from harvester._store import db
from harvester._store.models import OAuthToken, Run
from harvester._store.query import run_query

SECRET = b"\x00sealed-session-bytes\xff"


def archive_on(url: str, bounds: Bounds | None = None) -> Archive:
    """A migrated database with a stored session and a few runs."""
    engine = db.open_database(url)
    try:
        with db.write(engine) as conn:
            conn.execute(
                insert(OAuthToken).values(
                    id=1, identity="who-am-i-hash", ciphertext=SECRET, updated_at=1.0
                )
            )
            conn.execute(
                insert(Run),
                [
                    {"job": f"job{i}", "trigger": "cli", "status": "success", "started_at": "t"}
                    for i in range(30)
                ],
            )
    finally:
        engine.dispose()
    return Archive(url, bounds)


def refusal(archive: Archive, sql: str) -> str:
    with pytest.raises(ConfigError) as caught:
        archive.rows(sql)
    return str(caught.value)


WRITES = [
    "DELETE FROM runs",
    "UPDATE runs SET status = 'failed'",
    "INSERT INTO runs (job, trigger, status, started_at) VALUES ('x', 'cli', 'success', 't')",
    "DROP TABLE runs",
    "CREATE TABLE notes (x integer)",
    "DELETE FROM oauth_tokens",
]
SECRET_READS = [
    "SELECT * FROM oauth_tokens",
    "SELECT count(*) FROM auth_events",
    'SELECT "ciphertext" FROM "oauth_tokens"',
    "SELECT identity FROM OAuth_Tokens",
    "WITH t AS (SELECT ciphertext FROM oauth_tokens) SELECT * FROM t",
    "SELECT job FROM runs WHERE job IN (SELECT identity FROM oauth_tokens)",
    "SELECT job FROM runs UNION ALL SELECT identity FROM oauth_tokens",
]
POSTGRES_SECRET_READS = {
    "SELECT query_to_xml('SELECT * FROM oauth_tokens', true, false, '')": "run SQL given as text",
    "SELECT \"query_to_xml\"('SELECT 1', true, false, '')": "run SQL given as text",
    "SELECT U&\"query\\005fto_xml\"('SELECT 1', true, false, '')": "run SQL given as text",
    "SELECT table_to_xml('oauth_tokens', true, false, '')": "run SQL given as text",
    "SELECT * FROM ts_stat('SELECT to_tsvector(identity) FROM oauth_tokens')": "SQL given as text",
    'SELECT * FROM U&"oauth\\005ftokens"': "oauth_tokens is not readable",
    "SELECT * FROM pg_stats WHERE tablename = 'oauth_tokens'": "pg_statistic is not readable",
    "SELECT * FROM public.oauth_tokens": "oauth_tokens is not readable",
}
SQLITE_SECRET_READS = {
    "SELECT * FROM main.auth_state": "auth_state is not readable",
    "PRAGMA table_info(oauth_tokens)": "oauth_tokens is not readable",
    "SELECT * FROM pragma_table_info('oauth_tokens')": "read-only",
}
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def test_no_statement_changes_the_archive(backend: str) -> None:
    archive = archive_on(backend)
    before = run_query(backend, "SELECT count(*) FROM runs")
    for sql in WRITES:
        message = refusal(archive, sql)
        assert "read-only" in message or "not readable" in message, (sql, message)
    for sql in ("SELECT 1; DELETE FROM runs", "VACUUM"):
        refusal(archive, sql)
    assert run_query(backend, "SELECT count(*) FROM runs") == before


def test_the_secret_tables_are_unreadable_however_asked(backend: str) -> None:
    archive = archive_on(backend)
    tricks = POSTGRES_SECRET_READS if "postgres" in backend else SQLITE_SECRET_READS
    asked = {**{sql: "is not readable here" for sql in SECRET_READS}, **tricks}
    for sql, expected in asked.items():
        message = refusal(archive, sql)
        assert expected in message, (sql, message)
        assert "who-am-i-hash" not in message and "sealed" not in message
    assert archive.rows("SELECT count(*) FROM runs").rows == [[30]]  # the rest still reads
    # harvester query itself hides nothing: the archive's owner may read every table
    assert run_query(backend, "SELECT identity FROM oauth_tokens")[1] == [("who-am-i-hash",)]


def test_an_endless_statement_is_stopped_at_its_time_bound(backend: str) -> None:
    archive = archive_on(backend, Bounds(timeout=0.3))
    assert "longer than 0.3 s and was stopped" in refusal(archive, ENDLESS)
    assert archive.rows("SELECT 1").rows == [[1]]


def padding(backend: str, text: str, times: int) -> str:
    """SQL for `text` repeated: PostgreSQL's repeat(), SQLite's allow-listed printf."""
    if "postgres" in backend:
        return f"repeat('{text}', {times})"
    return f"printf('%.{times}c', '{text}')"


def test_a_large_answer_is_cut_with_a_note(backend: str) -> None:
    archive_on(backend)
    archive = Archive(backend, Bounds(max_rows=20, max_bytes=2_000, max_chars=50))
    asked = archive.rows("SELECT id FROM runs ORDER BY id", 5)
    assert [row[0] for row in asked.rows] == [1, 2, 3, 4, 5]
    assert asked.as_dict()["note"] == "more rows than the 5 asked for (limit)"
    capped = archive.rows("SELECT id FROM runs ORDER BY id", 1_000)
    assert len(capped.rows) == 20 and "one answer holds" in capped.as_dict()["note"]
    exact = archive.rows("SELECT id FROM runs WHERE id <= 20")
    assert len(exact.rows) == 20 and not exact.truncated
    long = archive.rows(f"SELECT {padding(backend, 'y', 500)} AS v")
    (value,) = long.rows[0]
    assert value == "y" * 50 + "… [450 more characters]"
    assert "longer than 50 characters are cut" in long.as_dict()["note"]
    wide = Archive(backend, Bounds(max_bytes=2_000)).rows(
        f"SELECT job, {padding(backend, 'x', 400)} AS pad FROM runs"
    )
    assert wide.truncated and "passed 2,000 bytes" in wide.as_dict()["note"]
    assert len(wide.rows) == 4  # 4 rows of about 420 bytes, and the fifth would pass


def test_values_come_as_json_can_carry_them(backend: str) -> None:
    archive = archive_on(backend)
    if "postgres" in backend:
        sql = "SELECT avg(id) AS a, sum(id) AS s, true AS t, 'NaN'::numeric AS n FROM runs"
        assert archive.rows(sql).rows == [[15.5, 465, True, "NaN"]]
    else:
        assert archive.rows("SELECT x'00ff' AS b, 1e999 AS inf").rows == [["<2 bytes>", "inf"]]


def test_an_empty_answer_still_names_its_columns(backend: str) -> None:
    archive = archive_on(backend)
    for sql in (
        "SELECT id, job FROM runs WHERE id < 0",
        "-- why\nSELECT id, job FROM runs LIMIT 0;",
    ):
        empty = archive.rows(sql)
        assert empty.columns == ["id", "job"] and empty.rows == [] and not empty.truncated
