"""The lease of the active service (PostgreSQL), the limits on every connection, severing an
engine's connections, and the two transactions that take no write lock: a grant's (under the
grant lock, on both backends) and a row of one's own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from harvester._core.errors import AuthError, LostActiveLock
from harvester._store import db, pg
from harvester._store.lease import LeaseLock, LeaseTiming, lease_state
from tests.helpers import db_rows, wait_for


class Monotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engines(postgres_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database: two services' worth."""
    first, second = db.open_database(postgres_url), db.create_db_engine(postgres_url)
    yield first, second
    first.dispose()
    second.dispose()


def test_the_holder_counts_its_lease_lapsed_before_the_server_can() -> None:
    timing = LeaseTiming(10.0)
    assert timing.renew_every == 2.5  # four renewals per lease: three may fail in a row
    assert timing.held_until(100.0) == 109.0  # a second sooner than the server's expiry
    assert timing.held_until(100.0) < 100.0 + timing.ttl
    assert LeaseTiming(2.0).margin == 0.5  # never less than half a second
    assert timing.statement_timeout == 3.0  # one lease statement, bounded by the client


def test_every_connection_carries_server_limits_and_client_keepalives(
    engines: tuple[Engine, Engine],
) -> None:
    engine = engines[0]
    lease = LeaseLock(engine, ttl=60)
    try:
        assert lease.try_acquire()
        with engine.connect() as conn:
            shown = {
                name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                for name in ("statement_timeout", "lock_timeout", "tcp_keepalives_idle")
            }
            shown["idle"] = conn.exec_driver_sql(
                "SHOW idle_in_transaction_session_timeout"
            ).scalar()
            name = conn.exec_driver_sql("SHOW application_name").scalar()
            raw = conn.connection.driver_connection
            assert raw is not None
            client = {o.keyword.decode(): (o.val or b"").decode() for o in raw.pgconn.info}
        assert shown == {
            "statement_timeout": "10min",
            "lock_timeout": "1min",
            "tcp_keepalives_idle": "5",
            "idle": "5min",
        }
        assert name == f"harvester {lease.name}"
        assert client["keepalives"] == "1" and client["keepalives_idle"] == "5"
        assert client["tcp_user_timeout"] == "10000" and client["connect_timeout"] == "5"
        own = lease._connection
        assert own.execute("SHOW statement_timeout").fetchone() == ("5s",)
        assert own.execute("SHOW application_name").fetchone() == (f"harvester lease {lease.name}",)
    finally:
        lease.release()


def test_past_its_own_deadline_the_holder_writes_nothing_though_the_server_still_agrees(
    engines: tuple[Engine, Engine],
) -> None:
    """A renewal that hangs (a frozen proxy) is the case: the server has not seen the lease
    lapse, but the holder's clock says it may have; it stops first."""
    engine = engines[0]
    clock = Monotonic()
    lease = LeaseLock(engine, ttl=60, monotonic=clock)
    try:
        assert lease.try_acquire()
        with db.write(engine) as conn:
            conn.execute(text("INSERT INTO auth_state (id) VALUES (3)"))
        clock.now += 55  # past ttl - margin since the renewal it sent
        assert not lease.still_held() and lease.lapsed()
        assert lease_state(engine).held  # the server still counts it held
        with pytest.raises(LostActiveLock), db.write(engine) as conn:
            conn.execute(text("UPDATE auth_state SET block_reason = 'x' WHERE id = 3"))
    finally:
        lease.release()


def test_a_lapsed_lease_is_taken_and_the_frozen_holder_s_write_lock_ends_with_its_sessions(
    engines: tuple[Engine, Engine], postgres_url: str
) -> None:
    """The holder stops renewing (frozen) inside a write transaction: the other takes the
    lease once it lapses on the server's clock, ends the holder's sessions, and can write."""
    first, second = engines
    frozen = LeaseLock(first, ttl=2)
    taker = LeaseLock(second, ttl=60)
    holding = threading.Event()
    outcome: list[BaseException] = []

    def frozen_writer() -> None:
        try:
            with db.write(first) as conn:
                conn.execute(text("INSERT INTO auth_state (id) VALUES (4)"))
                holding.set()
                wait_for(lambda: bool(taker.replaced), timeout=60)  # frozen until replaced
        except DBAPIError as exc:
            outcome.append(exc)

    try:
        assert frozen.try_acquire()
        frozen._stop.set()  # as a frozen process: no renewal, no watchdog
        writer = threading.Thread(target=frozen_writer)
        writer.start()
        assert holding.wait(30)
        assert not taker.try_acquire()  # not before it lapses
        wait_for(taker.try_acquire, timeout=30)
        assert taker.replaced  # the frozen holder's sessions, its writer's among them
        writer.join(30)
        assert len(outcome) == 1  # its transaction ended with its session: never committed
        with db.write(second) as conn:  # and the write lock with it
            conn.execute(text("INSERT INTO auth_state (id) VALUES (5)"))
        assert db_rows(postgres_url, "SELECT id FROM auth_state ORDER BY id") == [(5,)]
        state = lease_state(second)
        assert state.held and state.term == 2
    finally:
        taker.release()
        frozen.release()


def test_severing_an_engine_frees_a_thread_waiting_on_the_server(
    engines: tuple[Engine, Engine],
) -> None:
    engine = engines[0]
    failed: list[BaseException] = []
    waiting = threading.Event()

    def sleeper() -> None:
        try:
            with engine.connect() as conn:
                waiting.set()
                conn.exec_driver_sql("SELECT pg_sleep(600)")
        except DBAPIError as exc:
            failed.append(exc)

    thread = threading.Thread(target=sleeper)
    thread.start()
    assert waiting.wait(30)
    assert pg.sever(engine) == 1
    thread.join(30)
    assert len(failed) == 1
    with engine.connect() as conn:  # the pool opens new ones
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


def test_a_row_of_one_s_own_is_written_while_another_holds_the_write_lock(
    engines: tuple[Engine, Engine], postgres_url: str
) -> None:
    """A standby's heartbeat never waits for the write lock (a frozen active one may hold it)."""
    first, second = engines
    with db.write(first) as conn:
        conn.execute(text("INSERT INTO auth_state (id) VALUES (6)"))
        with db.write_own(second) as other:
            other.execute(text("INSERT INTO auth_state (id) VALUES (7)"))
        assert db_rows(postgres_url, "SELECT id FROM auth_state") == [(7,)]


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_one_grant_at_a_time_without_the_write_lock(
    backend_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend_name == "sqlite":
        url = f"sqlite:///{tmp_path / 'harvester.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    first, second = db.open_database(url), db.create_db_engine(url)
    try:
        with db.grant_lock(first, timeout=30):
            with pytest.raises(AuthError, match="grant lock"), db.grant_lock(second, timeout=0.2):
                pass
            with db.write(second) as conn:  # writers go on meanwhile
                conn.execute(text("INSERT INTO auth_state (id) VALUES (8)"))
        with db.grant_lock(second, timeout=1):  # free again
            pass
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.migrations
@pytest.mark.slow
def test_the_lease_migration_goes_up_and_down(backend: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = db.open_database(backend)
    config = Config()
    config.set_main_option("script_location", str(db.migrations_path()))

    def lease_rows() -> list[tuple[object, ...]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql("SELECT id, term FROM service_lease")]

    try:
        assert lease_rows() == [(1, 0)]
        with db.write(engine) as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0009")
        with pytest.raises(DBAPIError):
            lease_rows()
        assert db.upgrade(engine)
        assert lease_rows() == [(1, 0)]
    finally:
        engine.dispose()
