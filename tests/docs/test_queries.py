"""Every SQL query the pages show (`harvester query "..."` in README.md and docs/*.md, the
walkthrough's too) runs on both backends: on the SQLite archive harvested from the simulator,
and on a PostgreSQL copy of it (`harvester db copy`). A query written for one backend only is
in ONE_BACKEND with the backend and why, and must fail on the other (so a stale entry is
noticed); the page names the backend beside it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from harvester._store.query import run_query
from tests.docs.pages import page_commands, page_names, resolved
from tests.docs.test_readme_examples import HARVESTER, Archive, archive  # noqa: F401 (fixture)
from tests.helpers import PostgresServer

# a query in the dialect of one backend: pattern -> (backend, why)
ONE_BACKEND: dict[str, tuple[str, str]] = {
    r"json_extract\(": ("sqlite", "SQLite's JSON function; docs/postgres.md shows the form"),
    r"strftime\(": ("sqlite", "SQLite's date function; docs/postgres.md shows the form"),
    r"::json": ("postgresql", "PostgreSQL's cast to json: the form of docs/postgres.md"),
    r"to_char\(": ("postgresql", "PostgreSQL's date formatting: the form of docs/postgres.md"),
}


def documented_queries() -> list[tuple[str, int, str]]:
    """(page, line, SQL) of every `harvester query` the pages show, each SQL once."""
    found: dict[str, tuple[str, int, str]] = {}
    for page in page_names():
        for command in page_commands(page):
            if not (command.is_harvester and command.args[:1] == ["query"]):
                continue
            _, params = resolved(command.args)
            sql = str(params["sql"]).replace("\\$", "$")  # sh reads \$ in "..." as $
            found.setdefault(sql, (page, command.line, sql))
    return list(found.values())


QUERIES = documented_queries()


def backend_of(sql: str) -> str | None:
    for pattern, (backend, _) in ONE_BACKEND.items():
        if re.search(pattern, sql):
            return backend
    return None


def test_the_pages_show_queries_for_both_backends() -> None:
    assert len(QUERIES) >= 10
    assert any(backend_of(sql) is None for _, _, sql in QUERIES)
    assert {backend_of(sql) for _, _, sql in QUERIES} >= {"sqlite", "postgresql"}


@pytest.fixture(scope="module")
def postgres_copy(archive: Archive, postgres_server: PostgresServer) -> Iterator[str]:  # noqa: F811
    """The harvested archive copied into a PostgreSQL database."""
    url = postgres_server.new_database(migrated=False)
    done = subprocess.run(
        [str(HARVESTER), "db", "copy", "--to", url],
        cwd=archive.folder,
        env=archive.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield url
    postgres_server.release(url)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize(("page", "line", "sql"), QUERIES, ids=[f"{p}:{n}" for p, n, _ in QUERIES])
def test_every_documented_query_runs_on_both_backends(
    page: str,
    line: int,
    sql: str,
    backend: str,
    archive: Archive,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{archive.folder / 'harvester.db'}"
    else:
        url = request.getfixturevalue("postgres_copy")
    written_for = backend_of(sql)
    if written_for is not None and written_for != backend:
        with pytest.raises(Exception):  # noqa: B017, PT011 (any refusal: it is another dialect)
            run_query(url, sql)
        return
    try:
        run_query(url, sql)
    except Exception as exc:
        raise AssertionError(f"{page}:{line}: fails on {backend}: {exc}\n{sql}") from None
