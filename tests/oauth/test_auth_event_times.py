"""`auth_events.at` is ISO-8601 UTC text like every other stored time (migration 0009), and the
password-login budget counts by it: an hour is never shorter, attempts recorded before the
upgrade (epoch seconds) still count after it, on SQLite and PostgreSQL, and the downgrade
gives epoch seconds back."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from harvester._config.settings import Settings
from harvester._core.clock import ManualClock, iso_seconds, parse_iso
from harvester._core.errors import PasswordGrantBlocked
from harvester._oauth.store import TokenStore
from harvester._service.runtime import open_runtime
from harvester._store import db
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import migrate_to

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def store(empty_engine: Engine) -> TokenStore:
    return TokenStore(empty_engine, "someone", lambda create: None)


def stored_at(empty_engine: Engine) -> list[str | float]:
    with db.read(empty_engine) as conn:
        return [at for (at,) in conn.execute(text("SELECT at FROM auth_events ORDER BY id"))]


def used(empty_engine: Engine, now: float) -> tuple[int, float | None]:
    with db.read(empty_engine) as conn:
        state = store(empty_engine).password_grant_state(conn, now)
    return state.used_last_hour, state.oldest_in_hour


def test_an_attempt_is_stored_as_iso_text_like_every_other_time(empty_engine: Engine) -> None:
    db.upgrade(empty_engine)
    with db.write(empty_engine) as conn:
        store(empty_engine).record_event(conn, "password_grant", "sent", NOW + 0.75)
    assert stored_at(empty_engine) == ["2026-01-01T00:00:00Z"]  # the form of runs.started_at


def test_the_budget_counts_an_hour_never_shorter_by_the_stored_text(empty_engine: Engine) -> None:
    db.upgrade(empty_engine)
    sent = NOW + 86_400 - 0.25  # 2026-01-01T23:59:59.750Z: the hour crosses midnight
    with db.write(empty_engine) as conn:
        store(empty_engine).record_event(conn, "password_grant", "sent", sent)
        store(empty_engine).record_event(conn, "password_grant", "not_sent", sent)  # never left
    assert used(empty_engine, sent + 1800) == (1, parse_iso("2026-01-01T23:59:59Z") + 1)
    assert used(empty_engine, sent + 3599.9)[0] == 1  # within the hour
    assert used(empty_engine, sent + 3600)[0] == 1  # sent at most a second later than stored
    assert used(empty_engine, parse_iso("2026-01-02T01:00:00Z")) == (0, None)  # the hour is over


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


def test_attempts_recorded_before_the_upgrade_still_count_after_it(empty_engine: Engine) -> None:
    migrate_to(empty_engine, "0008")  # the archive of the previous version: epoch seconds
    with db.write(empty_engine) as conn:
        for at, outcome in ((NOW - 7200.5, "sent"), (NOW - 1800.25, "sent"), (NOW - 60, "sent")):
            conn.execute(
                text(
                    "INSERT INTO auth_events (at, kind, outcome) "
                    "VALUES (:at, 'password_grant', :outcome)"
                ),
                {"at": at, "outcome": outcome},
            )
    before = used_before_upgrade(empty_engine, NOW)
    assert before == 2
    db.upgrade(empty_engine)
    assert stored_at(empty_engine) == [
        iso_seconds(NOW - 7200.5),
        iso_seconds(NOW - 1800.25),
        iso_seconds(NOW - 60),
    ]
    assert all(isinstance(at, str) for at in stored_at(empty_engine))
    assert used(empty_engine, NOW) == (before, parse_iso(iso_seconds(NOW - 1800.25)) + 1)
    with db.write(empty_engine) as conn:
        store(empty_engine).record_event(conn, "password_grant", "sent", NOW)
    assert used(empty_engine, NOW)[0] == 3

    migrate_to(empty_engine, "0008", down=True)  # and back: epoch seconds, to the second
    assert [float(at) for at in stored_at(empty_engine)] == [
        parse_iso(iso_seconds(NOW - 7200.5)),
        parse_iso(iso_seconds(NOW - 1800.25)),
        NOW - 60,
        NOW,
    ]
    assert used_before_upgrade(empty_engine, NOW + 1) == 3
    db.upgrade(empty_engine)
    assert used(empty_engine, NOW + 1)[0] == 3


def used_before_upgrade(empty_engine: Engine, now: float) -> int:
    """How version 0008's code counted the budget: epoch seconds in the last hour."""
    with db.read(empty_engine) as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM auth_events WHERE kind = 'password_grant' "
                    "AND at > :since AND outcome != 'not_sent'"
                ),
                {"since": now - 3600},
            ).scalar_one()
        )
