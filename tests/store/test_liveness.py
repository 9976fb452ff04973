"""A pooled PostgreSQL connection is pinged on checkout only when it may be dead: idle for a
while, or its socket already says something (the server ended the session, `sever` shut it
down). A dead one is replaced before the transaction that checks it out begins."""

from __future__ import annotations

import select
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from harvester._store import db, liveness, pg
from harvester._store.db import open_database
from tests.helpers import TcpProxy


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = open_database(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per ping the pool sends."""
    sent: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        sent.append(1)
        return bool(real(dbapi_connection))

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return sent


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_used_a_moment_ago_goes_to_work_without_a_ping(
    engine: Engine, pings: list[int]
) -> None:
    first = backend_pid(engine)
    assert [backend_pid(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_a_connection_idle_past_the_window_is_pinged(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend_pid(engine)
    monkeypatch.setattr(liveness, "PING_AFTER", 0.0)  # every connection has idled long enough
    backend_pid(engine)
    backend_pid(engine)
    assert len(pings) == 2


def test_a_session_the_server_ended_is_replaced_before_use(
    engine: Engine, pings: list[int], postgres_url: str
) -> None:
    """Ended by the server a moment after its last use (a restart, an administrator): its
    socket holds the server's goodbye, so it is pinged, found dead and replaced; the
    transaction that checked it out never sees it."""
    with engine.connect() as conn:
        dbapi_connection: Any = conn.connection.dbapi_connection
        ended = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    other = open_database(postgres_url)
    try:
        with other.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": ended})
    finally:
        other.dispose()
    poller = select.poll()
    poller.register(dbapi_connection.pgconn.socket, select.POLLIN)
    assert poller.poll(10_000), "the server did not end the session"
    assert not liveness.socket_quiet(dbapi_connection)
    assert backend_pid(engine) != ended
    assert len(pings) == 1


def test_a_severed_engine_gets_fresh_connections(engine: Engine, pings: list[int]) -> None:
    before = backend_pid(engine)
    assert pg.sever(engine) == 1
    assert backend_pid(engine) != before
    assert len(pings) == 1


def test_a_server_gone_without_a_word_costs_no_write(postgres_url: str) -> None:
    """The server behind pooled connections used a moment ago vanished (its address moved to
    a promoted replica, say): the first write finds its connection dead at the write lock,
    before anything ran, and begins again on a fresh one; the others are pinged first."""
    host, port = make_url(postgres_url).host, make_url(postgres_url).port
    proxy = TcpProxy((host or "127.0.0.1", port or 5432))
    engine = open_database(proxy.url_for(postgres_url))
    try:
        held = [engine.connect() for _ in range(3)]
        before = {int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in held}
        for conn in held:
            conn.close()
        proxy.vanish()
        after = set()
        for _ in range(5):
            with db.write(engine) as conn:
                after.add(int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()))
        assert not after & before
    finally:
        engine.dispose()
        proxy.close()
