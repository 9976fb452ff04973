"""`harvester query` on its own: table-valued JSON functions, the function allow-list, a path
that needs escaping, streamed output and its bounds, SQL starting with a comment."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import pytest

from harvester._core.text import parse_json
from harvester._store.db import open_database
from harvester._store.query import QueryLimits, query, readonly_uri, run_query
from tests.helpers import CliResult


def archive(folder: Path, name: str = "h.db") -> Path:
    path = folder / name
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE results (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("""INSERT INTO results (body) VALUES ('[{"a": 1}, {"a": 2}]')""")
        conn.commit()
    return path


def url(path: Path) -> str:
    """A SQLAlchemy URL for the file (escaped: a raw `?` would begin the URL's query)."""
    return f"sqlite:///{quote(str(path), safe='/')}"


def test_json_each_and_json_tree_flatten_documents(tmp_path: Path) -> None:
    database = url(archive(tmp_path))
    sql = "SELECT json_extract(j.value, '$.a') FROM results, json_each(results.body) AS j"
    assert run_query(database, sql)[1] == [(1,), (2,)]
    tree = "SELECT fullkey FROM results, json_tree(results.body) WHERE atom IS NOT NULL"
    assert run_query(database, tree)[1] == [("$[0].a",), ("$[1].a",)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT load_extension('x')",
        "SELECT fts3_tokenizer('simple')",  # reveals (and, with 2 args, registers) a pointer
        "SELECT fts5(NULL)",
        "SELECT rtreenode(2, x'00')",
        "SELECT sqlite_log(1, 'x')",
        "SELECT count(*) FROM pragma_function_list",  # a table-valued pragma is not on the list
    ],
)
def test_functions_outside_the_allow_list_are_refused(tmp_path: Path, sql: str) -> None:
    with pytest.raises(Exception, match="read-only"):
        run_query(url(archive(tmp_path)), sql)


def test_pure_functions_work(tmp_path: Path) -> None:
    sql = "SELECT upper('a'), round(2.5), datetime(0, 'unixepoch'), json_object('k', 1), "
    sql += "printf('%d', 3)"
    assert run_query(url(archive(tmp_path)), sql)[1] == [
        ("A", 3.0, "1970-01-01 00:00:00", '{"k":1}', "3")
    ]


@pytest.mark.parametrize("name", ["a#b.db", "a?mode=rwc.db", "100%.db", "sp ace.db"])
def test_a_path_needing_escapes_opens_that_file_read_only(tmp_path: Path, name: str) -> None:
    path = archive(tmp_path, name)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert run_query(url(path), "SELECT count(*) FROM results")[1] == [(1,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no other file created
    assert "#" not in readonly_uri(path).split("?")[0]
    with pytest.raises(Exception, match="read-only"):
        run_query(url(path), "DELETE FROM results")


def test_one_value_is_bounded(tmp_path: Path) -> None:
    limits = QueryLimits(max_value_bytes=10_000)
    with (
        pytest.raises(Exception, match="larger than 10,000 bytes"),
        query(url(archive(tmp_path)), "SELECT zeroblob(5000000000)", limits) as answer,
    ):
        list(answer.rows)


def test_rows_are_streamed_not_collected(tmp_path: Path) -> None:
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
    with query(url(archive(tmp_path)), endless) as answer:
        first = [next(answer.rows) for _ in range(3)]
    assert first == [(1,), (2,), (3,)]


def test_the_whole_answer_is_bounded_and_streamed(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
    env = {"HARVESTER_DATABASE_URL": url(archive(tmp_path))}
    result: CliResult = run_cli(
        "query", endless, "--format", "ndjson", "--max-bytes", "1000", env=env
    )
    assert result.code == 2
    assert result.err.strip().endswith(
        "was stopped (--max-bytes raises the bound; LIMIT or --limit narrows the answer)"
    )
    lines = result.out.splitlines()
    assert 50 < len(lines) <= 1000 // len('{"x": 1}\n') + 1  # what fitted was written first
    assert json.loads(lines[0]) == {"x": 1}


def test_sql_starting_with_a_comment_is_the_sql(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    env = {"HARVESTER_DATABASE_URL": url(archive(tmp_path))}
    result: CliResult = run_cli(
        "query", "-- how many\nSELECT count(*) AS n FROM results", "--format", "json", env=env
    )
    assert result.code == 0, result.err
    assert json.loads(result.out) == [{"n": 1}]


@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson", "table"])
def test_an_empty_answer_in_every_format(
    tmp_path: Path, run_cli: Callable[..., CliResult], fmt: str
) -> None:
    env = {"HARVESTER_DATABASE_URL": url(archive(tmp_path))}
    result: CliResult = run_cli("query", "SELECT id FROM results WHERE 0", "--format", fmt, env=env)
    assert result.code == 0, result.err
    assert result.out == {"json": "[]\n", "csv": "id\n", "ndjson": "", "table": "id\n--\n"}[fmt]


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_numbers_json_cannot_hold_come_out_as_valid_json(
    backend: str, run_cli: Callable[..., CliResult], fmt: str
) -> None:
    """`1e999` in a stored document is a number SQLite reads as infinity: `--format json`
    printed `Infinity`, which no JSON reader takes. Out of range, they are written as
    PostgreSQL's to_json writes them: the strings "Infinity", "-Infinity", "NaN"."""
    if backend.startswith("sqlite"):
        sql = (
            "SELECT json_extract('[1e999]', '$[0]') AS big, "
            "json_extract('[-1e999]', '$[0]') AS small, 1.5 AS plain"
        )
        expected = {"big": "Infinity", "small": "-Infinity", "plain": 1.5}
    else:
        sql = (
            "SELECT 'Infinity'::float8 AS big, '-Infinity'::float8 AS small, "
            "'NaN'::float8 AS nan, 1.5::float8 AS plain"
        )
        expected = {"big": "Infinity", "small": "-Infinity", "nan": "NaN", "plain": 1.5}
    open_database(backend).dispose()  # an archive, migrated
    result = run_cli("query", sql, "--format", fmt, env={"HARVESTER_DATABASE_URL": backend})
    assert result.code == 0, result.err
    rows = parse_json(result.out) if fmt == "json" else [parse_json(result.out)]
    assert rows == [expected]
