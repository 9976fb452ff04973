"""Password logins are counted as iRacing counts them: every login sent, none that never left."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester._core.clock import ManualClock
from harvester._core.errors import AuthError
from harvester._service.runtime import open_runtime
from tests.helpers import db_rows, env_for, make_settings, start_harvester


class SilentTokenEndpoint:
    """A loopback server that reads a request and never answers it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = threading.Event()
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.received.set()
            self.done.wait(30)

    def close(self) -> None:
        self.done.set()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentTokenEndpoint]:
    server = SilentTokenEndpoint()
    yield server
    server.close()


def _sent_logins(database: Path) -> int:
    rows = db_rows(
        database,
        "SELECT count(*) FROM auth_events WHERE kind = 'password_grant' AND outcome != 'not_sent'",
    )
    return int(rows[0][0])


def test_a_login_sent_then_killed_still_counts(tmp_path: Path, silent: SilentTokenEndpoint) -> None:
    base = f"http://127.0.0.1:{silent.port}"
    env = env_for(make_settings(tmp_path, base))
    process = start_harvester("auth", "login", env=env)
    try:
        assert silent.received.wait(30), "the login never reached the token endpoint"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    assert _sent_logins(tmp_path / "harvester.db") == 1


def test_a_login_that_never_left_does_not_count(tmp_path: Path, clock: ManualClock) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the connection is refused
    settings = make_settings(tmp_path, f"http://127.0.0.1:{port}")
    with open_runtime(settings, clock=clock) as runtime:
        with pytest.raises(AuthError, match="could not be reached"):
            runtime.session.login()
        assert runtime.session.status().password_grants_last_hour == 0
    assert _sent_logins(tmp_path / "harvester.db") == 0
