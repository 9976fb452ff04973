"""A pooled PostgreSQL connection is pinged on checkout only when it may be dead: idle for a
while, or its socket already says something (the server ended the session, `sever` shut it
down). A dead one is replaced before the transaction that checks it out begins."""

from __future__ import annotations

import io
import json
import select
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from harvester._core.logs import configure_logging
from harvester._store import db, liveness, pg
from harvester._store.db import open_database
from tests.helpers import TcpProxy


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = open_database(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[TcpProxy, Engine]]:
    """An engine whose connections go through a TCP proxy the test can make vanish."""
    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    engine = open_database(proxy.url_for(postgres_url))
    yield proxy, engine
    engine.dispose()
    proxy.close()


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


def end_session(dbapi_connection: Any, postgres_url: str) -> None:
    """The server ends this connection's session; back once its goodbye is on the socket."""
    other = open_database(postgres_url)
    try:
        with other.connect() as admin:
            pid = admin.execute(text("SELECT pg_backend_pid()")).scalar_one()
            assert pid != dbapi_connection.info.backend_pid
            admin.execute(
                text("SELECT pg_terminate_backend(:pid)"),
                {"pid": dbapi_connection.info.backend_pid},
            )
    finally:
        other.dispose()
    poller = select.poll()
    poller.register(dbapi_connection.pgconn.socket, select.POLLIN)
    assert poller.poll(10_000), "the server did not end the session"


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
    end_session(dbapi_connection, postgres_url)
    assert not liveness.socket_quiet(dbapi_connection)
    assert backend_pid(engine) != ended
    assert len(pings) == 1


def test_a_failed_ping_has_the_connections_returned_before_it_pinged_too(
    engine: Engine, pings: list[int], postgres_url: str
) -> None:
    """A connection found dead on checkout says the server may have restarted: the others the
    pool held, though used a moment ago with quiet sockets, are asked before use."""
    first, second = engine.connect(), engine.connect()
    dead: Any = first.connection.dbapi_connection
    alive: Any = second.connection.dbapi_connection
    first.close()
    second.close()
    end_session(dead, postgres_url)
    assert liveness.socket_quiet(alive)
    with engine.connect() as one, engine.connect() as two:
        drawn = {one.connection.dbapi_connection, two.connection.dbapi_connection}
    assert alive in drawn and dead not in drawn
    assert len(pings) == 2  # the dead one's, then the quiet one's: asked, it was fine


def test_a_severed_engine_gets_fresh_connections(engine: Engine, pings: list[int]) -> None:
    before = backend_pid(engine)
    assert pg.sever(engine) == 1
    assert backend_pid(engine) != before
    assert len(pings) == 1


def test_a_server_gone_without_a_word_costs_no_write(proxied: tuple[TcpProxy, Engine]) -> None:
    """The server behind pooled connections used a moment ago vanished (its address moved to
    a promoted replica, say): the first write finds its connection dead at the write lock,
    before anything ran, and begins again on a fresh one; the others are pinged first."""
    proxy, engine = proxied
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


def test_a_write_begun_again_says_so(proxied: tuple[TcpProxy, Engine]) -> None:
    proxy, engine = proxied
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        backend_pid(engine)
        proxy.vanish()
        with db.write(engine) as conn:
            conn.execute(text("SELECT 1"))
    finally:
        configure_logging("INFO", "json")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    begun_again = [line for line in lines if line["event"] == "db.write_begun_again"]
    assert len(begun_again) == 1
    assert begun_again[0]["level"] == "warning" and begun_again[0]["error"]


def test_a_connection_lost_after_the_write_lock_fails_the_write_once(postgres_url: str) -> None:
    """Past the write lock nothing is begun again: what the transaction wrote is rolled back
    with it and the error reaches the caller, so no write can happen twice."""
    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    direct = open_database(postgres_url)
    engine = open_database(proxy.url_for(postgres_url))
    bodies: list[int] = []

    def write_across_the_loss() -> None:
        with db.write(engine) as conn:
            bodies.append(1)
            conn.execute(text("INSERT INTO written VALUES (1)"))
            proxy.vanish()  # the next statement goes straight to the driver (as a result's)
            db.Prepared(engine, text("INSERT INTO written VALUES (2)")).execute(conn, {})

    try:
        with direct.begin() as conn:
            conn.execute(text("CREATE TABLE written (n integer)"))
        with pytest.raises(DBAPIError) as failed:
            write_across_the_loss()
        assert failed.value.connection_invalidated
        assert len(bodies) == 1
        with db.write(engine) as conn:  # the next write goes to work on a fresh connection
            conn.execute(text("INSERT INTO written VALUES (3)"))
        with direct.connect() as conn:
            assert conn.execute(text("SELECT n FROM written")).scalars().all() == [3]
    finally:  # the proxy first: the server ends the lost session, which held a lock on it
        engine.dispose()
        proxy.close()
        with direct.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS written"))
        direct.dispose()
