"""`auth_events.at` is ISO-8601 UTC text like every other stored time (migration 0009), and the
password-login budget counts by it: an hour is never shorter, attempts recorded before the
upgrade (epoch seconds) still count after it, on SQLite and PostgreSQL, and the downgrade
gives epoch seconds back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from harvester._config.settings import Settings
from harvester._core.clock import ManualClock, iso_seconds, parse_iso
from harvester._core.errors import PasswordGrantBlocked
from harvester._oauth.store import TokenStore
from harvester._service.runtime import open_runtime
from harvester._store import db
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import PostgresServer

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables yet, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'harvester.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database(migrated=False)


@pytest.fixture
def engine(empty_url: str) -> Iterator[Engine]:
    engine = db.create_db_engine(empty_url)
    yield engine
    engine.dispose()


def migrate(engine: Engine, revision: str, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(db.migrations_path()))
    with db.write(engine) as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def store(engine: Engine) -> TokenStore:
    return TokenStore(engine, "someone", lambda create: None)


def stored_at(engine: Engine) -> list[str | float]:
    with db.read(engine) as conn:
        return [at for (at,) in conn.execute(text("SELECT at FROM auth_events ORDER BY id"))]


def used(engine: Engine, now: float) -> tuple[int, float | None]:
    with db.read(engine) as conn:
        state = store(engine).password_grant_state(conn, now)
    return state.used_last_hour, state.oldest_in_hour


def test_an_attempt_is_stored_as_iso_text_like_every_other_time(engine: Engine) -> None:
    db.upgrade(engine)
    with db.write(engine) as conn:
        store(engine).record_event(conn, "password_grant", "sent", NOW + 0.75)
    assert stored_at(engine) == ["2026-01-01T00:00:00Z"]  # the form of runs.started_at


def test_the_budget_counts_an_hour_never_shorter_by_the_stored_text(engine: Engine) -> None:
    db.upgrade(engine)
    sent = NOW + 86_400 - 0.25  # 2026-01-01T23:59:59.750Z: the hour crosses midnight
    with db.write(engine) as conn:
        store(engine).record_event(conn, "password_grant", "sent", sent)
        store(engine).record_event(conn, "password_grant", "not_sent", sent)  # never left
    assert used(engine, sent + 1800) == (1, parse_iso("2026-01-01T23:59:59Z") + 1)
    assert used(engine, sent + 3599.9)[0] == 1  # within the hour
    assert used(engine, sent + 3600)[0] == 1  # sent at most a second later than stored
    assert used(engine, parse_iso("2026-01-02T01:00:00Z")) == (0, None)  # the hour is over


def test_the_budget_frees_at_the_second_it_names(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    clock.set(NOW + 0.5)
    budget = settings.with_overrides(password_grants_per_hour=1)
    with open_runtime(budget, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login(force=True)
        clock.set(NOW + 3600.5)  # an hour after the login, to the millisecond
        with pytest.raises(PasswordGrantBlocked) as blocked:
            rt.session.login(force=True)
        assert "next is allowed at 2026-01-01T01:00:01Z" in str(blocked.value)
        assert blocked.value.until == NOW + 3601
        clock.set(blocked.value.until)
        rt.session.login(force=True)
    assert sim.state()["password_grants"] == 2


def test_attempts_recorded_before_the_upgrade_still_count_after_it(engine: Engine) -> None:
    migrate(engine, "0008")  # the archive of the previous version: epoch seconds
    with db.write(engine) as conn:
        for at, outcome in ((NOW - 7200.5, "sent"), (NOW - 1800.25, "sent"), (NOW - 60, "sent")):
            conn.execute(
                text(
                    "INSERT INTO auth_events (at, kind, outcome) "
                    "VALUES (:at, 'password_grant', :outcome)"
                ),
                {"at": at, "outcome": outcome},
            )
    before = used_before_upgrade(engine, NOW)
    assert before == 2
    db.upgrade(engine)
    assert stored_at(engine) == [
        iso_seconds(NOW - 7200.5),
        iso_seconds(NOW - 1800.25),
        iso_seconds(NOW - 60),
    ]
    assert all(isinstance(at, str) for at in stored_at(engine))
    assert used(engine, NOW) == (before, parse_iso(iso_seconds(NOW - 1800.25)) + 1)
    with db.write(engine) as conn:
        store(engine).record_event(conn, "password_grant", "sent", NOW)
    assert used(engine, NOW)[0] == 3

    migrate(engine, "0008", down=True)  # and back: epoch seconds, to the second
    assert [float(at) for at in stored_at(engine)] == [
        parse_iso(iso_seconds(NOW - 7200.5)),
        parse_iso(iso_seconds(NOW - 1800.25)),
        NOW - 60,
        NOW,
    ]
    assert used_before_upgrade(engine, NOW + 1) == 3
    db.upgrade(engine)
    assert used(engine, NOW + 1)[0] == 3


def used_before_upgrade(engine: Engine, now: float) -> int:
    """How version 0008's code counted the budget: epoch seconds in the last hour."""
    with db.read(engine) as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM auth_events WHERE kind = 'password_grant' "
                    "AND at > :since AND outcome != 'not_sent'"
                ),
                {"since": now - 3600},
            ).scalar_one()
        )
