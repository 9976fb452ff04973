"""The PostgreSQL server the scenarios that need one use (HARVESTER_BENCH_POSTGRES): a check
that it answers, and scratch databases made for a scenario and dropped after it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .common import BenchError

ADMIN_URL = os.environ.get(
    "HARVESTER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def require_server() -> None:
    """A scenario without a server reports that it could not run, with the reason."""
    try:
        import psycopg

        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except Exception as exc:
        raise BenchError(f"no PostgreSQL server at {ADMIN_URL}: {exc}") from None


@contextmanager
def scratch_database(name: str, migrate: bool = False) -> Iterator[str]:
    """A new database `name` (an old one of that name dropped first), its URL, dropped after;
    `migrate`: with harvester's schema."""
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            from harvester._store.db import open_database

            open_database(url).dispose()
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    """`sql`'s rows on a connection of its own (autocommit, a 5 s connect timeout)."""
    import psycopg

    from harvester._store.pg import libpq_url

    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        return [tuple(row) for row in conn.execute(sql).fetchall()]
