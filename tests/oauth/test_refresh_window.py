"""The refresh window, as small as it can be: the token request waits under the grant lock, not
the database's write lock (writers go on meanwhile), and the rotated tokens are committed in a
transaction of their own the moment the answer arrives (retried when the connection is lost).
What a loss inside the window costs: one password login."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from harvester._core.clock import ManualClock
from harvester._oauth.store import TokenStore
from harvester._service.runtime import Runtime, open_runtime
from harvester._store import db
from harvester.simulator import Simulator, SimulatorTransport
from tests.helpers import HeldRequest, make_settings


def runtime_on(url: str, folder: Path, sim: Simulator, clock: ManualClock) -> Runtime:
    settings = make_settings(folder, sim.base_url, database_url=url)
    return open_runtime(settings, transport=SimulatorTransport(sim), clock=clock)


def test_writers_go_on_while_a_refresh_waits_for_the_token_endpoint(
    backend: str,
    tmp_path: Path,
    sim: Simulator,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = HeldRequest(sim.oauth.handle, path="/oauth2/token")
    with runtime_on(backend, tmp_path, sim, clock) as rt:
        rt.session.login()
        clock.advance(595)  # inside the refresh buffer
        monkeypatch.setattr(sim.oauth, "handle", held)
        held.arm()
        refresher = threading.Thread(target=rt.session.access_token)
        refresher.start()
        other = db.create_db_engine(backend)
        wrote = threading.Event()

        def writer() -> None:
            with db.write(other) as conn:
                conn.execute(text("INSERT INTO auth_state (id) VALUES (9)"))
            wrote.set()

        try:
            assert held.reached.wait(30)  # the refresh is at the token endpoint
            threading.Thread(target=writer, daemon=True).start()
            assert wrote.wait(30)  # before the token endpoint answered
        finally:
            held.release.set()
            refresher.join(30)
            other.dispose()
    assert sim.state()["refreshes"] == 1


def test_rotated_tokens_are_committed_while_another_writer_holds_the_write_lock(
    postgres_url: str, tmp_path: Path, sim: Simulator, clock: ManualClock
) -> None:
    with runtime_on(postgres_url, tmp_path, sim, clock) as rt:
        old = rt.session.login()
        clock.advance(595)
        other = db.create_db_engine(postgres_url)
        try:
            with db.write(other) as conn:  # a long store, say: the write lock is taken
                conn.execute(text("INSERT INTO auth_state (id) VALUES (9)"))
                new = rt.session.access_token()
                stored = rt.store.load()  # read on a connection of its own: committed
                assert stored is not None and stored.access_token == new != old.access_token
                assert stored.refresh_token != old.refresh_token
        finally:
            other.dispose()
    assert sim.state()["refresh_reuses"] == 0


def test_a_save_whose_connection_is_lost_is_tried_again_on_a_fresh_one(
    runtime: Runtime,
    sim: Simulator,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    log_stream: io.StringIO,
) -> None:
    runtime.session.login()
    clock.advance(595)
    real_save = TokenStore.save
    failures = [1]

    def lost_once(self: TokenStore, connection: Any, tokens: Any, now: float) -> None:
        if failures:
            failures.pop()
            raise OperationalError("UPDATE oauth_tokens", {}, Exception("connection lost"))
        real_save(self, connection, tokens, now)

    monkeypatch.setattr(TokenStore, "save", lost_once)
    token = runtime.session.access_token()
    stored = runtime.store.load()
    assert stored is not None and stored.access_token == token
    assert "oauth.save_retried" in log_stream.getvalue()
    assert sim.state()["refreshes"] == 1 and sim.state()["refresh_reuses"] == 0


def test_rotated_tokens_lost_inside_the_window_cost_one_password_login(
    runtime: Runtime, sim: Simulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a process killed between the token endpoint's answer and the commit: the refresh
    token it spent is gone with it, and the next grant is one password login."""
    runtime.session.login()
    clock.advance(595)
    real_save = TokenStore.save

    def never(self: TokenStore, connection: Any, tokens: Any, now: float) -> None:
        raise OperationalError("UPDATE oauth_tokens", {}, Exception("connection lost"))

    monkeypatch.setattr(TokenStore, "save", never)
    with pytest.raises(OperationalError):
        runtime.session.access_token()
    monkeypatch.setattr(TokenStore, "save", real_save)
    runtime.session._cached = None  # a new process: only what the database holds
    assert runtime.session.access_token()
    state = sim.state()
    assert state["refresh_reuses"] == 1  # the spent token, tried once, refused
    assert state["password_grants"] == 2  # the first login, and the one it cost
